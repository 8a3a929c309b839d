"""The five fraud rules (mall.domain.fraud) — each one case that fires and the near misses that must
not — their settings (mall.domain.risk_rules), and the scan's modes through mall.services.fraud
with a fake ``open_case`` (moto)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from pydantic import ValidationError

from mall.dal.fraud import FraudRepository
from mall.dal.risk_feed import feed_write
from mall.dal.table import main_table
from mall.domain import fraud
from mall.domain.fraud import BindingFact, OrderFact, OwnPrints, WithdrawalFact
from mall.domain.normalise import normalise_address, normalise_phone
from mall.domain.risk_rules import (
    CommissionSpikeRule,
    RefundRatioRule,
    RiskRules,
    SelfDealingRule,
    SharedDeviceRule,
    WithdrawalBurstRule,
)
from mall.domain.settings import DistributionSettings
from mall.integrations import pii_crypto
from mall.services import fraud as service
from mall.services.risk import RiskRepositories

T0 = datetime(2026, 3, 10, 4, 0, tzinfo=UTC)  # 12:00 in China


# ---- (a) many accounts on one device / IP bound to one promoter ---------------------------------


def _bindings(n: int, *, device: str | None = "dev-1", ip: str | None = None, parent: str = "u_p",
              start: datetime = T0, every: timedelta = timedelta(minutes=10)) -> list[BindingFact]:
    return [BindingFact(f"u_m{i}", parent, start + i * every, device_print=device, ip_print=ip) for i in range(n)]


def test_shared_device_fires_at_the_threshold_within_the_window() -> None:
    team = _bindings(3)
    hits = fraud.shared_device_hits(team, team[-1:], SharedDeviceRule(device_accounts=3))
    assert len(hits) == 1
    hit = hits[0]
    assert hit.rule == "shared_device" and hit.promoter_id == "u_p"
    assert hit.window_key == "device:dev-1:2026-03-10"
    assert hit.evidence["accounts"] == ["u_m0", "u_m1", "u_m2"] and hit.evidence["accounts_count"] == 3


def test_shared_device_does_not_fire_just_under_the_threshold_or_outside_the_window() -> None:
    rule = SharedDeviceRule(device_accounts=3, window_hours=24)
    two = _bindings(2)
    assert fraud.shared_device_hits(two, two, rule) == []
    spread = _bindings(3, every=timedelta(hours=13))  # the first is 26 h before the last
    assert fraud.shared_device_hits(spread, spread, rule) == []
    # same count, but under two promoters or on two devices: no hit either
    mixed = [*_bindings(2), BindingFact("u_x", "u_other", T0 + timedelta(minutes=30), device_print="dev-1")]
    assert fraud.shared_device_hits(mixed, mixed, rule) == []


def test_shared_ip_has_its_own_higher_threshold() -> None:
    rule = SharedDeviceRule(device_accounts=3, ip_accounts=5)
    four = _bindings(4, device=None, ip="ip-1")
    assert fraud.shared_device_hits(four, four, rule) == []
    five = _bindings(5, device=None, ip="ip-1")
    [hit] = fraud.shared_device_hits(five, five, rule)
    assert hit.window_key == "ip:ip-1:2026-03-10" and hit.evidence["kind"] == "ip"


def test_shared_device_keys_are_stable_when_the_same_bindings_are_read_again() -> None:
    team = _bindings(4)
    first = fraud.shared_device_hits(team, team[2:3], SharedDeviceRule())
    again = fraud.shared_device_hits(team, team, SharedDeviceRule())
    assert [h.window_key for h in first] == [h.window_key for h in again] == ["device:dev-1:2026-03-10"]


# ---- (b) a promoter earning on orders from their own device / phone / address --------------------


OWN = {"u_p": OwnPrints("u_p", devices=frozenset({"dev-p"}), phones=frozenset({"ph-p"}),
                        addresses=frozenset({"ad-p"}))}


def _order(order_id: str = "o_1", **kwargs: Any) -> OrderFact:
    values: dict[str, Any] = {"buyer_id": "u_b", "placed_at": T0, "l1_promoter_id": "u_p"} | kwargs
    return OrderFact(order_id, **values)


@pytest.mark.parametrize(("kwargs", "matched"), [
    ({"device_print": "dev-p"}, ["device"]),
    ({"phone_print": "ph-p"}, ["phone"]),
    ({"address_print": "ad-p", "device_print": "dev-p"}, ["device", "address"]),
])
def test_self_dealing_fires_on_the_promoters_own_device_phone_or_address(kwargs: dict[str, Any],
                                                                          matched: list[str]) -> None:
    [hit] = fraud.self_dealing_hits([_order(**kwargs)], OWN, SelfDealingRule())
    assert hit.rule == "self_dealing" and hit.promoter_id == "u_p" and hit.window_key == "2026-03-10"
    assert hit.evidence["orders"] == [{"order_id": "o_1", "buyer_id": "u_b", "level": 1, "matched": matched}]


def test_self_dealing_does_not_fire_on_strangers_self_purchase_unchecked_fields_or_below_min_orders() -> None:
    rule = SelfDealingRule()
    assert fraud.self_dealing_hits([_order(device_print="dev-x", phone_print="ph-x")], OWN, rule) == []
    # the promoter buying for themself is the self-purchase setting's business, not fraud
    assert fraud.self_dealing_hits([_order(buyer_id="u_p", device_print="dev-p")], OWN, rule) == []
    assert fraud.self_dealing_hits([_order(device_print="dev-p")], OWN, SelfDealingRule(match_device=False)) == []
    assert fraud.self_dealing_hits([_order(device_print="dev-p")], OWN, SelfDealingRule(min_orders=2)) == []


def test_self_dealing_counts_level_two_and_groups_a_day() -> None:
    orders = [_order("o_1", l1_promoter_id="u_q", l2_promoter_id="u_p", phone_print="ph-p"),
              _order("o_2", placed_at=T0 + timedelta(hours=1), device_print="dev-p")]
    [hit] = fraud.self_dealing_hits(orders, OWN, SelfDealingRule(min_orders=2))
    assert hit.evidence["orders_count"] == 2 and hit.evidence["orders"][0]["level"] == 2


# ---- (c) refund ratio ------------------------------------------------------------------------------------


def _orders(total: int, refunded: int) -> dict[str, bool]:
    return {f"o_{i}": i < refunded for i in range(total)}


def test_refund_ratio_fires_above_the_threshold() -> None:
    hit = fraud.refund_ratio_hit("u_p", _orders(10, 4), trigger_at=T0, rule=RefundRatioRule(ratio_bp=3000))
    assert hit is not None and hit.rule == "refund_ratio" and hit.window_key == "2026-03-10"
    assert hit.evidence["ratio_bp"] == 4000 and hit.evidence["refunded"] == 4 and hit.evidence["orders"] == 10


def test_refund_ratio_does_not_fire_at_the_threshold_or_before_min_orders() -> None:
    rule = RefundRatioRule(ratio_bp=3000, min_orders=10)
    assert fraud.refund_ratio_hit("u_p", _orders(10, 3), trigger_at=T0, rule=rule) is None  # exactly 30%
    assert fraud.refund_ratio_hit("u_p", _orders(9, 9), trigger_at=T0, rule=rule) is None  # too few orders


# ---- (d) commission spike --------------------------------------------------------------------------------


def _earnings(daily: list[int], today: int) -> list[tuple[datetime, int]]:
    """``daily`` for the 7 days before T0's China day (oldest first), then ``today`` at T0."""
    days = [(T0 - timedelta(days=len(daily) - i), amount) for i, amount in enumerate(daily)]
    return [*days, (T0, today)]


