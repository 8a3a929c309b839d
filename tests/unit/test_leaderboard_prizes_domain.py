"""Leaderboard prizes, pure: the figures from the records, the ranking and its tie rule, the table's
save-time rules (ranks 1..N, non-negative, the monthly cap, no headcount), owner-only, GET /rules."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from pydantic import ValidationError

from mall.domain import ledger as L
from mall.domain.commission_records import CommissionRecord, CommissionStatus, commission_id
from mall.domain.leaderboard_prizes import (
    PRIZE_TOTAL_CAP_FEN,
    LeaderboardPrizes,
    PrizeTable,
    month_final,
    prize_id,
    ranking_order,
    standing,
    winners,
)
from mall.domain.rules_disclosure import render
from mall.domain.settings import DistributionSettings
from mall.domain.staff import money_rule_changes
from mall.domain.team_bonus import final_by

MONTH = "2026-10"
T0 = datetime(2026, 10, 5, tzinfo=UTC)


def record(uid: str, order: str, base: int, *, level: int = 1, buyer: str = "b", refunded: int = 0,
           status: CommissionStatus = CommissionStatus.SETTLED, at: datetime = T0,
           cancelled: int = 0) -> CommissionRecord:
    return CommissionRecord(
        commission_id=commission_id(order, "l1", level), order_id=order, line_id="l1",
        level=level,  # type: ignore[arg-type]
        beneficiary_id=uid, buyer_id=buyer, product_id="p", product_name="Tea", quantity=1, base_fen=base,
        amount_fen=base // 10, status=status, rule={}, created_at=at, refunded_base_fen=refunded,
        cancelled_fen=cancelled)


def table(*amounts: int, measure: str = "sales") -> PrizeTable:
    return PrizeTable.model_validate({"measure": measure, "prizes": [
        {"rank": i + 1, "amount_fen": a} for i, a in enumerate(amounts)]})


def test_sales_count_level_one_net_of_refunds_and_commission_both_levels_never_own_purchases() -> None:
    records = [record("u", "o1", 10_000, refunded=4_000, cancelled=400), record("u", "o2", 5_000, level=2),
               record("u", "o3", 7_000, buyer="u"), record("x", "o4", 9_000)]
    s = standing("u", MONTH, records)
    assert s.sales_fen == 6_000  # o1 net of its refund; o2 is level 2; o3 is u's own purchase
    assert s.commission_fen == 1_000 - 400 + 500
    assert s.team.team_sales_fen == 6_000 + 5_000


def test_ties_go_to_who_reached_the_score_first_then_the_promoter_id() -> None:
    early = standing("u_z", MONTH, [record("u_z", "o1", 5_000, at=T0)])
    late = standing("u_a", MONTH, [record("u_a", "o2", 5_000, at=T0 + timedelta(hours=1))])
    same_a = standing("u_b", MONTH, [record("u_b", "o3", 3_000, at=T0)])
    same_b = standing("u_c", MONTH, [record("u_c", "o4", 3_000, at=T0)])
    zero = standing("u_0", MONTH, [record("u_0", "o5", 3_000, refunded=3_000)])
    order = ranking_order([same_b, late, zero, same_a, early], "sales")
    assert [s.promoter_id for s in order] == ["u_z", "u_a", "u_b", "u_c"]  # zero scores are not ranked
    # Deterministic whatever the input order.
    assert ranking_order([early, same_a, late, same_b], "sales") == order


def test_winners_skip_ineligible_promoters_and_list_zero_prizes() -> None:
    people = [standing(f"u_{i}", MONTH, [record(f"u_{i}", f"o{i}", 1_000 * (10 - i))]) for i in range(5)]
    won = winners(people, table(300, 200, 0), eligible=["u_0", "u_2", "u_3", "u_4"])
    assert [(w.rank, w.promoter_id, w.amount_fen) for w in won] == [(1, "u_0", 300), (2, "u_2", 200), (3, "u_3", 0)]


def test_the_month_is_final_for_the_ranking_when_final_for_every_promoter() -> None:
    settled = standing("u", MONTH, [record("u", "o1", 1_000)])
    open_one = standing("v", MONTH, [record("v", "o2", 1_000, status=CommissionStatus.FROZEN)])
    now = datetime(2026, 11, 10, tzinfo=UTC)
    assert month_final([settled], now=now, final_after_days=30)
    assert not month_final([settled, open_one], now=now, final_after_days=30)
    assert month_final([settled, open_one], now=final_by(MONTH, 30), final_after_days=30)


@pytest.mark.parametrize(("prizes", "where"), [
    ([{"rank": 1, "amount_fen": 100}, {"rank": 3, "amount_fen": 50}], ("prizes", 1, "rank")),
    ([{"rank": 1, "amount_fen": -1}], ("prizes", 0, "amount_fen")),
    ([{"rank": 1, "amount_fen": PRIZE_TOTAL_CAP_FEN}, {"rank": 2, "amount_fen": 1}], ("prizes",)),
    ([], ("prizes",)),
])
def test_an_invalid_table_is_refused_naming_the_field(prizes: list[dict[str, int]], where: tuple[object, ...]) -> None:
    with pytest.raises(ValidationError) as caught:
        DistributionSettings.model_validate({"leaderboard_prizes": {"enabled": True, "standing": {"prizes": prizes}}})
    assert ("leaderboard_prizes", "standing", *where) in [e["loc"] for e in caught.value.errors()]


def test_no_prize_for_headcount_and_no_team_size_measure() -> None:
    with pytest.raises(ValidationError) as caught:
        LeaderboardPrizes.model_validate({"enabled": True, "standing": {
            "prizes": [{"rank": 1, "amount_fen": 100}], "min_members": 3}})
    assert "headcount" in str(caught.value)
    with pytest.raises(ValidationError):
        PrizeTable.model_validate({"measure": "team_size", "prizes": [{"rank": 1, "amount_fen": 100}]})


def test_a_month_table_replaces_the_standing_one_and_disabled_pays_nothing() -> None:
    december = table(900, 500, measure="commission").model_dump()
    rules = LeaderboardPrizes.model_validate({"enabled": True, "standing": table(100).model_dump(),
                                              "months": {"2026-12": december}})
    assert rules.table_for("2026-11") == table(100)
    assert rules.table_for("2026-12") == table(900, 500, measure="commission")
    assert rules.model_copy(update={"enabled": False}).table_for("2026-12") is None


def test_prizes_are_a_money_rule_owner_only() -> None:
    before = DistributionSettings().model_dump(mode="json")
    after = DistributionSettings(leaderboard_prizes=LeaderboardPrizes(enabled=True, standing=table(100))).model_dump(
        mode="json")
    assert any(path.startswith("leaderboard_prizes") for path in money_rule_changes(before, after))


def test_get_rules_discloses_the_tables_from_the_settings() -> None:
    settings = DistributionSettings(leaderboard_prizes=LeaderboardPrizes(
        enabled=True, standing=table(50_000, 20_000), months={"2026-12": table(80_000)}))
    section = next(s for s in render(settings, version=3, effective_at=None).sections
                   if s.key == "leaderboard_prizes")
    by_key = {i.key: i for i in section.items}
    assert by_key["standing"].value == 70_000 and "第1名 ¥500.00" in by_key["standing"].text
    assert by_key["standing.rank.2"].value == 20_000 and by_key["month.2026-12.rank.1"].value == 80_000
    assert by_key["paid_when"].value == settings.team_bonus.final_after_days
    assert all(s.key != "leaderboard_prizes" for s in render(DistributionSettings(), version=1,
                                                             effective_at=None).sections)


def test_the_prize_posting_is_balanced_and_repays_debt_first() -> None:
    at = datetime(2026, 11, 13, tzinfo=UTC)
    postings = L.prize_paid(balances=L.Balances(debt=-3_000), promoter_id="u", prize_id=prize_id(MONTH, 1),
                            amount_fen=5_000, at=at, ref={}, memo="m")
    assert [(p.posting_id, p.kind) for p in postings] == [("pz_202610_01.paid", L.PostingKind.PRIZE_PAID),
                                                         ("pz_202610_01.repaid", L.PostingKind.DEBT_REPAID)]
    assert L.Balances(debt=-3_000).apply(*postings) == L.Balances(available=2_000)
