"""The referral rules, pure: thresholds, transitions, overrides, binding decisions, counts, levels,
attribution."""

from __future__ import annotations

from dataclasses import asdict, replace
from datetime import UTC, datetime, timedelta

import pytest

from mall.domain import referral as rules
from mall.domain.referral import (
    ApplicantFacts,
    Binding,
    BindRefused,
    BindRequest,
    Counters,
    Promoter,
)
from mall.domain.settings import (
    BindingMode,
    BindingValidity,
    CommissionRates,
    DistributionSettings,
    LevelUpgrade,
    PromoterLevel,
    PromoterThreshold,
)
from mall.errors import Conflict, Forbidden, InvalidInput, NotFound

NOW = datetime(2026, 11, 22, 8, 0, tzinfo=UTC)


def promoter(uid: str = "u_p", status: rules.PromoterStatus = "active", level: str = "basic") -> Promoter:
    return Promoter(user_id=uid, code=f"C{uid[-4:]}", status=status, level_id=level)


def binding(uid: str, parent: str, at: datetime = NOW) -> Binding:
    return Binding(user_id=uid, parent_id=parent, bound_at=at, source="link", trigger="visit")


LEVELS = [
    PromoterLevel(id="basic", name="普通"),
    PromoterLevel(id="senior", name="高级", l1_points_bp=300,
                  upgrade=LevelUpgrade(direct_members_at_least=3, own_sales_at_least_fen=10_000)),
    PromoterLevel(id="partner", name="合伙人", l1_points_bp=500, l2_points_bp=200,
                  upgrade=LevelUpgrade(team_sales_at_least_fen=100_000)),
]


# -- codes and texts --------------------------------------------------------------------------


def test_codes_are_short_alphanumeric_and_usable_as_a_qr_scene() -> None:
    codes = {rules.new_promoter_code() for _ in range(500)}
    assert len(codes) == 500
    assert all(rules.is_valid_code(c) and len(c) <= 32 for c in codes)
    assert not rules.is_valid_code("ab-c") and not rules.is_valid_code("x" * 33) and not rules.is_valid_code("")


def test_share_link_carries_the_code_as_scene() -> None:
    assert rules.share_link("pages/index/index", "AB12") == "pages/index/index?scene=AB12"
    target = rules.share_target("pages/share/landing", "AB12")
    assert (target.page, target.scene, target.link) == ("pages/share/landing", "AB12", "pages/share/landing?scene=AB12")


@pytest.mark.parametrize("page", ["pages/p?x=1", "/pages/index/index", "pages/index/", "pages/in dex", "p" * 129])
def test_a_share_page_a_qr_could_not_open_is_refused(page: str) -> None:
    # One rule for the link, the QR and the poster: a page WeChat's QR API refuses is no share page.
    with pytest.raises(ValueError, match="SHARE_PAGE"):
        rules.share_link(page, "AB12")


def test_a_blank_share_page_is_the_default_and_a_code_must_be_a_valid_scene() -> None:
    assert rules.share_page_from(None) == rules.share_page_from("  ") == rules.DEFAULT_SHARE_PAGE
    assert rules.share_page_from(" pages/a/b ") == "pages/a/b"
    with pytest.raises(ValueError, match="scene"):
        rules.share_link("pages/index/index", "no/slash")


def test_banned_phrases_in_promoter_text_are_refused_naming_the_phrase() -> None:
    settings = DistributionSettings(banned_phrases=["月入十万"])
    with pytest.raises(InvalidInput) as caught:
        rules.refuse_banned_text("nickname", "轻松 躺 赚", settings)
    assert caught.value.fields[0].field == "nickname" and "躺赚" in caught.value.fields[0].reason
    with pytest.raises(InvalidInput):
        rules.refuse_banned_text("nickname", "月入十万的我", settings)
    rules.refuse_banned_text("nickname", "小明", settings)
    rules.refuse_banned_text("nickname", None, settings)


# -- becoming a promoter ----------------------------------------------------------------------


def test_threshold_none_always_passes() -> None:
    rules.check_threshold(PromoterThreshold(), ApplicantFacts(paid_total_fen=0))


def test_threshold_spent_at_least() -> None:
    threshold = PromoterThreshold(kind="spent_at_least", spent_at_least_fen=10_000)
    rules.check_threshold(threshold, ApplicantFacts(paid_total_fen=10_000))
    with pytest.raises(Forbidden) as caught:
        rules.check_threshold(threshold, ApplicantFacts(paid_total_fen=9_999))
    assert caught.value.code == "promoter_threshold_not_met" and caught.value.details["required_fen"] == 10_000


def test_threshold_bought_product() -> None:
    threshold = PromoterThreshold(kind="bought_product", product_ids=["p1", "p2"])
    rules.check_threshold(threshold, ApplicantFacts(0, frozenset({"p2"})))
    with pytest.raises(Forbidden):
        rules.check_threshold(threshold, ApplicantFacts(0, frozenset({"p3"})))


