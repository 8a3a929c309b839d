"""The migrations that bring stored promoters, bindings and counters to the rules "levels follow
sales net of refunds" and "headcount counts only paying invitees", on DynamoDB Local: each one run
twice changes nothing more."""

from __future__ import annotations

from typing import Any

from mall.dal.referral import BindingRepository, PromoterRepository
from mall.dal.table import Table
from tests.integration.test_referral_concurrency import customer
from tests.integration.test_referral_levels import SENIOR, configure
from tools.migrations import effective_invitees, promoter_level_source, referral_past_refunds, referral_sales_base
from tools.migrations import run as run_migration

ORDER = ["promoter_level_source", "referral_sales_base", "effective_invitees", "referral_past_refunds"]
MODULES = {m.MIGRATION.name: m.MIGRATION for m in (promoter_level_source, referral_sales_base, effective_invitees,
                                                   referral_past_refunds)}


def legacy_promoter(table: Table, uid: str, level: str, *, own: int = 0, direct: int = 0) -> None:
    """A promoter item as written before the level's origin and 有效下线 were recorded."""
    customer(table, uid)
    table.put({"pk": f"USER#{uid}", "sk": "PROMOTER", "entity": "promoter", "user_id": uid, "code": f"C{uid[2:]}",
               "status": "active", "level_id": level, "applied_at": "2026-11-01T00:00:00+00:00",
               "direct_members": direct, "second_level_members": 0, "own_sales_fen": own, "team_sales_fen": own,
               "version": 2, "gsi1pk": "PROMOTERS#active", "gsi1sk": f"2026-11-01T00:00:00+00:00#{uid}"})


def history(table: Table, uid: str, action: str, to_level: str, at: str) -> None:
    table.put({"pk": f"USER#{uid}", "sk": f"PROMOTER_HISTORY#{at}#h1", "entity": "promoter_history",
               "user_id": uid, "action": action, "by": "system" if action == "upgrade" else "admin:t", "at": at,
               "from_level": "basic", "to_level": to_level})


def legacy_binding(table: Table, uid: str, parent: str, *, paid_orders: int) -> None:
    customer(table, uid)
    table.update({"pk": f"USER#{uid}", "sk": "PROFILE"}, "SET paid_order_count = :n", values={":n": paid_orders})
    table.put({"pk": f"USER#{uid}", "sk": "BINDING", "entity": "binding", "user_id": uid, "parent_id": parent,
               "bound_at": "2026-11-02T00:00:00+00:00", "source": "link", "trigger": "visit", "version": 1,
               "sales_fen": 0, "gsi1pk": f"TEAM#{parent}", "gsi1sk": f"2026-11-02T00:00:00+00:00#{uid}"})


def legacy_paid_order_and_refund(table: Table) -> None:
    """o_1 paid 12,000 of goods and 800 shipping, counted on the amount (12,800) for u_p; 6,000 of
    it refunded before refunds reduced the counters."""
    table.put({"pk": "ORDER#o_1", "sk": "ORDER", "entity": "order", "order_id": "o_1", "buyer_id": "u_c1",
               "status": "PAID", "amount_fen": 12_800, "shipping_fen": 800,
               "lines": [{"line_id": "1", "paid_fen": 12_000, "refunded_fen": 6_000, "distribution_enabled": True}],
               "attribution": {"l1_promoter_id": "u_p", "l2_promoter_id": None}})
    table.put({"pk": "REFERRAL_ORDER#o_1", "sk": "COUNTED", "entity": "referral_counted", "order_id": "o_1",
               "l1_promoter_id": "u_p", "amount_fen": 12_800, "at": "2026-11-03T00:00:00+00:00"})
    table.put({"pk": "ORDER#o_1", "sk": "REFUND#o_1-r1", "entity": "refund", "refund_id": "o_1-r1",
               "order_id": "o_1", "kind": "customer", "status": "SUCCEEDED", "amount_fen": 6_000, "shipping_fen": 0,
               "lines": [{"line_id": "1", "amount_fen": 6_000}]})


def state(table: Table) -> dict[str, Any]:
    repo = PromoterRepository(table)
    p, q = repo.get("u_p"), repo.get("u_q")
    assert p is not None and q is not None
    binding = BindingRepository(table).get("u_c1")
    return {"p": (p.level_id, p.level_source, p.own_sales_fen, p.team_sales_fen, p.effective_members),
            "q": (q.level_id, q.level_source), "c1_paid": binding is not None and binding.paid}


def test_the_migrations_bring_stored_data_to_the_new_rules_and_run_twice_change_nothing(table: Table) -> None:
    configure(table, SENIOR)
    legacy_promoter(table, "u_p", "senior", own=12_800, direct=2)
    history(table, "u_p", "upgrade", "senior", "2026-11-03T00:00:00+00:00")
    legacy_promoter(table, "u_q", "senior")
    history(table, "u_q", "set_level", "senior", "2026-11-04T00:00:00+00:00")
    legacy_binding(table, "u_c1", "u_p", paid_orders=1)
    legacy_binding(table, "u_c2", "u_p", paid_orders=0)
    legacy_paid_order_and_refund(table)

    changed = {name: run_migration(table, MODULES[name], page_size=3).changed for name in ORDER}
    assert changed == {"promoter_level_source": 2, "referral_sales_base": 1, "effective_invitees": 2,
                       "referral_past_refunds": 1}
    after = state(table)
    # 12,800 counted - 800 shipping - 6,000 refunded: the automatic level no longer holds; the admin's stays.
    assert after == {"p": ("basic", "auto", 6_000, 6_000, 1), "q": ("senior", "admin"), "c1_paid": True}
    downgrades = [h for h in PromoterRepository(table).history("u_p", limit=10, start_key=None)[0]
                  if h["action"] == "downgrade"]
    assert len(downgrades) == 1 and downgrades[0]["refund_id"] == "o_1-r1"

    again = {name: run_migration(table, MODULES[name], restart=True, page_size=3).changed for name in ORDER}
    assert again == dict.fromkeys(ORDER, 0) and state(table) == after
