"""The fraud scan against DynamoDB Local: seeded activity hits exactly the five rules it should,
a repeated run records and opens nothing new, two overlapping runs produce one case per hit and
one consistent watermark, and no run ever issues a Scan."""

from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from mall.clock import iso
from mall.dal.commissions import commission_item
from mall.dal.fraud import FraudRepository
from mall.dal.risk_feed import feed_write
from mall.dal.table import Item, Table
from mall.domain.commission_records import CommissionRecord, CommissionStatus
from mall.domain.risk_rules import RULE_NAMES
from mall.domain.settings import DistributionSettings
from mall.services import fraud
from mall.services.fraud import ScanReport
from mall.services.risk import RiskRepositories, open_case

pytestmark = pytest.mark.integration

NOW = datetime(2026, 3, 10, 6, 0, tzinfo=UTC)  # 14:00 in China
EXPECTED = {("shared_device", "u_pa"), ("self_dealing", "u_pb"), ("refund_ratio", "u_pc"),
            ("commission_spike", "u_pd"), ("withdrawal_burst", "u_pe")}


def settings(mode: str) -> DistributionSettings:
    return DistributionSettings.model_validate({"risk": {name: {"mode": mode} for name in RULE_NAMES}})


def scan(table: Table, **options: Any) -> ScanReport:
    return fraud.scan(repo=FraudRepository(table), cases=RiskRepositories.on(table), **options)


def open_cases(table: Table, promoter_id: str) -> list[Any]:
    from mall.dal.risk import RiskCaseRepository

    return list(RiskCaseRepository(table).open_cases_of(promoter_id))


# ---- seeding: what the business writes leave in the table -------------------------------------------------


def _put(table: Table, item: Item) -> None:
    table.put(item)


def _binding(table: Table, uid: str, parent: str, at: datetime, *, device: str | None = None,
             feed: bool = True) -> None:
    _put(table, {"pk": f"USER#{uid}", "sk": "BINDING", "entity": "binding", "user_id": uid, "parent_id": parent,
                 "bound_at": iso(at), "source": "invite_code", "trigger": "invite_code", "version": 1,
                 "device_id": device, "source_ip": "10.0.0.1", "gsi1pk": f"TEAM#{parent}",
                 "gsi1sk": f"{iso(at)}#{uid}"})
    if feed:
        table.transact([feed_write(table.name, kind="bind", ref=uid, at=at, attrs={"user_id": uid,
                                                                                    "parent_id": parent})])


def _order(table: Table, order_id: str, buyer: str, l1: str | None, *, placed: datetime, device: str | None = None,
           feed: bool = True) -> None:
    _put(table, {"pk": f"ORDER#{order_id}", "sk": "ORDER", "entity": "order", "order_id": order_id,
                 "buyer_id": buyer, "status": "PAID", "amount_fen": 10_000, "created_at": iso(placed),
                 "paid_at": iso(placed + timedelta(minutes=5)), "device_id": device,
                 "attribution": {"l1_promoter_id": l1, "l2_promoter_id": None, "basis": "binding"},
                 "gsi1pk": f"BUYER#{buyer}", "gsi1sk": f"{iso(placed)}#{order_id}"})
    if feed:
        table.transact([feed_write(table.name, kind="order", ref=order_id, at=placed,
                                   attrs={"order_id": order_id, "buyer_id": buyer, "l1_promoter_id": l1})])


def _commission(table: Table, promoter: str, order_id: str, at: datetime, amount: int, *, refunded: int = 0) -> None:
    record = CommissionRecord(
        commission_id=f"cm_{order_id}_l1_1", order_id=order_id, line_id="l1", level=1, beneficiary_id=promoter,
        buyer_id="u_x", product_id="p_1", product_name="商品", quantity=1, base_fen=10_000, amount_fen=amount,
        status=CommissionStatus.FROZEN, rule={}, created_at=at, refunded_base_fen=refunded)
    _put(table, commission_item(record))


