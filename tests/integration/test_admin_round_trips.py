"""Admin routes stay within five DynamoDB round trips (the admin class's target; bench/dynamo_work.py
measures every route on the local stack): each request goes through its real handler (or the use
case the handler calls) on DynamoDB Local, through a client whose HTTP calls are counted."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import boto3
import pytest

from mall.api.auth import _admin_session, _sessions
from mall.dal.audit import AuditLog
from mall.dal.commissions import commission_item
from mall.dal.identity import AdminRepository
from mall.dal.ledger import LedgerRepository
from mall.dal.referral import PromoterRepository
from mall.dal.stats import StatsRepository
from mall.dal.table import Table, Write
from mall.domain import ledger as L
from mall.domain.commission_records import CommissionRecord, CommissionStatus, commission_id
from mall.domain.identity import AdminAccount
from mall.domain.passwords import hash_password
from mall.domain.referral import Promoter
from mall.domain.tokens import Role
from mall.services import risk
from mall.services.stats import dashboard, dashboard_default_range
from tests.conftest import bearer, clear_caches
from tests.integration.test_dashboard_series import Shop
from tests.unit.conftest import FakeContext, http_event, load_function
from tools.migrations import run
from tools.migrations.commission_rate_index import MIGRATION as RATE_INDEX

pytestmark = pytest.mark.integration

ADMIN_ROUND_TRIPS = 5


class Counted:
    """A second client on the same table whose round trips (HTTP calls to DynamoDB) are counted."""

    def __init__(self, table: Table, endpoint: str) -> None:
        client = boto3.client("dynamodb", endpoint_url=endpoint, region_name="us-east-1")
        self.sent: list[str] = []
        client.meta.events.register("before-send.dynamodb", self._count)
        self.table = Table(table.name, client)

    def _count(self, **kwargs: Any) -> None:
        self.sent.append(str(kwargs.get("event_name", "")).rsplit(".", 1)[-1])

    def trips(self, work: Callable[[], object]) -> int:
        self.sent.clear()
        work()
        return len(self.sent)


@pytest.fixture
def counted(table: Table, ddb_endpoint: str) -> Iterator[Counted]:
    yield Counted(table, ddb_endpoint)


def test_the_dashboard_of_the_default_week_takes_at_most_five_round_trips(table: Table, counted: Counted) -> None:
    shop = Shop(table)
    now = datetime(2026, 11, 3, 4, tzinfo=UTC)  # the week 28 Oct – 3 Nov straddles a month's end
    for day in ("2026-10-28", "2026-10-31", "2026-11-01", "2026-11-03"):
        shop.order(f"{day}T03:00:00Z", 1_000, shared=True)
        shop.commission(f"{day}T03:01:00Z", 1, 100)
        shop.visit(f"{day}T05:00:00Z")
    first, last = dashboard_default_range(now)
    stats = StatsRepository(counted.table)

    views: list[Any] = []
    trips = counted.trips(lambda: views.append(dashboard(stats=stats, date_from=first, date_to=last, now=now)))

    view = views[0]
    assert view.paid_orders == 4 and view.buyers == 4 and view.promoters_active == 1
    assert [p.user_id for p in view.top_promoters] == ["u_star"] and view.top_products[0].units == 4
    assert trips <= ADMIN_ROUND_TRIPS, counted.sent


# ---- through the real handlers ----------------------------------------------------------------------

ADMIN = bearer("admin:alice", Role.ADMIN)
T0 = datetime(2026, 11, 22, 8, 0, tzinfo=UTC)


@dataclass
class Answer:
    status: int
    body: Any
    trips: int
    sent: list[str]


Call = Callable[..., Answer]


@pytest.fixture
def call(table: Table) -> Iterator[Call]:
    """``call(function, method, path, body, key, headers=, query=)``: the handler of
    ``functions/<function>`` (loaded once, a cold start on this test's table), its DynamoDB round
    trips counted as in a warm container. ``headers`` default to the admin's; a CSV answer's body
    is its text."""
    clear_caches()
    _admin_session("alice", at_least=0)  # a warm container knows the admin's session (cached a minute)
    loaded: dict[str, Any] = {}

    def send(function: str, method: str, path: str, body: Any = None, key: str | None = None, *,
             headers: dict[str, str] | None = None, query: dict[str, str] | None = None) -> Answer:
        if function not in loaded:
            loaded[function] = load_function(function)
        client = loaded[function].table.client
        sent: list[str] = []

        def count(**kwargs: Any) -> None:
            sent.append(str(kwargs.get("event_name", "")).rsplit(".", 1)[-1])

        event = http_event(method, path, body=body,
                           headers={**(headers or ADMIN), **({"idempotency-key": key} if key else {})})
        if query:
            event["queryStringParameters"] = query
            event["rawQueryString"] = "&".join(f"{k}={v}" for k, v in query.items())
        client.meta.events.register("before-send.dynamodb", count, unique_id="admin-round-trips")
        try:
            result = loaded[function].handler(event, FakeContext())
        finally:
            client.meta.events.unregister("before-send.dynamodb", unique_id="admin-round-trips")
        text = result.get("body") or "null"
        return Answer(result["statusCode"], text if "csv" in str(result.get("headers")) else json.loads(text),
                      len(sent), sent)

    yield send
    clear_caches()


def promoter(table: Table, uid: str, status: str = "active") -> None:
    table.put({"pk": f"USER#{uid}", "sk": "PROFILE", "entity": "customer", "user_id": uid, "openid": f"o{uid}",
               "roles": ["customer", "promoter"], "created_at": "2026-11-01T00:00:00Z", "nickname": f"昵称{uid}"})
    PromoterRepository(table).create(
        Promoter(user_id=uid, code="C" + "".join(ch for ch in uid if ch.isalnum()).upper(), status=status,  # type: ignore[arg-type]
                 level_id="basic", applied_at=T0, activated_at=T0),
        grant_role=False, replaces_rejected=False, now=T0, reserve_code=True)


@pytest.mark.parametrize("action", ["freeze", "unfreeze", "disable", "approve"])
def test_a_promoter_status_change_takes_at_most_five_round_trips(table: Table, call: Call, action: str) -> None:
    promoter(table, "u_pro", status={"unfreeze": "frozen", "approve": "applied"}.get(action, "active"))

    answer = call("admin_promoters", "POST", f"/admin/promoters/u_pro/{action}", {"reason": "风控复核"})

    assert answer.status == 200, answer.body
    stored = PromoterRepository(table).get("u_pro", consistent=True)
    assert stored is not None and answer.body["status"] == stored.status and answer.body["version"] == stored.version
    assert answer.body == {**answer.body, "reason": stored.reason,
                           "activated_at": stored.activated_at and stored.activated_at.isoformat().replace("+00:00",
                                                                                                          "Z")}
    assert answer.trips <= ADMIN_ROUND_TRIPS, answer.sent


def test_disabling_a_promoter_takes_at_most_five_round_trips_even_when_the_session_is_read_again(
        table: Table, call: Call) -> None:
    # The admin's session is re-read once a minute per container: that read is part of the route's five.
    promoter(table, "u_pro")
    _sessions.clear()

    answer = call("admin_promoters", "POST", "/admin/promoters/u_pro/disable", {"reason": "违规推广"})

    assert answer.status == 200 and answer.body["status"] == "disabled", answer.body
    assert answer.sent[0] == "GetItem" and answer.trips <= ADMIN_ROUND_TRIPS, answer.sent


def risky_promoter_case(table: Table) -> str:
    """An active promoter ``u_risky`` with an open risk case; its id."""
    promoter(table, "u_risky")
    view = risk.open_case(repos=risk.RiskRepositories.on(table), promoter_id="u_risky", rule="same_device",
                          window_key="2026-11-22", evidence={"devices": 3}, now=T0)
    assert view is not None
    return view.case_id


def test_releasing_a_risk_case_takes_at_most_five_round_trips(table: Table, call: Call) -> None:
    case_id = risky_promoter_case(table)

    answer = call("admin_risk_cases", "POST", f"/admin/risk/cases/{case_id}/release", {"note": "核实"})

    assert answer.status == 200, answer.body
    assert answer.body["status"] == "RELEASED"
    assert answer.body["resolution_pending"] is False
    assert table.get({"pk": "USER#u_risky", "sk": "RISK_HOLD"}, consistent=True) is None
    assert answer.trips <= ADMIN_ROUND_TRIPS, answer.sent


def test_an_admin_login_takes_at_most_five_round_trips_and_is_audited(table: Table, call: Call) -> None:
    AdminRepository(table).create(AdminAccount("alice", hash_password("the-right-password"), T0))
    body = {"username": "alice", "password": "the-right-password"}

    first = call("admin_login", "POST", "/admin/auth/login", body)  # a new source: counted for the username too
    again = call("admin_login", "POST", "/admin/auth/login", body)  # the source is known now
    wrong = call("admin_login", "POST", "/admin/auth/login", {**body, "password": "wrong"})
    after_failure = call("admin_login", "POST", "/admin/auth/login", body)

    assert (first.status, again.status, wrong.status, after_failure.status) == (200, 200, 401, 200)
    entries = AuditLog(table).on(datetime.now(UTC))
    assert [e["action"] for e in sorted(entries, key=lambda e: str(e["sk"]))] == [
        "admin.login", "admin.login", "admin.login_failed", "admin.login"]
    account = AdminRepository(table).get("alice")
    assert account is not None and table.get({"pk": "ADMIN#alice", "sk": "PROFILE"})["last_login_at"]  # type: ignore[index]
    for answer in (first, again, after_failure):
        assert answer.trips <= ADMIN_ROUND_TRIPS, answer.sent
    assert again.trips <= 3, again.sent


@pytest.fixture
def rate_index(table: Table) -> None:
    """A deployed stack: the rate index's migration has run (docs/runbook.md)."""
    run(table, RATE_INDEX)


@pytest.mark.usefixtures("rate_index")
def test_saving_the_settings_takes_at_most_five_round_trips(table: Table, call: Call) -> None:
    promoter(table, "u_vip")
    assert call("admin_promoters", "PUT", "/admin/promoters/u_vip/override",
                {"l1_override_bp": 1_200, "reason": "vip"}).status == 200
    current = call("admin_settings", "GET", "/admin/settings/distribution").body

    answer = call("admin_settings", "PUT", "/admin/settings/distribution",
                  {**current["settings"], "based_on_version": current["version"], "promoter_review": "manual"})

    assert answer.status == 200, answer.body
    assert answer.body["version"] == current["version"] + 1 and answer.body["settings"]["promoter_review"] == "manual"
    assert answer.trips <= ADMIN_ROUND_TRIPS, answer.sent
    over = call("admin_settings", "PUT", "/admin/settings/distribution",  # the stored override is still checked
                {**current["settings"], "based_on_version": current["version"] + 1,
                 "commission": {**current["settings"]["commission"], "l2_rate_bp": 2_000}})  # 1,200 + 2,000 > 3,000
    assert over.status == 422 and over.body["error"]["code"] == "commission_over_cap", over.body


@pytest.mark.usefixtures("rate_index")
def test_setting_an_override_takes_at_most_five_round_trips(table: Table, call: Call) -> None:
    promoter(table, "u_vip")

    answer = call("admin_promoters", "PUT", "/admin/promoters/u_vip/override",
                  {"l1_override_bp": 1_200, "reason": "vip"})

    assert answer.status == 200, answer.body
    stored = PromoterRepository(table).get("u_vip", consistent=True)
    assert stored is not None and (stored.l1_override_bp, stored.version) == (1_200, answer.body["version"])
    assert answer.body["l1_override_bp"] == 1_200
    assert answer.trips <= ADMIN_ROUND_TRIPS, answer.sent


def test_binding_a_customer_by_an_admin_takes_at_most_five_round_trips(table: Table, call: Call) -> None:
    promoter(table, "u_old")
    promoter(table, "u_new")
    table.put({"pk": "USER#u_buyer", "sk": "PROFILE", "entity": "customer", "user_id": "u_buyer",
               "openid": "obuyer", "roles": ["customer"], "created_at": "2026-11-01T00:00:00Z", "nickname": "买家"})

    first = call("admin_bindings", "PUT", "/admin/customers/u_buyer/binding",
                 {"promoter_code": "CUOLD", "reason": "客服核实"})
    moved = call("admin_bindings", "PUT", "/admin/customers/u_buyer/binding",
                 {"promoter_code": "CUNEW", "reason": "客服核实"})
    unknown = call("admin_bindings", "PUT", "/admin/customers/u_nobody/binding",
                   {"promoter_code": "CUNEW", "reason": "客服核实"})

    assert (first.status, first.body["outcome"]) == (200, "bound"), first.body
    assert (moved.status, moved.body["outcome"]) == (200, "rebound"), moved.body
    assert unknown.status == 404 and unknown.body["error"]["code"] == "customer_not_found", unknown.body
    stored = PromoterRepository(table).get("u_new", consistent=True)
    assert stored is not None and stored.direct_members == 1
    actions = [e["action"] for e in AuditLog(table).on(datetime.now(UTC))]
    assert actions.count("binding.admin_set") == 2
    assert first.trips <= ADMIN_ROUND_TRIPS and moved.trips <= ADMIN_ROUND_TRIPS, (first.sent, moved.sent)


def test_confirming_a_risk_case_freezes_the_promoter_in_its_own_transaction_in_at_most_five_round_trips(
        table: Table, call: Call) -> None:
    """With nothing frozen (the wallet read with the hold and the promoter says so) there is no
    record or bonus to void: the case is finished in the resolution's own transaction, which holds
    only if still nothing is frozen at commit (a credit meanwhile: read again and void)."""
    case_id = risky_promoter_case(table)

    answer = call("admin_risk_cases", "POST", f"/admin/risk/cases/{case_id}/confirm", {"note": "核实"})

    assert answer.status == 200, answer.body
    assert (answer.body["status"], answer.body["resolution_pending"]) == ("CONFIRMED", False)
    frozen = PromoterRepository(table).get("u_risky", consistent=True)
    assert frozen is not None and frozen.status == "frozen" and frozen.reason is not None
    assert case_id in frozen.reason
    assert answer.sent.count("TransactWriteItems") == 1  # the case, the hold, the freeze, both audit entries
    assert table.get({"pk": f"RISK_CASE#{case_id}", "sk": "CASE"}, consistent=True)["finished_at"]  # type: ignore[index]
    assert answer.trips <= ADMIN_ROUND_TRIPS, answer.sent


def test_a_commission_credited_between_the_confirmations_read_and_its_commit_is_voided(
        table: Table, counted: Counted) -> None:
    """The read found nothing frozen; a commission lands before the commit: the commit is refused
    (nothing may be frozen), the case read again, and the follow-up voids the new commission."""
    case_id = risky_promoter_case(table)
    record = CommissionRecord(
        commission_id=commission_id("o_late", "l1", 1), order_id="o_late", line_id="l1", level=1,
        beneficiary_id="u_risky", buyer_id="u_buyer", product_id="p1", product_name="书", quantity=1, base_fen=7_000,
        amount_fen=700, status=CommissionStatus.FROZEN, rule={"source": "product", "ratio_bp": 1000}, created_at=T0)
    credited: list[bool] = []

    def credit_before_the_first_commit(**_: Any) -> None:
        if not credited:
            credited.append(True)
            LedgerRepository(table).post(
                [L.commission_frozen(promoter_id="u_risky", commission_id=record.commission_id, amount_fen=700, at=T0,
                                     ref={"commission_id": record.commission_id, "order_id": "o_late"})],
                also=[Write.put(table.name, commission_item(record), condition="attribute_not_exists(pk)")])

    counted.table.client.meta.events.register("before-send.dynamodb.TransactWriteItems", credit_before_the_first_commit)
    trips = counted.trips(lambda: risk.confirm_case(repos=risk.RiskRepositories.on(counted.table), case_id=case_id,
                                                    by="admin:alice", note="核实", now=T0))

    assert credited and trips > ADMIN_ROUND_TRIPS  # the refused commit, the voiding and the finish cost more
    assert LedgerRepository(table).wallet("u_risky").balances.frozen == 0
    voided = [p for p in LedgerRepository(table).all_postings("u_risky") if p["kind"] == "commission_voided"]
    assert [int(p["amount_fen"]) for p in voided] == [700]
    stored = risk.get_case(repos=risk.RiskRepositories.on(table), case_id=case_id)
    assert stored.case.status == "CONFIRMED" and not stored.case.resolution_pending
    assert (stored.voided.count, stored.voided.amount_fen) == (1, 700)


def test_a_stock_adjustment_of_a_sku_takes_at_most_five_round_trips(table: Table, call: Call) -> None:
    from mall.services.catalog.products import get_admin_product
    from tests.integration.test_skus import _sku, _tour

    repos, tour = _tour(table, low_stock_threshold=4)
    child = _sku(repos, tour, "儿童")

    answer = call("admin_products", "POST", f"/admin/products/{tour}/stock-adjustments",
                  {"delta": -1, "reason": "损耗", "sku_id": child["sku_id"]}, key="adjust-0001")

    assert answer.status == 200, answer.body
    assert _sku(repos, tour, "儿童")["stock"] == child["stock"] - 1
    stored = get_admin_product(repos=repos, product_id=tour)
    assert (answer.body["stock"], answer.body["low_on_stock"]) == (stored.stock, stored.low_on_stock)
    assert answer.trips <= ADMIN_ROUND_TRIPS, answer.sent