def test_the_current_rules_version_must_be_accepted() -> None:
    rules.check_rules_accepted(3, 3)
    rules.check_rules_accepted(None, 3)  # not sent: the current version is recorded
    with pytest.raises(Conflict) as caught:
        rules.check_rules_accepted(2, 3)
    assert caught.value.code == "rules_changed" and caught.value.details["current_version"] == 3


def test_review_mode_decides_the_first_status() -> None:
    assert rules.status_after_application(DistributionSettings(promoter_review="auto")) == "active"
    assert rules.status_after_application(DistributionSettings(promoter_review="manual")) == "applied"


def test_one_application_per_customer_but_a_rejected_one_may_apply_again() -> None:
    rules.check_can_apply(None)
    rules.check_can_apply(promoter(status="rejected"))
    with pytest.raises(Conflict) as caught:
        rules.check_can_apply(promoter(status="applied"))
    assert caught.value.details["status"] == "applied"


@pytest.mark.parametrize(("status", "action", "target"), [
    ("applied", "approve", "active"), ("applied", "reject", "rejected"), ("active", "freeze", "frozen"),
    ("frozen", "unfreeze", "active"), ("active", "disable", "disabled"), ("frozen", "disable", "disabled"),
    ("applied", "disable", "disabled"),
])
def test_allowed_transitions(status: rules.PromoterStatus, action: rules.PromoterAction, target: str) -> None:
    assert rules.transition(promoter(status=status), action, "because") == target


@pytest.mark.parametrize(("status", "action"), [
    ("active", "approve"), ("rejected", "approve"), ("disabled", "unfreeze"), ("active", "unfreeze"),
    ("frozen", "freeze"), ("disabled", "disable"), ("active", "reject"),
])
def test_refused_transitions_name_the_current_status(status: rules.PromoterStatus,
                                                     action: rules.PromoterAction) -> None:
    with pytest.raises(Conflict) as caught:
        rules.transition(promoter(status=status), action, "because")
    assert caught.value.details["status"] == status


@pytest.mark.parametrize("action", ["reject", "freeze", "disable"])
def test_a_reason_is_required_to_reject_freeze_and_disable(action: rules.PromoterAction) -> None:
    with pytest.raises(InvalidInput) as caught:
        rules.transition(promoter(status="applied" if action == "reject" else "active"), action, "  ")
    assert caught.value.fields[0].field == "reason"


def test_override_plus_level_points_may_not_exceed_the_cap() -> None:
    settings = DistributionSettings(levels=LEVELS)
    senior = settings.level("senior")
    rules.check_override(2000, None, senior, settings)  # 2000 + 300 + 500 = 2800
    with pytest.raises(InvalidInput) as caught:
        rules.check_override(2300, None, senior, settings)  # 2300 + 300 + 500 = 3100
    assert caught.value.code == "override_exceeds_cap" and caught.value.fields[0].field == "l1_override_bp"
    with pytest.raises(InvalidInput) as caught:
        rules.check_override(None, 1500, settings.level("partner"), settings)  # 1000+500+1500+200
    assert caught.value.fields[0].field == "l2_override_bp"


# -- levels ------------------------------------------------------------------------------------


def test_upgrade_goes_to_the_highest_level_whose_conditions_all_hold() -> None:
    settings = DistributionSettings(levels=LEVELS)
    assert rules.upgrade_target(settings, "basic", Counters(2, 50_000, 0)) is None  # members short
    assert rules.upgrade_target(settings, "basic", Counters(3, 10_000, 0)) == "senior"
    assert rules.upgrade_target(settings, "basic", Counters(3, 10_000, 100_000)) == "partner"
    assert rules.upgrade_target(settings, "partner", Counters(0, 0, 0)) is None  # never down on evaluation


def test_a_level_without_conditions_is_never_reached_automatically() -> None:
    settings = DistributionSettings(levels=[PromoterLevel(id="basic", name="普通"),
                                            PromoterLevel(id="vip", name="VIP")])
    assert rules.upgrade_target(settings, "basic", Counters(1000, 10**9, 10**9)) is None


def test_downgrade_after_the_idle_period_one_level_at_a_time() -> None:
    settings = DistributionSettings(levels=LEVELS, level_downgrade_inactive_days=90)
    idle = NOW - timedelta(days=90)
    assert rules.downgrade_target(settings, "partner", idle, NOW) == "senior"
    assert rules.downgrade_target(settings, "partner", NOW - timedelta(days=89), NOW) is None
    assert rules.downgrade_target(settings, "basic", idle, NOW) is None


