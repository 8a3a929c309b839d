"""Binding and counters under real concurrency on DynamoDB Local: requests really run in parallel."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from itertools import pairwise
from threading import Barrier
from typing import Any

import pytest

from mall.dal.referral import BindingRepository, PromoterRepository
from mall.dal.table import Table
from mall.domain.referral import BindRefused, Promoter
from mall.errors import Conflict, DomainError
from mall.services.referral import ReferralRepositories
from mall.services.referral import binding as referral_binding
from mall.services.referral.attribution import attribute_order
from mall.services.referral.binding import Bind, BindWithCode, bind_with_code
from mall.services.referral.order_paid import OrderPaidRepositories, on_order_paid
from mall.services.referral.promoters import change_status

NOW = datetime(2026, 11, 22, 8, 0, tzinfo=UTC)


def customer(table: Table, uid: str, **extra: Any) -> str:
    table.put({"pk": f"USER#{uid}", "sk": "PROFILE", "entity": "customer", "user_id": uid, "openid": f"o{uid}",
               "roles": ["customer"], "created_at": "2026-11-01T00:00:00Z", "nickname": f"nick{uid}", **extra})
    return uid


def promoter(table: Table, uid: str) -> str:
    """An active promoter whose share code is ``C<uid>`` (letters and digits only)."""
    customer(table, uid)
    code = "C" + "".join(ch for ch in uid if ch.isalnum())
    PromoterRepository(table).create(
        Promoter(user_id=uid, code=code, status="active", level_id="basic", applied_at=NOW, activated_at=NOW),
        grant_role=True, replaces_rejected=False, now=NOW, reserve_code=True)
    return code


def bind(table: Table, who: str, code: str) -> str:
    """The outcome of an invite-code bind, or the refusal's error code."""
    try:
        command = BindWithCode(customer_id=who, code=code, now=NOW)
        return bind_with_code(command, network=ReferralRepositories.on(table)).outcome
    except DomainError as refused:
        return refused.code


def chain(table: Table, *uids: str) -> dict[str, str]:
    """Promoters where each one is bound under the previous (uids[0] is the root)."""
    codes = {uid: promoter(table, uid) for uid in uids}
    for parent, child in pairwise(uids):
        assert bind(table, child, codes[parent]) == "bound"
    return codes


def test_parallel_binds_of_one_customer_exactly_one_wins(table: Table) -> None:
    workers = 20
    codes = [promoter(table, f"u_p{i:02d}") for i in range(workers)]
    customer(table, "u_target")
    barrier = Barrier(workers)

    def attempt(i: int) -> tuple[str, dict[str, Any] | None]:
        barrier.wait()
        try:
            result = bind_with_code(BindWithCode(customer_id="u_target", code=codes[i], now=NOW),
                                    network=ReferralRepositories.on(table))
        except Conflict as lost:
            return lost.code, lost.details
        return result.outcome, None

    with ThreadPoolExecutor(workers) as pool:
        outcomes = list(pool.map(attempt, range(workers)))
    winners = [i for i, (outcome, _) in enumerate(outcomes) if outcome == "bound"]
    assert len(winners) == 1, outcomes
    winner = f"u_p{winners[0]:02d}"
    losers = [details for outcome, details in outcomes if outcome != "bound"]
    assert all(d is not None and d["binding"]["parent_id"] == winner for d in losers), outcomes
    binding = BindingRepository(table).get("u_target")
    assert binding is not None and binding.parent_id == winner
    history, _ = BindingRepository(table).history("u_target", limit=50, start_key=None)
    assert len(history) == 1
    repo = PromoterRepository(table)
    counts = {f"u_p{i:02d}": repo.get(f"u_p{i:02d}").direct_members for i in range(workers)}  # type: ignore[union-attr]
    assert counts[winner] == 1 and sum(counts.values()) == 1


def test_cycle_at_depth_three_is_refused_and_nothing_is_written(table: Table) -> None:
    codes = chain(table, "u_A", "u_B", "u_C", "u_D")  # A ← B ← C ← D
    before = table.query(partition=("pk", "USER#u_A"), limit=100).items
    assert bind(table, "u_A", codes["u_D"]) == "binding_cycle"
    assert bind(table, "u_A", codes["u_C"]) == "binding_cycle"
    assert bind(table, "u_B", codes["u_D"]) == "binding_cycle"
    assert table.query(partition=("pk", "USER#u_A"), limit=100).items == before
    assert BindingRepository(table).get("u_A") is None
    d = PromoterRepository(table).get("u_D")
    assert d is not None and d.direct_members == 0
    # the root may still bind under someone outside its own team
    outsider = promoter(table, "u_X")
    assert bind(table, "u_A", outsider) == "bound"
    assert BindingRepository(table).ancestors("u_D", max_depth=10) == ["u_C", "u_B", "u_A", "u_X"]


@pytest.mark.parametrize("round_", range(5))
def test_concurrent_opposite_binds_cannot_form_a_cycle(table: Table, round_: int) -> None:
    codes = {uid: promoter(table, uid) for uid in ("u_M", "u_N")}
    barrier = Barrier(2)

    def attempt(pair: tuple[str, str]) -> str:
        who, under = pair
        barrier.wait()
        return bind(table, who, codes[under])

    with ThreadPoolExecutor(2) as pool:
        outcomes = list(pool.map(attempt, [("u_M", "u_N"), ("u_N", "u_M")]))
    assert sorted(outcomes) == ["binding_cycle", "bound"], outcomes
    bindings = BindingRepository(table)
    assert (bindings.get("u_M") is None) != (bindings.get("u_N") is None)