def test_commission_spike_fires_above_k_times_the_trailing_average() -> None:
    rule = CommissionSpikeRule(multiple_bp=50_000, trailing_days=7, min_day_fen=10_000)
    hit = fraud.commission_spike_hit("u_p", _earnings([2_000] * 7, 10_001), day="2026-03-10", rule=rule)
    assert hit is not None and hit.rule == "commission_spike" and hit.window_key == "2026-03-10"
    assert hit.evidence["day_fen"] == 10_001 and hit.evidence["average_fen"] == 2_000


def test_commission_spike_does_not_fire_at_k_times_or_below_the_floor() -> None:
    rule = CommissionSpikeRule(multiple_bp=50_000, trailing_days=7, min_day_fen=10_000)
    assert fraud.commission_spike_hit("u_p", _earnings([2_000] * 7, 10_000), day="2026-03-10", rule=rule) is None
    # a first big day is compared with 0: only the floor guards it
    assert fraud.commission_spike_hit("u_p", _earnings([0] * 7, 9_999), day="2026-03-10", rule=rule) is None
    assert fraud.commission_spike_hit("u_p", _earnings([0] * 7, 10_000), day="2026-03-10", rule=rule) is not None
    # earnings of 8 days ago are outside the trailing week: the average is of the 7 days before
    old = [(T0 - timedelta(days=8), 1_000_000), (T0, 10_000)]
    assert fraud.commission_spike_hit("u_p", old, day="2026-03-10", rule=rule) is not None