def test_progress_shows_the_next_levels_conditions() -> None:
    settings = DistributionSettings(levels=LEVELS)
    progress = rules.progress_to_next(settings, "basic", Counters(1, 12_000, 0))
    assert progress.next_level_id == "senior"
    assert [(r.name, r.required, r.current, r.met) for r in progress.requirements] == [
        ("direct_members", 3, 1, False), ("own_sales_fen", 10_000, 12_000, True)]
    assert rules.progress_to_next(settings, "partner", Counters(0, 0, 0)).next_level_id is None


# -- binding -----------------------------------------------------------------------------------


def request(customer: str = "u_c", trigger: rules.BindTrigger = "visit", paid: int = 0) -> BindRequest:
    return BindRequest(customer_id=customer, trigger=trigger, source="link", paid_orders_before=paid)


def decide(*, req: BindRequest | None = None, target: Promoter | None = None, current: Binding | None = None,
           ancestors: tuple[str, ...] = (), settings: DistributionSettings | None = None,
           now: datetime = NOW) -> str:
    decision = rules.decide_bind(request=req or request(), promoter=target if target is not None else promoter(),
                                 current=current, target_ancestors=ancestors,
                                 settings=settings or DistributionSettings(), now=now)
    return decision.outcome


def refusal(**kwargs: object) -> BindRefused:
    with pytest.raises(BindRefused) as caught:
        decide(**kwargs)  # type: ignore[arg-type]
    return caught.value


def test_an_unbound_customer_is_bound() -> None:
    assert decide() == "bind"


def test_self_binding_is_refused_hard() -> None:
    refused = refusal(req=request(customer="u_p"))
    assert refused.hard and refused.error.code == "self_binding" and isinstance(refused.error, InvalidInput)


def test_binding_into_your_own_downline_at_any_depth_is_refused() -> None:
    # target's ancestors include the customer: A is the customer, D's chain is C, B, A
    refused = refusal(req=request(customer="u_A"), target=promoter("u_D"), ancestors=("u_C", "u_B", "u_A"))
    assert refused.hard and refused.error.code == "binding_cycle"


def test_binding_to_a_promoter_not_active_is_refused() -> None:
    for status in ("applied", "frozen", "disabled", "rejected"):
        refused = refusal(target=promoter(status=status))
        assert refused.hard and refused.error.code == "promoter_not_active"


def test_an_unknown_promoter_is_not_found() -> None:
    with pytest.raises(BindRefused) as caught:
        rules.decide_bind(request=request(), promoter=None, current=None, target_ancestors=(),
                          settings=DistributionSettings(), now=NOW)
    assert isinstance(caught.value.error, NotFound)


def test_binding_modes_decide_which_trigger_binds() -> None:
    click = DistributionSettings(binding_mode=BindingMode.FIRST_CLICK)
    payment = DistributionSettings(binding_mode=BindingMode.FIRST_PAYMENT)
    code = DistributionSettings(binding_mode=BindingMode.INVITE_CODE)
    assert decide(settings=click) == "bind"
    assert refusal(settings=payment).error.code == "binding_mode_mismatch"
    assert refusal(settings=code).error.code == "binding_mode_mismatch"
    assert decide(req=request(trigger="first_payment"), settings=payment) == "bind"
    assert refusal(req=request(trigger="first_payment"), settings=click).error.code == "binding_mode_mismatch"
    for settings in (click, payment, code):
        assert decide(req=request(trigger="invite_code"), settings=settings) == "bind"


def test_permanent_binding_never_rebinds() -> None:
    refused = refusal(target=promoter("u_q"), current=binding("u_c", "u_p", NOW - timedelta(days=3650)))
    assert not refused.hard and refused.error.code == "already_bound"
    assert refused.error.details["binding"]["parent_id"] == "u_p"  # type: ignore[index]


def test_protection_period_then_another_promoter_may_rebind() -> None:
    settings = DistributionSettings(binding_validity=BindingValidity(kind="protection", protection_days=30))
    current = binding("u_c", "u_p", NOW - timedelta(days=29))
    assert refusal(target=promoter("u_q"), current=current, settings=settings).error.code == "already_bound"
    later = replace(current, bound_at=NOW - timedelta(days=30))
    assert decide(target=promoter("u_q"), current=later, settings=settings) == "rebind"


def test_the_same_promoter_again_is_unchanged() -> None:
    assert decide(current=binding("u_c", "u_p")) == "unchanged"


def test_only_new_customers_never_binds_a_customer_who_paid_before() -> None:
    settings = DistributionSettings(only_new_customers=True)
    assert refusal(req=request(paid=1), settings=settings).error.code == "not_a_new_customer"
    assert decide(req=request(paid=0), settings=settings) == "bind"
    assert decide(req=request(paid=5)) == "bind"  # the option is off by default