def test_concurrent_binds_around_a_chain_cannot_close_a_loop(table: Table) -> None:
    """A ← B ← C exists; at the same time A binds under C's new member D, and D binds under C.
    Either order alone is fine; together they would close A ← B ← C ← D ← A."""
    codes = chain(table, "u_A", "u_B", "u_C")
    codes["u_D"] = promoter(table, "u_D")
    barrier = Barrier(2)

    def attempt(pair: tuple[str, str]) -> str:
        who, under = pair
        barrier.wait()
        return bind(table, who, codes[under])

    for _ in range(3):
        with ThreadPoolExecutor(2) as pool:
            outcomes = list(pool.map(attempt, [("u_A", "u_D"), ("u_D", "u_C")]))
        bindings = BindingRepository(table)
        a, d = bindings.get("u_A"), bindings.get("u_D")
        assert not (a is not None and a.parent_id == "u_D" and d is not None and d.parent_id == "u_C"), outcomes
        if a is not None or d is not None:
            break
    # whichever won, walking up from anyone ends at a root without repeating anyone
    for uid in ("u_A", "u_B", "u_C", "u_D"):
        up = BindingRepository(table).ancestors(uid, max_depth=10)
        assert uid not in up and len(up) == len(set(up))


def test_stream_redelivery_and_parallel_duplicates_count_an_order_once(table: Table) -> None:
    code_a = promoter(table, "u_a")
    code_b = promoter(table, "u_b")
    customer(table, "u_buyer")
    assert bind(table, "u_b", code_a) == "bound"
    assert bind(table, "u_buyer", code_b) == "bound"
    order = {"order_id": "o_1", "buyer_id": "u_buyer", "status": "PAID", "amount_fen": 8_800,
             "lines": [{"line_id": "1", "paid_fen": 8_800, "distribution_enabled": True}],
             "attribution": {"l1_promoter_id": "u_b", "l2_promoter_id": "u_a", "settings_version": 0,
                             "basis": "binding", "self_purchase": False}}
    workers = 8
    barrier = Barrier(workers)

    def deliver(_: int) -> bool:
        barrier.wait()
        return bool(on_order_paid(repos=OrderPaidRepositories.on(table), order=order, now=NOW)["counted"])

    with ThreadPoolExecutor(workers) as pool:
        counted = list(pool.map(deliver, range(workers)))
    assert sum(counted) == 1
    for _ in range(3):
        assert on_order_paid(repos=OrderPaidRepositories.on(table), order=order, now=NOW)["counted"] is False
    repo = PromoterRepository(table)
    b, a = repo.get("u_b"), repo.get("u_a")
    assert b is not None and a is not None
    assert (b.own_sales_fen, b.team_sales_fen) == (8_800, 8_800)
    assert (a.own_sales_fen, a.team_sales_fen) == (0, 8_800)
    binding = BindingRepository(table).get("u_buyer")
    assert binding is not None and binding.sales_fen == 8_800


def test_attribute_order_reads_two_levels_and_skips_inactive(table: Table) -> None:
    code_a = promoter(table, "u_a")
    code_b = promoter(table, "u_b")
    customer(table, "u_buyer")
    assert bind(table, "u_b", code_a) == "bound"
    assert bind(table, "u_buyer", code_b) == "bound"
    result = attribute_order(network=ReferralRepositories.on(table), buyer_id="u_buyer", share=None, now=NOW)
    assert (result.l1_promoter_id, result.l2_promoter_id, result.basis) == ("u_b", "u_a", "binding")
    change_status(promoters=PromoterRepository(table), user_id="u_b", action="freeze", reason="risk", by="admin:t",
                  now=NOW)
    result = attribute_order(network=ReferralRepositories.on(table), buyer_id="u_buyer", share=None, now=NOW)
    assert (result.l1_promoter_id, result.l2_promoter_id) == (None, "u_a")
    with pytest.raises(BindRefused):
        referral_binding.bind(Bind(customer_id="u_other", promoter_id="u_b", trigger="invite_code",
                                   source="invite_code", now=NOW, by="u_other"),
                              network=ReferralRepositories.on(table))


def test_a_customer_who_becomes_a_promoter_and_gains_an_upline_member_mid_bind_cannot_close_a_loop(
        table: Table, monkeypatch: pytest.MonkeyPatch) -> None:
    """C, a plain customer (nobody bound to them: the bind checks only the promoter's parent), reads
    to bind under P, whose parent is X. Before C's transaction, C becomes an active promoter and X
    binds under C. C's transaction must fail and decide again: X ← ... ← C ← X would be a loop."""
    from mall.dal.referral import BindFacts, ReferralReads
    from mall.dal.settings import SettingsRepository
    from mall.domain.settings import DistributionSettings
    from mall.schemas.referral import ApplyRequest
    from mall.services.referral.promoters import apply

    SettingsRepository(table).save(DistributionSettings(promoter_review="auto"), based_on=0, saved_by="t", now=NOW)
    codes = chain(table, "u_X", "u_P")  # X ← P
    customer(table, "u_C")
    real = ReferralReads.for_bind
    raced = {"once": True}

    def bind_facts(self: ReferralReads, customer_id: str, **which: Any) -> BindFacts:
        facts = real(self, customer_id, **which)
        if customer_id == "u_C" and raced["once"]:
            raced["once"] = False
            view = apply(network=ReferralRepositories.on(table), user_id="u_C", body=ApplyRequest(), now=NOW)
            assert view.status == "active"
            assert bind(table, "u_X", view.code) == "bound"  # X ← C now
        return facts

    monkeypatch.setattr(ReferralReads, "for_bind", bind_facts)
    assert bind(table, "u_C", codes["u_P"]) == "binding_cycle"
    for uid in ("u_X", "u_P", "u_C"):
        up = BindingRepository(table).ancestors(uid, max_depth=10)
        assert uid not in up