# ---- (e) withdrawals right after a burst of bindings --------------------------------------------------


def _withdrawals(n: int, start: datetime) -> list[WithdrawalFact]:
    return [WithdrawalFact(f"w_{i}", "u_p", start + timedelta(hours=i), 5_000) for i in range(n)]


BURST = WithdrawalBurstRule(bindings=5, binding_window_hours=24, withdrawals=3, withdrawal_window_hours=48)


def test_withdrawal_burst_fires_after_a_binding_burst() -> None:
    joined = [T0 - timedelta(hours=h) for h in range(1, 6)]
    ws = _withdrawals(3, T0)
    [hit] = fraud.withdrawal_burst_hits("u_p", withdrawals=ws, bound_at=joined, triggers=ws[-1:], rule=BURST)
    assert hit.rule == "withdrawal_burst" and hit.window_key == "2026-03-10"
    assert hit.evidence["withdrawals"] == ["w_0", "w_1", "w_2"] and hit.evidence["bindings"] == 5
    assert hit.evidence["withdrawn_fen"] == 15_000


def test_withdrawal_burst_does_not_fire_short_of_either_burst_or_when_the_bindings_are_old() -> None:
    joined = [T0 - timedelta(hours=h) for h in range(1, 6)]
    two = _withdrawals(2, T0)
    assert fraud.withdrawal_burst_hits("u_p", withdrawals=two, bound_at=joined, triggers=two, rule=BURST) == []
    ws = _withdrawals(3, T0)
    assert fraud.withdrawal_burst_hits("u_p", withdrawals=ws, bound_at=joined[:4], triggers=ws, rule=BURST) == []
    old = [T0 - timedelta(hours=30 + h) for h in range(5)]  # before the 24 h preceding the first withdrawal
    assert fraud.withdrawal_burst_hits("u_p", withdrawals=ws, bound_at=old, triggers=ws, rule=BURST) == []
    spread = [WithdrawalFact(f"w_{i}", "u_p", T0 + timedelta(hours=30 * i)) for i in range(3)]  # 60 h apart
    assert fraud.withdrawal_burst_hits("u_p", withdrawals=spread, bound_at=joined, triggers=spread, rule=BURST) == []


# ---- normalisation and settings ---------------------------------------------------------------------------


def test_phone_and_address_normalisation() -> None:
    assert normalise_phone("+86 138-1234-1234") == normalise_phone("13812341234") == "13812341234"
    assert (normalise_address("广东省", "深圳市", "南山区 科技园一路1号")
            == normalise_address("广东省", "深圳市", "南山区科技园一路，1号"))


def test_risk_rules_defaults_observe_everything_and_keep_settings_valid() -> None:
    rules = RiskRules()
    assert {rules.mode(n) for n in ("shared_device", "self_dealing", "refund_ratio", "commission_spike",
                                    "withdrawal_burst")} == {"observe"}
    assert DistributionSettings().risk == rules


@pytest.mark.parametrize("change", [
    {"refund_ratio": {"ratio_bp": 0.5}},
    {"refund_ratio": {"ratio_bp": 10_001}},
    {"refund_ratio": {"min_orders": "10"}},
    {"commission_spike": {"multiple_bp": 10_000}},  # k must be above 1
    {"shared_device": {"device_accounts": 1}},
    {"shared_device": {"mode": "block"}},
    {"withdrawal_burst": {"surprise": 1}},
    {"self_dealing": {"match_device": False, "match_phone": False, "match_address": False}},
])
def test_risk_rules_refuse_bad_values(change: dict[str, Any]) -> None:
    with pytest.raises(ValidationError):
        RiskRules.model_validate(change)


def test_a_rule_can_be_switched_off_with_nothing_to_match() -> None:
    assert RiskRules.model_validate({"self_dealing": {"mode": "off", "match_device": False, "match_phone": False,
                                                      "match_address": False}}).self_dealing.mode == "off"


# ---- the scan's modes (moto table, fake open_case) ---------------------------------------------------------