def _refund(table: Table, order_id: str, at: datetime) -> None:
    rid = f"{order_id}-r1"
    _put(table, {"pk": f"ORDER#{order_id}", "sk": f"REFUND#{rid}", "entity": "refund", "refund_id": rid,
                 "order_id": order_id, "kind": "customer", "status": "REQUESTED", "amount_fen": 10_000,
                 "created_at": iso(at), "gsi1pk": "REFUNDS#REQUESTED", "gsi1sk": f"{iso(at)}#{rid}"})


def _withdrawal(table: Table, wid: str, promoter: str, at: datetime) -> None:
    key = f"{iso(at)}#{wid}"
    _put(table, {"pk": f"WITHDRAWAL#{wid}", "sk": "WITHDRAWAL", "entity": "withdrawal", "withdrawal_id": wid,
                 "promoter_id": promoter, "amount_fen": 5_000, "status": "PENDING_REVIEW", "created_at": iso(at),
                 "gsi1pk": "WITHDRAWALS#PENDING_REVIEW", "gsi1sk": key, "gsi2pk": f"PROMOTER_WITHDRAWALS#{promoter}",
                 "gsi2sk": key})


def minutes(m: int) -> datetime:
    return NOW - timedelta(minutes=m)


def seed(table: Table) -> None:
    """One promoter per rule that must fire (u_pa … u_pe) and one near miss each (u_pa2 … u_pe2)."""
    # (a) three accounts on one device bound to u_pa within the hour; u_pa2 gets two
    for i, m in enumerate((40, 35, 30)):
        _binding(table, f"u_a{i}", "u_pa", minutes(m), device="phone-A")
    for i, m in enumerate((40, 35)):
        _binding(table, f"u_a2{i}", "u_pa2", minutes(m), device="phone-B")
    # (b) u_pb's own phone places an order another account pays, attributed to u_pb (lagged window)
    _put(table, {"pk": "USER#u_pb", "sk": "PROFILE", "entity": "customer", "user_id": "u_pb",
                 "known_devices": {"phone-PB"}, "last_device_id": "phone-PB"})
    _put(table, {"pk": "USER#u_pb2", "sk": "PROFILE", "entity": "customer", "user_id": "u_pb2",
                 "known_devices": {"phone-PB2"}})
    _order(table, "o_b1", "u_sock", "u_pb", placed=minutes(60), device="phone-PB")
    _order(table, "o_b2", "u_stranger", "u_pb2", placed=minutes(60), device="phone-stranger")
    # (c) 10 orders of u_pc, 3 refunded earlier and one refund requested now: 40% > 30%; u_pc2: 30%
    for promoter, refunded_before in (("u_pc", 3), ("u_pc2", 2)):
        for i in range(10):
            _commission(table, promoter, f"o_{promoter}_{i}", NOW - timedelta(days=3, hours=i), 1_000,
                        refunded=10_000 if i < refunded_before else 0)
        _order(table, f"o_{promoter}_9", "u_buyer", promoter, placed=NOW - timedelta(days=3, hours=9), feed=False)
        _refund(table, f"o_{promoter}_9", minutes(20))
    # (d) u_pd earns 60,000 today after 1,000 a day; u_pd2 60,000 after 20,000 a day
    for promoter, daily in (("u_pd", 1_000), ("u_pd2", 20_000)):
        for day in range(1, 8):
            _commission(table, promoter, f"o_{promoter}_d{day}", NOW - timedelta(days=day), daily)
        _order(table, f"o_{promoter}_today", "u_buyer2", promoter, placed=minutes(60))
        _commission(table, promoter, f"o_{promoter}_today", minutes(50), 60_000)
    # (e) 20 members in the day before u_pe's three withdrawals; u_pe2 had 5
    for promoter, members in (("u_pe", 20), ("u_pe2", 5)):
        for i in range(members):
            _binding(table, f"u_{promoter}_m{i}", promoter, NOW - timedelta(hours=2, minutes=30 * i), feed=False)
        for i, m in enumerate((50, 40, 30)):
            _withdrawal(table, f"w_{promoter}_{i}", promoter, minutes(m))


def hits(table: Table) -> set[tuple[str, str]]:
    return {(str(h["rule"]), str(h["promoter_id"])) for h in FraudRepository(table).hits_on("2026-03-10")}