def test_an_admin_may_rebind_a_permanent_binding_but_not_break_the_hard_rules() -> None:
    current = binding("u_c", "u_p")
    assert decide(req=request(trigger="admin"), target=promoter("u_q"), current=current) == "rebind"
    assert refusal(req=request(trigger="admin", customer="u_A"), target=promoter("u_D"),
                   ancestors=("u_A",)).error.code == "binding_cycle"


def test_member_counts_follow_the_customer_and_their_own_team() -> None:
    deltas = rules.member_count_deltas(customer_direct_members=4, old_parent=None, old_grandparent=None,
                                       new_parent="P", new_grandparent="G")
    assert deltas == {"P": {"direct_members": 1, "second_level_members": 4}, "G": {"second_level_members": 1}}
    moved = rules.member_count_deltas(customer_direct_members=2, old_parent="P0", old_grandparent="G0",
                                      new_parent="P", new_grandparent="G0")
    assert moved == {"P0": {"direct_members": -1, "second_level_members": -2},
                     "P": {"direct_members": 1, "second_level_members": 2}}
    # the old parent is the new grandparent: one entry, merged
    merged = rules.member_count_deltas(customer_direct_members=0, old_parent="P0", old_grandparent=None,
                                       new_parent="P", new_grandparent="P0")
    assert merged == {"P0": {"direct_members": -1, "second_level_members": 1}, "P": {"direct_members": 1}}


# -- attribution ---------------------------------------------------------------------------------


def attribute(buyer: str = "u_b", *, parent: str | None = "u_p", grand: str | None = "u_g",
              promoters: dict[str, Promoter] | None = None, sharer: Promoter | None = None, bindable: bool = True,
              settings: DistributionSettings | None = None) -> rules.Attribution:
    found = promoters if promoters is not None else {"u_p": promoter("u_p"), "u_g": promoter("u_g")}
    parent_of: dict[str, str | None] = {}
    if parent:
        parent_of[parent] = grand
    if sharer is not None:
        parent_of[sharer.user_id] = grand
    return rules.attribute(buyer_id=buyer, buyer_parent=parent, parent_of=parent_of, promoters=found, sharer=sharer,
                           sharer_bindable=bindable, settings=settings or DistributionSettings(), settings_version=7)


def test_attribution_follows_the_binding_two_levels_and_never_three() -> None:
    result = attribute()
    assert asdict(result) == {"l1_promoter_id": "u_p", "l2_promoter_id": "u_g", "settings_version": 7,
                              "basis": "binding", "self_purchase": False}
    assert set(asdict(result)) == {"l1_promoter_id", "l2_promoter_id", "settings_version", "basis", "self_purchase"}


def test_an_inactive_level_is_empty_not_shifted_up() -> None:
    result = attribute(promoters={"u_p": promoter("u_p", status="frozen"), "u_g": promoter("u_g")})
    assert (result.l1_promoter_id, result.l2_promoter_id) == (None, "u_g")
    result = attribute(promoters={"u_p": promoter("u_p"), "u_g": promoter("u_g", status="disabled")})
    assert (result.l1_promoter_id, result.l2_promoter_id) == ("u_p", None)


def test_self_purchase_modes() -> None:
    found = {"u_b": promoter("u_b"), "u_p": promoter("u_p"), "u_g": promoter("u_g")}
    rebate = attribute(promoters=found,
                       settings=DistributionSettings(commission=CommissionRates(self_purchase="rebate")))
    assert (rebate.l1_promoter_id, rebate.l2_promoter_id, rebate.basis, rebate.self_purchase) == (
        "u_b", "u_p", "self_purchase", True)
    none = attribute(promoters=found, settings=DistributionSettings(commission=CommissionRates(self_purchase="none")))
    assert (none.l1_promoter_id, none.l2_promoter_id, none.basis, none.self_purchase) == ("u_p", "u_g", "binding", True)
    discount = attribute(promoters=found,
                         settings=DistributionSettings(commission=CommissionRates(self_purchase="discount")))
    assert (discount.l1_promoter_id, discount.l2_promoter_id, discount.self_purchase) == (None, None, True)


def test_first_payment_mode_attributes_an_unbound_buyer_to_the_sharer() -> None:
    payment = DistributionSettings(binding_mode=BindingMode.FIRST_PAYMENT)
    sharer = promoter("u_s")
    found = {"u_s": sharer, "u_g": promoter("u_g")}
    result = attribute(parent=None, promoters=found, sharer=sharer, settings=payment)
    assert (result.l1_promoter_id, result.l2_promoter_id, result.basis) == ("u_s", "u_g", "share_first_payment")
    assert attribute(parent=None, promoters=found, sharer=sharer, settings=payment, bindable=False).basis == "none"
    assert attribute(parent=None, promoters=found, sharer=sharer).basis == "none"  # first_click mode
    assert attribute(parent=None, promoters={}, sharer=None, settings=payment).basis == "none"
