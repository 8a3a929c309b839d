"""Who earns on an order, decided at its payment (``mall.domain.payment_snapshot.decide_basis``), and
the rule as ``GET /rules`` states it."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest

from mall.domain.catalog import Category
from mall.domain.payment_snapshot import (
    FIRST_PAYMENT_RULE,
    FIXED_AT_PAYMENT_RULE,
    PaymentFactsRead,
    PaymentSnapshot,
    build_snapshot,
    decide_basis,
)
from mall.domain.referral import Promoter
from mall.domain.rules_disclosure import all_texts, render
from mall.domain.settings import BindingMode, CommissionRates, DistributionSettings

NOW = datetime(2026, 11, 10, 8, tzinfo=UTC)


def _promoter(uid: str, status: str = "active", level: str = "basic") -> Promoter:
    return Promoter(user_id=uid, code=f"C{uid}", status=status, level_id=level)  # type: ignore[arg-type]


def _facts(mode: BindingMode = BindingMode.FIRST_PAYMENT, **changes: Any) -> PaymentFactsRead:
    base: dict[str, Any] = {
        "order_id": "o_2", "buyer_id": "u_buyer", "settings_version": 3,
        "settings": DistributionSettings(binding_mode=mode), "placement": {"l1_promoter_id": "u_s2",
                                                                            "basis": "share_first_payment"},
        "buyer_parent": None, "parent_of": {"u_s1": "u_r", "u_s2": None},
        "promoters": {uid: _promoter(uid) for uid in ("u_r", "u_s1", "u_s2")},
        "first_paid_order_id": None, "first_payment_sharer_id": None, "share_sharer_id": "u_s2",
        "categories": {"c_tea": Category(category_id="c_tea", name="茶", l1_rate_bp=1200), "c_gone": None},
    }
    base.update(changes)
    return PaymentFactsRead(**base)


def _who(facts: PaymentFactsRead) -> tuple[str | None, str | None, str, str | None]:
    decision = decide_basis(facts)
    a = decision.attribution
    return a.l1_promoter_id, a.l2_promoter_id, decision.binding, decision.sharer_id


def test_a_bound_buyer_goes_to_the_bound_chain_whatever_the_share_source() -> None:
    assert _who(_facts(buyer_parent="u_s1")) == ("u_s1", "u_r", "none", None)


def test_the_first_paid_order_claims_its_sharer() -> None:
    decision = decide_basis(_facts())
    assert (decision.attribution.l1_promoter_id, decision.binding, decision.claims_first_payment) == (
        "u_s2", "claims", True)


def test_an_order_paid_after_the_first_follows_the_first_orders_sharer_not_its_own() -> None:
    facts = _facts(first_paid_order_id="o_1", first_payment_sharer_id="u_s1")
    assert _who(facts) == ("u_s1", "u_r", "follows", "u_s1")
    assert decide_basis(facts).first_order_id == "o_1"


@pytest.mark.parametrize("changes", [
    {"share_sharer_id": None},  # no share source
    {"share_sharer_id": "u_buyer"},  # the buyer's own code
    {"promoters": {"u_s2": _promoter("u_s2", status="frozen")}},  # an inactive sharer cannot bind
    {"first_paid_order_id": "o_1"},  # the first paid order claimed nobody
])
def test_nobody_earns_when_no_binding_can_follow(changes: dict[str, Any]) -> None:
    assert _who(_facts(**changes)) == (None, None, "none", None)


def test_other_modes_never_attribute_an_unbound_buyer_to_a_share() -> None:
    assert _who(_facts(BindingMode.FIRST_CLICK)) == (None, None, "none", None)


def test_an_order_priced_with_the_self_purchase_discount_stays_unattributed() -> None:
    facts = _facts(buyer_parent="u_s1", placement={"l1_promoter_id": None, "basis": "self_purchase",
                                                   "self_purchase": True})
    assert _who(facts) == (None, None, "none", None)


def test_an_active_promoter_buying_for_themself_is_a_self_purchase_not_a_share() -> None:
    promoters = {uid: _promoter(uid) for uid in ("u_buyer", "u_s2")}
    assert _who(_facts(promoters=promoters)) == ("u_buyer", None, "none", None)  # rebate mode


def test_the_snapshot_keeps_states_and_rates_and_survives_its_stored_form() -> None:
    facts = _facts(promoters={"u_s1": _promoter("u_s1", level="senior"), "u_r": _promoter("u_r", status="frozen")},
                   buyer_parent="u_s1")
    snapshot = build_snapshot(facts, decide_basis(facts), taken_at=NOW)
    assert (snapshot.l1_promoter_id, snapshot.l2_promoter_id) == ("u_s1", None)  # a frozen L2 is not paid
    assert snapshot.promoters["u_s1"].level_id == "senior"
    assert snapshot.categories == {"c_gone": None, "c_tea": {"l1_rate_bp": 1200, "l2_rate_bp": None}}
    assert PaymentSnapshot.from_dict(snapshot.as_dict()) == snapshot
    assert snapshot.earning() == ("u_s1", None)


def test_a_claim_earns_only_once_its_binding_was_made() -> None:
    snapshot = build_snapshot(_facts(), decide_basis(_facts()), taken_at=NOW)
    assert snapshot.waits_for_binding
    assert snapshot.earning() == (None, None)
    assert snapshot.earning("bound") == ("u_s2", None)
    assert snapshot.earning("refused") == (None, None)


def test_get_rules_states_the_first_payment_rule_only_in_that_mode() -> None:
    rates = CommissionRates()
    first = all_texts(render(DistributionSettings(binding_mode=BindingMode.FIRST_PAYMENT, commission=rates),
                             version=1, effective_at=None))
    other = all_texts(render(DistributionSettings(binding_mode=BindingMode.FIRST_CLICK, commission=rates),
                             version=1, effective_at=None))
    assert FIRST_PAYMENT_RULE in first and FIRST_PAYMENT_RULE not in other
    assert FIXED_AT_PAYMENT_RULE in first and FIXED_AT_PAYMENT_RULE in other