# ---- the tests ------------------------------------------------------------------------------------------------------


def test_seeded_activity_hits_exactly_the_five_rules_and_a_second_run_records_nothing_new(table: Table) -> None:
    seed(table)
    first = scan(table, settings=settings("observe"), now=NOW)
    assert hits(table) == EXPECTED
    assert {name: r.new_hits for name, r in first.rules.items()} == dict.fromkeys(RULE_NAMES, 1)
    assert first.advanced and FraudRepository(table).watermark() == NOW and first.cases_opened == 0
    # the same window again (the watermark put back): the same hits, none new
    table.update({"pk": "RISK_SCAN", "sk": "WATERMARK"}, "SET #at = :at", names={"#at": "at"},
                 values={":at": iso(NOW - timedelta(hours=1))})
    again = scan(table, settings=settings("observe"), now=NOW)
    assert {name: (r.hits, r.new_hits) for name, r in again.rules.items()} == dict.fromkeys(RULE_NAMES, (1, 0))
    # the next scheduled run reads only what is new: nothing
    later = scan(table, settings=settings("observe"), now=NOW + timedelta(minutes=15))
    assert later.window_start == iso(NOW - fraud.OVERLAP) and later.window_end == iso(NOW + timedelta(minutes=15))
    assert hits(table) == EXPECTED


def test_enforce_opens_the_right_cases_once(table: Table) -> None:
    seed(table)
    first = scan(table, settings=settings("enforce"), now=NOW, open_case=open_case)
    assert {name: r.cases_opened for name, r in first.rules.items()} == dict.fromkeys(RULE_NAMES, 1)
    for rule, promoter in EXPECTED:
        [case] = open_cases(table, promoter)
        assert case.rule == rule
    for control in ("u_pa2", "u_pb2", "u_pc2", "u_pd2", "u_pe2"):
        assert open_cases(table, control) == []
    table.update({"pk": "RISK_SCAN", "sk": "WATERMARK"}, "SET #at = :at", names={"#at": "at"},
                 values={":at": iso(NOW - timedelta(hours=1))})
    again = scan(table, settings=settings("enforce"), now=NOW, open_case=open_case)
    assert again.cases_opened == 0 and again.hits == 5
    assert all(len(open_cases(table, p)) == 1 for _, p in EXPECTED)


def test_two_overlapping_runs_make_one_case_per_hit_and_one_watermark(table: Table) -> None:
    seed(table)
    barrier = threading.Barrier(2)
    reports: list[ScanReport] = []
    errors: list[BaseException] = []

    def run() -> None:
        try:
            barrier.wait()
            reports.append(scan(table, settings=settings("enforce"), now=NOW, open_case=open_case))
        except BaseException as exc:  # surfaced below
            errors.append(exc)

    threads = [threading.Thread(target=run) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    assert not errors, errors
    assert [r.advanced for r in reports].count(True) == 1
    assert FraudRepository(table).watermark() == NOW
    assert hits(table) == EXPECTED
    assert sum(r.rules[name].new_hits for r in reports for name in RULE_NAMES) == 5
    assert sum(r.cases_opened for r in reports) == 5
    assert all(len(open_cases(table, p)) == 1 for _, p in EXPECTED)


class SpyClient:
    """The DynamoDB client, recording every operation it is asked for."""

    def __init__(self, client: Any) -> None:
        self._client = client
        self.calls: list[str] = []

    def __getattr__(self, name: str) -> Any:
        attribute = getattr(self._client, name)
        if callable(attribute) and not name.startswith("_") and name != "meta":
            self.calls.append(name)
        return attribute


def test_a_scan_issues_no_table_scan(table: Table) -> None:
    seed(table)
    spy = SpyClient(table.client)
    spied = Table(table.name, spy)  # type: ignore[arg-type]
    fraud.scan(repo=FraudRepository(spied), cases=RiskRepositories.on(spied), settings=settings("observe"), now=NOW)
    assert "scan" not in spy.calls
    assert set(spy.calls) <= {"get_item", "query", "batch_get_item", "put_item", "update_item"}
    assert spy.calls.count("query") < 80  # feed buckets, status partitions and the promoters' own partitions
