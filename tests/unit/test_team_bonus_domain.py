"""Team bonus rules, pure: tiers of team sales, the floor to the fen, China months and due dates, and
the compliance rule — settings that would base pay on headcount are refused naming the field (also
through the real PUT /admin/settings/distribution handler)."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st
from pydantic import ValidationError

from mall.clock import CHINA, utc_now
from mall.domain import rules_disclosure as rd
from mall.domain.commission_records import CommissionRecord, CommissionStatus
from mall.domain.money import yuan_decimal as yuan
from mall.domain.settings import DistributionSettings
from mall.domain.team_bonus import (
    DEFAULT_FINAL_AFTER_DAYS,
    MAX_FINAL_AFTER_DAYS,
    TEAM_BONUS_CAP_LIMIT_BP,
    BonusRecord,
    TeamBonusRules,
    bonus_for,
    bonus_id,
    bonus_reduction,
    china_month,
    due_at,
    explain,
    final_by,
    month_end,
    month_start,
    previous_china_month,
    team_month,
)
from mall.domain.tokens import Role
from mall.services.team_bonus import months_to_examine
from tests.conftest import bearer
from tests.unit.conftest import Invoke

TIERS = [{"min_team_sales_fen": 1_000_000, "bonus_bp": 100},  # ¥10,000 → 1%
         {"min_team_sales_fen": 5_000_000, "bonus_bp": 200},  # ¥50,000 → 2%
         {"min_team_sales_fen": 20_000_000, "bonus_bp": 333}]  # ¥200,000 → 3.33%
RULES = TeamBonusRules.model_validate({"enabled": True, "tiers": TIERS})


def errors_of(exc: ValidationError) -> dict[str, str]:
    return {".".join(str(p) for p in e["loc"]): e["msg"] for e in exc.errors()}


def test_defaults_are_disabled_and_keep_the_settings_document_valid() -> None:
    assert DistributionSettings().team_bonus == TeamBonusRules(enabled=False, tiers=[], settlement_days=None)
    assert bonus_for(50_000_000, TeamBonusRules()) == (None, 0)


@pytest.mark.parametrize(("sales", "tier", "amount"), [
    (0, None, 0),
    (-5_000, None, 0),  # clawbacks took the month below zero
    (999_999, None, 0),  # one fen below the first tier
    (1_000_000, 1_000_000, 10_000),  # exactly the first threshold
    (4_999_999, 1_000_000, 49_999),  # 49,999.99 floored
    (5_000_000, 5_000_000, 100_000),
    (20_000_000, 20_000_000, 666_000),
    (20_012_345, 20_000_000, 666_411),  # 666,411.0885 → floor
])
def test_the_highest_tier_reached_pays_its_rate_floored_to_the_fen(sales: int, tier: int | None, amount: int) -> None:
    reached, paid = bonus_for(sales, RULES)
    assert (reached.min_team_sales_fen if reached else None, paid) == (tier, amount)


@given(sales=st.integers(-10**9, 10**11))
def test_the_bonus_is_integer_arithmetic_and_never_above_the_cap(sales: int) -> None:
    tier, amount = bonus_for(sales, RULES)
    assert type(amount) is int and amount >= 0
    if tier is not None:
        assert amount == sales * tier.bonus_bp // 10_000
        assert amount <= sales * TEAM_BONUS_CAP_LIMIT_BP // 10_000


def test_team_sales_must_be_integer_fen() -> None:
    with pytest.raises(TypeError):
        bonus_for(1.5, RULES)  # type: ignore[arg-type]


@pytest.mark.parametrize(("document", "field", "words"), [
    ({"tiers": [TIERS[1], TIERS[0]]}, "tiers.1.min_team_sales_fen", "above the previous"),
    ({"tiers": [TIERS[0], {**TIERS[1], "min_team_sales_fen": 1_000_000}]}, "tiers.1.min_team_sales_fen", "above"),
    ({"tiers": [{**TIERS[0], "bonus_bp": 300}, TIERS[1]]}, "tiers.1.bonus_bp", "may not pay less"),
    ({"tiers": [{"min_team_sales_fen": 100, "bonus_bp": TEAM_BONUS_CAP_LIMIT_BP + 1}]}, "tiers.0.bonus_bp", "500"),
    ({"tiers": [{"min_team_sales_fen": 0, "bonus_bp": 100}]}, "tiers.0.min_team_sales_fen", "1"),
    ({"enabled": True, "tiers": []}, "tiers", "at least one tier"),
    ({"settlement_days": 91}, "settlement_days", "90"),
    ({"tiers": [{**TIERS[0], "orders_at_least": 3}]}, "tiers.0.orders_at_least", "Extra inputs"),
])
def test_invalid_rules_name_the_field(document: dict[str, Any], field: str, words: str) -> None:
    with pytest.raises(ValidationError) as caught:
        TeamBonusRules.model_validate(document)
    found = errors_of(caught.value)
    assert field in found and words in found[field], found


@pytest.mark.parametrize(("document", "field"), [
    ({"tiers": [{**TIERS[0], "min_members": 10}]}, "tiers.0.min_members"),
    ({"tiers": [TIERS[0], {**TIERS[1], "headcount": 50}]}, "tiers.1.headcount"),
    ({"tiers": [{**TIERS[0], "recruits_at_least": 5}]}, "tiers.0.recruits_at_least"),
    ({"tiers": [{**TIERS[0], "team_size": 5}]}, "tiers.0.team_size"),
    ({"tiers": [{**TIERS[0], "直推人数": 5}]}, "tiers.0.直推人数"),
    ({"tiers": [{"min_direct_members": 3, "bonus_bp": 100}]}, "tiers.0.min_direct_members"),
    ({"enabled": True, "tiers": TIERS, "bonus_per_member_fen": 500}, "bonus_per_member_fen"),
    ({"per_recruit": {"amount_fen": 100}}, "per_recruit"),
    ({"tiers": [{**TIERS[0], "rules": {"invitees": 3}}]}, "tiers.0.rules.invitees"),
])
def test_headcount_is_never_a_pay_basis(document: dict[str, Any], field: str) -> None:
    with pytest.raises(ValidationError) as caught:
        TeamBonusRules.model_validate(document)
    found = errors_of(caught.value)
    assert field in found and "only ever for sales" in found[field] and "拉人头" in found[field], found
    with pytest.raises(ValidationError) as whole:
        DistributionSettings.model_validate({"team_bonus": document})
    assert f"team_bonus.{field}" in errors_of(whole.value)


def test_months_and_due_dates_are_china_time() -> None:
    # 00:30 on 1 December in China is still 30 November in UTC: the run pays November.
    assert previous_china_month(datetime(2026, 11, 30, 16, 30, tzinfo=UTC)) == "2026-11"
    assert previous_china_month(datetime(2026, 11, 30, 15, 59, tzinfo=UTC)) == "2026-10"
    assert previous_china_month(datetime(2027, 1, 1, 3, 0, tzinfo=CHINA)) == "2026-12"
    assert month_start("2026-11") == datetime(2026, 11, 1, tzinfo=CHINA)
    assert month_end("2026-12") == datetime(2027, 1, 1, tzinfo=CHINA)
    assert due_at("2026-11", 7) == datetime(2026, 12, 8, tzinfo=CHINA)
    assert bonus_id("u_abc", "2026-11") == "bn_202611_u_abc"
    with pytest.raises(ValueError, match="month"):
        bonus_id("u_abc", "2026-13")


def test_a_bonus_explains_itself() -> None:
    record = BonusRecord(bonus_id="bn_202611_u1", beneficiary_id="u1", month="2026-11", team_sales_fen=5_432_100,
                         amount_fen=108_642, status=CommissionStatus.FROZEN, created_at=utc_now(), due_at=None,
                         rule={"min_team_sales_fen": 5_000_000, "bonus_bp": 200})
    assert explain(record) == "2026-11 团队销售额 ¥54321.00，达到 ¥50000.00 档，按 2.00% 计分红 ¥1086.42"
    assert record.commission_id == record.bonus_id and record.current_fen == 108_642
    assert yuan(-123) == "-1.23" and yuan(5) == "0.05"


# ---- through the admin settings handler (moto) -----------------------------------------------------


def admin() -> dict[str, str]:
    return bearer("admin:alice", Role.ADMIN)


@pytest.mark.usefixtures("moto_table")
def test_the_settings_api_refuses_headcount_pay_with_a_422_naming_the_field(invoke: Invoke) -> None:
    path = "/admin/settings/distribution"
    body = {"based_on_version": 0, "team_bonus": {"enabled": True, "tiers": [{**TIERS[0], "min_members": 20}]}}
    status, payload, _ = invoke("admin_settings", "PUT", path, body=body, headers=admin())
    assert status == 422, payload
    fields = {f["field"]: f["reason"] for f in payload["error"]["fields"]}
    assert "team_bonus.tiers.0.min_members" in fields and "headcount" in fields["team_bonus.tiers.0.min_members"]
    status, current, _ = invoke("admin_settings", "GET", path, headers=admin())
    assert current["version"] == 0  # refused: nothing saved
    status, saved, _ = invoke("admin_settings", "PUT", path, headers=admin(), body={
        "based_on_version": 0, "team_bonus": {"enabled": True, "tiers": TIERS, "settlement_days": 10}})
    assert status == 200, saved
    assert saved["settings"]["team_bonus"]["tiers"][2] == TIERS[2]


# ---- team sales from the commission records, finality, the reduction after a refund -----------------


def _record(order_id: str, *, base: int, refunded: int = 0, level: int = 1, beneficiary: str = "u_p",
            buyer: str = "u_b", status: CommissionStatus = CommissionStatus.SETTLED) -> CommissionRecord:
    return CommissionRecord(commission_id=f"cm_{order_id}_1_{level}", order_id=order_id, line_id="1",
                            level=level, beneficiary_id=beneficiary, buyer_id=buyer,  # type: ignore[arg-type]
                            product_id="p", product_name="Tea", quantity=1, base_fen=base, amount_fen=base // 10,
                            status=status, rule={}, created_at=datetime(2026, 10, 2, tzinfo=UTC),
                            refunded_base_fen=refunded)


def test_team_sales_are_the_base_net_of_refunds_of_the_promoters_team_records_only() -> None:
    records = [_record("o1", base=40_000), _record("o2", base=30_000, refunded=10_000, level=2),
               _record("o3", base=20_000, refunded=20_000, status=CommissionStatus.CANCELLED),
               _record("o4", base=50_000, buyer="u_p"),  # the promoter's own purchase
               _record("o5", base=70_000, beneficiary="u_other"),
               _record("o6", base=5_000, refunded=9_999, status=CommissionStatus.FROZEN)]
    month = team_month("u_p", "2026-10", records)
    assert (month.team_sales_fen, month.orders, month.open_records) == (60_000, 4, 1)
    end = final_by("2026-10", 30)
    assert end == datetime(2026, 11, 30, 16, tzinfo=UTC)  # 1 December 00:00 China time
    assert not month.final(now=end - timedelta(microseconds=1), final_after_days=30)
    assert month.final(now=end, final_after_days=30)
    settled = team_month("u_p", "2026-10", records[:5])
    assert settled.open_records == 0 and settled.final(now=month_end("2026-10"), final_after_days=30)


def test_an_order_counts_in_the_china_month_it_was_paid_in() -> None:
    assert china_month(datetime(2026, 10, 31, 15, 59, 59, tzinfo=UTC)) == "2026-10"
    assert china_month(datetime(2026, 10, 31, 16, 0, tzinfo=UTC)) == "2026-11"


def test_a_paid_bonus_gives_back_only_what_the_lower_sales_do_not_earn() -> None:
    rules = TeamBonusRules.model_validate({"enabled": True, "tiers": TIERS})
    paid = BonusRecord(bonus_id="bn_202610_u_p", beneficiary_id="u_p", month="2026-10", team_sales_fen=5_432_100,
                       amount_fen=108_642, status=CommissionStatus.SETTLED, rule={}, created_at=utc_now(),
                       due_at=None)
    assert bonus_reduction(paid, 5_432_100, rules) == 0
    assert bonus_reduction(paid, 6_000_000, rules) == 0  # later sales never raise a paid bonus
    assert bonus_reduction(paid, 4_000_000, rules) == 108_642 - 40_000  # down a tier: 1% of 4,000,000 fen
    assert bonus_reduction(paid, 999_999, rules) == 108_642  # below the first tier: all of it
    assert bonus_reduction(replace(paid, clawed_back_fen=68_642), 4_000_000, rules) == 0


@pytest.mark.parametrize("days", [0, -1, MAX_FINAL_AFTER_DAYS + 1, None])
def test_final_after_days_is_validated(days: object) -> None:
    with pytest.raises(ValidationError) as error:
        TeamBonusRules.model_validate({"final_after_days": days})
    assert error.value.errors()[0]["loc"] == ("final_after_days",)
    assert TeamBonusRules().final_after_days == DEFAULT_FINAL_AFTER_DAYS


def test_the_daily_run_examines_the_months_not_final_for_more_than_a_week() -> None:
    at = datetime(2026, 12, 20, 19, tzinfo=UTC)  # 21 December 03:00 China time
    assert months_to_examine(at, 45) == ["2026-11", "2026-10"]  # October final on 15 December
    assert months_to_examine(at, 30) == ["2026-11"]  # October final on 1 December: more than a week ago
    assert months_to_examine(datetime(2026, 1, 14, tzinfo=UTC), 45) == ["2025-12", "2025-11"]


@pytest.mark.parametrize("days", [1, 30, MAX_FINAL_AFTER_DAYS])
def test_the_rules_page_states_the_final_date_the_run_applies(days: int) -> None:
    rules = TeamBonusRules.model_validate({"enabled": True, "tiers": TIERS, "final_after_days": days})
    section = next(s for s in rd.render(DistributionSettings(team_bonus=rules), version=1, effective_at=None).sections
                   if s.key == "team_bonus")
    items = {i.key: i for i in section.items}
    final = items["final_after_days"]
    assert final.value == days and final.unit == "days" and f"月末后 {days} 天" in final.text
    assert "退款" in items["team_sales"].text and "支付" in items["team_sales"].text
    assert "欠款" in items["refund_after_payment"].text
    # What the text says is what the run does: an open month is final exactly that many days after its end.
    open_month = team_month("u_p", "2026-10", [_record("o1", base=10_000, status=CommissionStatus.FROZEN)])
    deadline = month_end("2026-10") + timedelta(days=int(final.value))
    assert not open_month.final(now=deadline - timedelta(seconds=1), final_after_days=rules.final_after_days)
    assert open_month.final(now=deadline, final_after_days=rules.final_after_days)
