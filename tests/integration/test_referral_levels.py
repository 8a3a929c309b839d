"""Levels follow sales, net of refunds, on DynamoDB Local: a refund takes back what it bought (the
counters lose the refunded distribution base, an automatic level no longer supported moves down
with a history entry, an admin's level stays), once however often it is delivered; and a headcount
condition counts only invitees who have paid an order (有效下线), each once."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from threading import Barrier
from typing import Any

from mall.dal.referral import BindingRepository, PromoterRepository
from mall.dal.settings import SettingsRepository
from mall.dal.table import Table
from mall.domain.settings import DistributionSettings, LevelUpgrade, PromoterLevel
from mall.services.referral import ReferralRepositories
from mall.services.referral.binding import admin_set_binding
from mall.services.referral.levels import evaluate_upgrade
from mall.services.referral.order_paid import OrderPaidRepositories, on_order_paid
from mall.services.referral.promoters import set_level
from mall.services.referral.refunds import RefundRepositories, on_refund_succeeded
from tests.integration.test_referral_concurrency import NOW, bind, chain, customer

LATER = datetime(2026, 11, 25, 8, 0, tzinfo=UTC)


def configure(table: Table, *levels: PromoterLevel) -> None:
    SettingsRepository(table).save(DistributionSettings(levels=[PromoterLevel(id="basic", name="普通"), *levels]),
                                   based_on=0, saved_by="admin:t", now=NOW)


SENIOR = PromoterLevel(id="senior", name="高级", l1_points_bp=300,
                       upgrade=LevelUpgrade(own_sales_at_least_fen=10_000))


def paid_order(table: Table, order_id: str, buyer: str, l1: str | None, l2: str | None, *,
               lines: list[tuple[int, bool]], shipping_fen: int = 0) -> dict[str, Any]:
    """A paid order item as placing an order stores it: ``lines`` are (paid_fen, distribution_enabled)."""
    item = {"pk": f"ORDER#{order_id}", "sk": "ORDER", "entity": "order", "order_id": order_id, "buyer_id": buyer,
            "status": "PAID", "amount_fen": sum(p for p, _ in lines) + shipping_fen, "shipping_fen": shipping_fen,
            "lines": [{"line_id": str(n + 1), "product_id": f"p{n}", "paid_fen": paid, "refunded_fen": 0,
                       "distribution_enabled": enabled} for n, (paid, enabled) in enumerate(lines)],
            "attribution": {"l1_promoter_id": l1, "l2_promoter_id": l2, "settings_version": 1, "basis": "binding",
                            "self_purchase": False}}
    table.put(item)
    return item


def succeeded_refund(order_id: str, n: int, lines: list[tuple[str, int]], shipping_fen: int = 0) -> dict[str, Any]:
    """The refund item as the stream delivers it once it SUCCEEDED."""
    return {"pk": f"ORDER#{order_id}", "sk": f"REFUND#{order_id}-r{n}", "entity": "refund",
            "refund_id": f"{order_id}-r{n}", "order_id": order_id, "kind": "customer", "status": "SUCCEEDED",
            "amount_fen": sum(a for _, a in lines) + shipping_fen, "shipping_fen": shipping_fen,
            "lines": [{"line_id": line_id, "amount_fen": amount} for line_id, amount in lines]}


def history(table: Table, uid: str) -> list[dict[str, Any]]:
    items, _ = PromoterRepository(table).history(uid, limit=50, start_key=None)
    return items


def test_a_refund_takes_back_the_sales_and_the_level_they_bought_once(table: Table) -> None:
    configure(table, SENIOR)
    codes = chain(table, "u_a", "u_b")
    customer(table, "u_buyer")
    assert bind(table, "u_buyer", codes["u_b"]) == "bound"
    # 12,000 on a line that takes part, 3,000 on one that does not, 800 shipping: the base is 12,000.
    order = paid_order(table, "o_1", "u_buyer", "u_b", "u_a", lines=[(12_000, True), (3_000, False)],
                       shipping_fen=800)
    on_order_paid(repos=OrderPaidRepositories.on(table), order=order, now=NOW)
    repo = PromoterRepository(table)
    b = repo.get("u_b")
    assert b is not None and (b.own_sales_fen, b.team_sales_fen, b.level_id) == (12_000, 12_000, "senior")

    refund = succeeded_refund("o_1", 1, [("1", 6_000), ("2", 3_000)], shipping_fen=0)
    workers = 6
    barrier = Barrier(workers)

    def deliver(_: int) -> bool:
        barrier.wait()
        return bool(on_refund_succeeded(repos=RefundRepositories.on(table), refund=refund, now=LATER)["counted"])

    with ThreadPoolExecutor(workers) as pool:
        assert sum(pool.map(deliver, range(workers))) == 1
    assert on_refund_succeeded(repos=RefundRepositories.on(table), refund=refund, now=LATER)["counted"] is False

    b, a = repo.get("u_b"), repo.get("u_a")
    assert b is not None and a is not None
    assert (b.own_sales_fen, b.team_sales_fen, b.level_id, b.level_source) == (6_000, 6_000, "basic", "auto")
    assert (a.own_sales_fen, a.team_sales_fen, a.level_id) == (0, 6_000, "basic")
    downgrades = [h for h in history(table, "u_b") if h["action"] == "downgrade"]
    assert len(downgrades) == 1
    assert (downgrades[0]["from_level"], downgrades[0]["to_level"], downgrades[0]["by"],
            downgrades[0]["refund_id"]) == ("senior", "basic", "system", "o_1-r1")

    # The next order is paid at the basic rate again: the level cannot be bought and refunded.
    assert evaluate_upgrade(network=ReferralRepositories.on(table), user_id="u_b", now=LATER) is None


def test_refunds_never_take_back_more_than_the_payment_counted_nor_the_shipping(table: Table) -> None:
    configure(table, SENIOR)
    codes = chain(table, "u_b")
    customer(table, "u_buyer")
    assert bind(table, "u_buyer", codes["u_b"]) == "bound"
    order = paid_order(table, "o_1", "u_buyer", "u_b", None, lines=[(5_000, True)], shipping_fen=700)
    on_order_paid(repos=OrderPaidRepositories.on(table), order=order, now=NOW)
    on_refund_succeeded(repos=RefundRepositories.on(table), refund=succeeded_refund("o_1", 1, [("1", 2_000)]),
                        now=LATER)
    shipping_only = {**succeeded_refund("o_1", 2, [], shipping_fen=700), "kind": "shipping"}
    assert on_refund_succeeded(repos=RefundRepositories.on(table), refund=shipping_only, now=LATER)["counted"] is False
    on_refund_succeeded(repos=RefundRepositories.on(table), refund=succeeded_refund("o_1", 3, [("1", 3_000)]),
                        now=LATER)
    b = PromoterRepository(table).get("u_b")
    assert b is not None and (b.own_sales_fen, b.team_sales_fen) == (0, 0)


def test_an_admins_level_stays_after_a_refund(table: Table) -> None:
    configure(table, SENIOR)
    codes = chain(table, "u_b")
    customer(table, "u_buyer")
    assert bind(table, "u_buyer", codes["u_b"]) == "bound"
    set_level(network=ReferralRepositories.on(table), user_id="u_b", level_id="senior", reason="key account",
              by="admin:t", now=NOW)
    order = paid_order(table, "o_1", "u_buyer", "u_b", None, lines=[(4_000, True)])
    on_order_paid(repos=OrderPaidRepositories.on(table), order=order, now=NOW)
    result = on_refund_succeeded(repos=RefundRepositories.on(table), refund=succeeded_refund("o_1", 1, [("1", 4_000)]),
                                 now=LATER)
    assert result["counted"] is True and result["downgraded"] == []
    b = PromoterRepository(table).get("u_b")
    assert b is not None and (b.own_sales_fen, b.level_id, b.level_source) == (0, "senior", "admin")


def test_a_headcount_condition_counts_only_invitees_who_paid_each_once(table: Table) -> None:
    configure(table, PromoterLevel(id="senior", name="高级", l1_points_bp=300,
                                   upgrade=LevelUpgrade(direct_members_at_least=2, own_sales_at_least_fen=1_000)))
    codes = chain(table, "u_p", "u_q")
    for uid in ("u_c1", "u_c2", "u_c3"):
        customer(table, uid)
        assert bind(table, uid, codes["u_p"]) == "bound"
    repo = PromoterRepository(table)
    first = paid_order(table, "o_1", "u_c1", "u_p", None, lines=[(5_000, True)])
    for _ in range(3):  # redelivered
        on_order_paid(repos=OrderPaidRepositories.on(table), order=first, now=NOW)
    p = repo.get("u_p")
    assert p is not None and (p.direct_members, p.effective_members, p.own_sales_fen) == (4, 1, 5_000)
    assert p.level_id == "basic"  # three sign-ups (and a promoter) but one paying invitee: not enough

    second = paid_order(table, "o_2", "u_c2", "u_p", None, lines=[(500, True)])
    with ThreadPoolExecutor(4) as pool:
        list(pool.map(lambda _: on_order_paid(repos=OrderPaidRepositories.on(table), order=second, now=NOW), range(4)))
    p = repo.get("u_p")
    assert p is not None and (p.effective_members, p.level_id) == (2, "senior")
    binding = BindingRepository(table).get("u_c2")
    assert binding is not None and binding.paid

    # A paying invitee who moves takes their count along; one who has paid before binding counts at once.
    admin_set_binding(network=ReferralRepositories.on(table), customer_id="u_c1", promoter_code=codes["u_q"],
                      reason="moved", by="admin:t", now=NOW)
    customer(table, "u_c4")
    table.update({"pk": "USER#u_c4", "sk": "PROFILE"}, "SET paid_order_count = :n", values={":n": 1})
    assert bind(table, "u_c4", codes["u_q"]) == "bound"
    p, q = repo.get("u_p"), repo.get("u_q")
    assert p is not None and q is not None
    assert (p.effective_members, q.effective_members) == (1, 2)


def test_a_payment_landing_while_its_buyer_binds_is_still_counted_once(table: Table,
                                                                       monkeypatch: Any) -> None:
    """The bind read the profile before the payment; the paid-order worker ran before the binding
    existed (nothing to flag). The bind's check of the profile makes it decide again, as paid."""
    from mall.dal.referral import BindFacts, ReferralReads

    codes = chain(table, "u_p")
    customer(table, "u_c")
    real = ReferralReads.for_bind
    stale = {"once": True}

    def bind_facts(self: ReferralReads, customer_id: str, **which: Any) -> BindFacts:
        facts = real(self, customer_id, **which)
        if customer_id == "u_c" and stale["once"]:
            stale["once"] = False
            table.update({"pk": "USER#u_c", "sk": "PROFILE"}, "SET paid_order_count = :n", values={":n": 1})
            on_order_paid(repos=OrderPaidRepositories.on(table),
                          order=paid_order(table, "o_1", "u_c", None, None, lines=[(100, True)]), now=NOW)
        return facts

    monkeypatch.setattr(ReferralReads, "for_bind", bind_facts)
    assert bind(table, "u_c", codes["u_p"]) == "bound"
    binding = BindingRepository(table).get("u_c")
    p = PromoterRepository(table).get("u_p")
    assert binding is not None and binding.paid and p is not None and p.effective_members == 1