class FakeCases:
    """Stands in for mall.services.risk.open_case: idempotent per (promoter, rule, window key)."""

    def __init__(self) -> None:
        self.opened: dict[tuple[str, str, str], dict[str, Any]] = {}

    def __call__(self, *, repos: object, promoter_id: str, rule: str, window_key: str, evidence: dict[str, Any],
                 now: datetime) -> object | None:
        key = (promoter_id, rule, window_key)
        if key in self.opened:
            return None
        self.opened[key] = evidence
        return {"case": key}


def scan(**options: Any) -> service.ScanReport:
    return service.scan(repo=FraudRepository(main_table()), cases=RiskRepositories.on(main_table()), **options)


def _seed_shared_device(now: datetime) -> None:
    table = main_table()
    for i in range(3):
        at = now - timedelta(minutes=30 - i)
        uid = f"u_m{i}"
        table.put({"pk": f"USER#{uid}", "sk": "BINDING", "entity": "binding", "user_id": uid, "parent_id": "u_p",
                   "bound_at": at.strftime("%Y-%m-%dT%H:%M:%SZ"), "device_id": "phone-A", "source_ip": "1.2.3.4",
                   "gsi1pk": "TEAM#u_p", "gsi1sk": f"{at.strftime('%Y-%m-%dT%H:%M:%SZ')}#{uid}"})
        table.transact([feed_write(table.name, kind="bind", ref=uid, at=at,
                                   attrs={"user_id": uid, "parent_id": "u_p"})])


def _rewind(to: datetime) -> None:
    """Put the watermark back, as if the last run had not happened."""
    main_table().update({"pk": "RISK_SCAN", "sk": "WATERMARK"}, "SET #at = :at", names={"#at": "at"},
                        values={":at": to.strftime("%Y-%m-%dT%H:%M:%SZ")})


def _settings(mode: str) -> DistributionSettings:
    return DistributionSettings.model_validate({"risk": {name: {"mode": mode} for name in (
        "shared_device", "self_dealing", "refund_ratio", "commission_spike", "withdrawal_burst")}})


@pytest.mark.usefixtures("moto_table")
def test_enforce_opens_a_case_once_and_observe_only_records_the_hit() -> None:
    now = datetime(2026, 3, 10, 4, 0, tzinfo=UTC)
    _seed_shared_device(now)
    cases = FakeCases()
    report = scan(settings=_settings("observe"), now=now, open_case=cases)
    assert report.rules["shared_device"].hits == 1 and report.rules["shared_device"].new_hits == 1
    assert cases.opened == {} and report.cases_opened == 0 and report.advanced
    [hit] = FraudRepository(main_table()).hits_on("2026-03-10")
    device_print = pii_crypto.fingerprint("phone-A", kind="device")[:16]
    assert hit["rule"] == "shared_device" and hit["mode"] == "observe"
    assert hit["window_key"] == f"device:{device_print}:2026-03-10"
    assert "phone-A" not in str(hit) and "1.2.3.4" not in str(hit)  # fingerprints only

    # enforce: the same activity read again (a run over the same window) opens one case, once
    _rewind(now - timedelta(hours=1))
    later = now + timedelta(minutes=15)
    first = scan(settings=_settings("enforce"), now=later, open_case=cases)
    assert first.rules["shared_device"].cases_opened == 1 and first.rules["shared_device"].new_hits == 0
    assert list(cases.opened) == [("u_p", "shared_device", f"device:{device_print}:2026-03-10")]
    _rewind(now - timedelta(hours=1))
    again = scan(settings=_settings("enforce"), now=later, open_case=cases)
    assert again.rules["shared_device"].hits == 1 and again.cases_opened == 0 and len(cases.opened) == 1


@pytest.mark.usefixtures("moto_table")
def test_off_evaluates_nothing_and_a_failing_case_keeps_the_watermark() -> None:
    now = datetime(2026, 3, 10, 4, 0, tzinfo=UTC)
    _seed_shared_device(now)
    report = scan(settings=_settings("off"), now=now)
    assert report.hits == 0 and report.feed_entries == 0 and report.advanced

    _rewind(now - timedelta(hours=1))

    def broken(**_: Any) -> None:
        raise RuntimeError("risk store unavailable")

    failed = scan(settings=_settings("enforce"), now=now, open_case=broken)
    assert failed.rules["shared_device"].failures == 1 and not failed.advanced
    assert FraudRepository(main_table()).watermark() == now - timedelta(hours=1)
