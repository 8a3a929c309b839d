"""Rules disclosure (规则公示): the page matches the settings it was generated from (each relevant
setting changed → the disclosure changes with it), shows exactly two earning levels, never carries a
banned phrase; GET /rules through the real handler; applying records the accepted rules version."""

from __future__ import annotations

import itertools
from collections.abc import Callable
from typing import Any

import pytest

from mall.api.auth import signing_key
from mall.clock import iso, utc_now
from mall.dal.referral import PromoterRepository
from mall.dal.settings import SettingsRepository
from mall.dal.table import main_table
from mall.domain import rules_disclosure as rd
from mall.domain.notifications import NotificationSettings
from mall.domain.risk_rules import RiskRules
from mall.domain.settings import (
    DEFAULT_BANNED_PHRASES,
    BindingMode,
    BindingValidity,
    CommissionRates,
    DistributionSettings,
    LevelUpgrade,
    OrderRules,
    PromoterLevel,
    PromoterThreshold,
    WithdrawalRules,
)
from mall.domain.team_bonus import TeamBonusRules
from mall.domain.tokens import Role, issue_token
from tests.unit.conftest import Invoke

BASE = DistributionSettings()


def settings(**changes: Any) -> DistributionSettings:
    return DistributionSettings.model_validate({**BASE.model_dump(), **changes})


def sub(model: Any, **changes: Any) -> dict[str, Any]:
    dumped: dict[str, Any] = model.model_dump()
    return {**dumped, **changes}


def item(d: rd.Disclosure, section: str, key: str) -> rd.RuleItem:
    for s in d.sections:
        if s.key == section:
            for i in s.items:
                if i.key == key:
                    return i
    raise AssertionError(f"no item {section}.{key} in {[s.key for s in d.sections]}")


def render(s: DistributionSettings, version: int = 1) -> rd.Disclosure:
    return rd.render(s, version=version, effective_at=None)


# (what changes, section, item, expected value, a fragment the text must contain)
CASES: list[tuple[str, DistributionSettings, str, str, Any, str]] = [
    ("l1 rate", settings(commission=sub(CommissionRates(), l1_rate_bp=1250)), "commission", "l1_rate", 1250, "12.5%"),
    ("l2 rate", settings(commission=sub(CommissionRates(), l2_rate_bp=300)), "commission", "l2_rate", 300, "3%"),
    ("cap", settings(commission=sub(CommissionRates(), cap_bp=2000)), "commission", "cap", 2000, "20%"),
    ("self purchase none", settings(commission=sub(CommissionRates(), self_purchase="none")), "commission",
     "self_purchase", "none", "上级获得一级佣金"),
    ("self purchase discount", settings(commission=sub(CommissionRates(), self_purchase="discount")), "commission",
     "self_purchase", "discount", "减免"),
    ("settlement days", settings(commission=sub(CommissionRates(), settlement_days=15)), "settlement",
     "settlement_days", 15, "15 天"),
    ("auto confirm", settings(orders=sub(OrderRules(), auto_confirm_days=7)), "settlement", "auto_confirm_days", 7,
     "7 天"),
    ("auto confirm from delivery", settings(orders=sub(OrderRules(), auto_confirm_days=7)), "settlement",
     "auto_confirm_from", "delivery", "签收时起算"),
    ("auto confirm from shipment", settings(orders=sub(OrderRules(), auto_confirm_from="shipment")), "settlement",
     "auto_confirm_from", "shipment", "发货时起算"),
    ("binding mode", settings(binding_mode=BindingMode.INVITE_CODE), "binding", "mode", "invite_code", "邀请码"),
    ("binding first payment", settings(binding_mode=BindingMode.FIRST_PAYMENT), "binding", "mode", "first_payment",
     "首次支付"),
    ("protection period", settings(binding_validity=BindingValidity(kind="protection", protection_days=30)),
     "binding", "protection_days", 30, "30 天"),
    ("only new customers", settings(only_new_customers=True), "binding", "only_new_customers", True, "新客户"),
    ("withdrawal minimum", settings(withdrawal=sub(WithdrawalRules(), min_fen=10_000)), "withdrawal", "min_fen",
     10_000, "¥100"),
    ("withdrawal maximum", settings(withdrawal=sub(WithdrawalRules(), max_fen=150_050)), "withdrawal", "max_fen",
     150_050, "¥1,500.50"),
    ("daily count", settings(withdrawal=sub(WithdrawalRules(), daily_count=5)), "withdrawal", "daily_count", 5,
     "5 次"),
    ("daily amount", settings(withdrawal=sub(WithdrawalRules(), daily_amount_fen=800_000)), "withdrawal",
     "daily_amount_fen", 800_000, "¥8,000"),
    ("fee rate", settings(withdrawal=sub(WithdrawalRules(), fee_rate_bp=60)), "withdrawal", "fee_rate", 60, "0.6%"),
    ("fee free below", settings(withdrawal=sub(WithdrawalRules(), fee_free_below_fen=20_000)), "withdrawal",
     "fee_free_below_fen", 20_000, "¥200"),
    ("fee minimum", settings(withdrawal=sub(WithdrawalRules(), fee_min_fen=200)), "withdrawal", "fee_min_fen", 200,
     "¥2"),
    ("methods", settings(withdrawal=sub(WithdrawalRules(), methods=["wechat", "bank"])), "withdrawal", "methods",
     "wechat,bank", "银行卡"),
    ("auto review", settings(withdrawal=sub(WithdrawalRules(), auto_review_below_fen=0)), "withdrawal", "review", 0,
     "均需人工审核"),
    ("threshold", settings(promoter_threshold=PromoterThreshold(kind="spent_at_least", spent_at_least_fen=9_900)),
     "promoter", "threshold", 9_900, "¥99"),
    ("bought product", settings(promoter_threshold=PromoterThreshold(kind="bought_product", product_ids=["p1"])),
     "promoter", "threshold", "bought_product", "指定商品"),
    ("review", settings(promoter_review="auto"), "promoter", "review", "auto", "自动通过"),
    ("title", settings(promoter_title="推客"), "overview", "promoter_title", "推客", "推客"),
    ("downgrade", settings(level_downgrade_inactive_days=60), "levels", "downgrade_inactive_days", 60, "60 天"),
    ("level points", settings(levels=[PromoterLevel(id="basic", name="普通"),
                                      PromoterLevel(id="gold", name="高级", l1_points_bp=300, l2_points_bp=100,
                                                    upgrade=LevelUpgrade(own_sales_at_least_fen=100_000))]),
     "levels", "level.gold", 1300, "¥1,000"),
]


@pytest.mark.parametrize(("name", "changed", "section", "key", "value", "fragment"), CASES,
                         ids=[c[0] for c in CASES])
def test_each_setting_shows_in_the_disclosure(name: str, changed: DistributionSettings, section: str, key: str,  # noqa: PLR0917
                                              value: Any, fragment: str) -> None:
    before, after = render(BASE), render(changed)
    shown = item(after, section, key)
    assert shown.value == value, name
    assert fragment in shown.text, (name, shown.text)
    try:
        unchanged = item(before, section, key)
    except AssertionError:
        return  # the item exists only with the new setting (e.g. the protection period)
    assert (unchanged.value, unchanged.text) != (shown.value, shown.text), name


def test_rates_are_integers_with_display_texts() -> None:
    assert [rd.percent(bp) for bp in (1000, 500, 250, 125, 3, 0)] == ["10%", "5%", "2.5%", "1.25%", "0.03%", "0%"]
    assert [rd.yuan(f) for f in (5000, 5050, 199_999, 0)] == ["¥50", "¥50.50", "¥1,999.99", "¥0"]
    d = render(BASE)
    for section in d.sections:
        for i in section.items:
            if i.unit in ("fen", "bp", "days", "count"):
                assert type(i.value) is int, i


def test_exactly_two_earning_levels_whatever_the_promoter_levels() -> None:
    levels = [PromoterLevel(id=f"l{n}", name=f"等级{n}", l1_points_bp=n * 10) for n in range(10)]
    d = render(settings(levels=levels))
    assert [(e.level, e.name) for e in d.earning_levels] == [(1, "一级"), (2, "二级")]
    assert [e.rate_bp for e in d.earning_levels] == [1000, 500]
    assert len(d.levels) == 10 and d.levels[3].l1_rate_bp == 1030
    assert item(d, "overview", "earning_levels").value == 2


def test_optional_sections_appear_only_when_configured() -> None:
    keys = [s.key for s in render(BASE).sections]
    assert keys == ["overview", "commission", "levels", "binding", "settlement", "withdrawal", "refund", "promoter",
                    "coupons"]
    bonus = TeamBonusRules.model_validate({"enabled": True, "tiers": [
        {"min_team_sales_fen": 1_000_000, "bonus_bp": 100}, {"min_team_sales_fen": 5_000_000, "bonus_bp": 300}]})
    risk = RiskRules.model_validate({"self_dealing": {"mode": "enforce"}})
    notifications = NotificationSettings.model_validate({"withdrawal_status": {"enabled": True, "template_id": "T1"}})
    d = render(settings(team_bonus=bonus, risk=risk, notifications=notifications))
    assert [s.key for s in d.sections][-3:] == ["team_bonus", "risk", "notifications"]
    assert item(d, "team_bonus", "tier.2").value == 300 and "¥50,000" in item(d, "team_bonus", "tier.2").text
    assert item(d, "team_bonus", "tier.1.min_team_sales_fen").value == 1_000_000
    assert "人数无关" in item(d, "team_bonus", "team_sales").text
    assert [i.key for i in next(s for s in d.sections if s.key == "risk").items] == ["check.self_dealing", "effect"]
    assert item(d, "notifications", "event.withdrawal_status").value is True
    # observe-only risk rules change nothing for a promoter; a disabled bonus pays nothing: not shown
    quiet = render(settings(risk=RiskRules(), team_bonus=TeamBonusRules()))
    assert {"risk", "team_bonus", "notifications"}.isdisjoint(s.key for s in quiet.sections)


def test_risk_thresholds_are_never_disclosed() -> None:
    risk = RiskRules.model_validate({"shared_device": {"mode": "enforce", "device_accounts": 7}})
    d = render(settings(risk=risk))
    assert not any("7" in t for t in (i.text for s in d.sections if s.key == "risk" for i in s.items))


def _variants() -> list[DistributionSettings]:
    bonus = TeamBonusRules.model_validate({"enabled": True, "tiers": [{"min_team_sales_fen": 100, "bonus_bp": 50}]})
    risk = RiskRules.model_validate({name: {"mode": "enforce"} for name in
                                     ("shared_device", "self_dealing", "refund_ratio", "commission_spike",
                                      "withdrawal_burst")})
    notifications = NotificationSettings.model_validate(
        {name: {"enabled": True, "template_id": "T"} for name in
         ("commission_earned", "commission_settled", "withdrawal_status", "team_member_joined")})
    found = [BASE, settings(team_bonus=bonus, risk=risk, notifications=notifications)]
    for mode, purchase, threshold in itertools.product(
            BindingMode, ("rebate", "none", "discount"),
            (PromoterThreshold(), PromoterThreshold(kind="spent_at_least", spent_at_least_fen=1),
             PromoterThreshold(kind="bought_product", product_ids=["p"]))):
        found.append(settings(binding_mode=mode, commission=sub(CommissionRates(), self_purchase=purchase),
                              promoter_threshold=threshold, only_new_customers=True,
                              binding_validity=BindingValidity(kind="protection", protection_days=9)))
    return found


@pytest.mark.parametrize("variant", range(len(_variants())))
def test_no_text_contains_a_banned_phrase(variant: int) -> None:
    d = render(_variants()[variant])
    for text in rd.all_texts(d):
        squashed = "".join(text.split())
        assert not [p for p in DEFAULT_BANNED_PHRASES if p in squashed], text


def test_merchant_texts_with_a_banned_phrase_are_masked_even_if_they_slipped_past_validation() -> None:
    unchecked = DistributionSettings.model_construct(**{**dict(BASE), "promoter_title": "躺赚达人",
                                                        "banned_phrases": ["暴富"],
                                                        "levels": [PromoterLevel.model_construct(
                                                            id="x", name="暴富王", l1_points_bp=0, l2_points_bp=0,
                                                            upgrade=LevelUpgrade())]})
    texts = rd.all_texts(render(unchecked))
    assert not [t for t in texts if "躺赚" in t or "暴富" in t]
    assert "**达人" in texts


# ---- through the handlers -----------------------------------------------------------------------


def save(**changes: Any) -> int:
    repo = SettingsRepository(main_table())
    current = repo.current(consistent=True)
    return repo.save(settings(**{**current.settings.model_dump(), **changes}), based_on=current.version,
                     saved_by="admin:test", now=utc_now()).version


def get_rules(invoke: Invoke) -> tuple[int, dict[str, Any], dict[str, str]]:
    return invoke("rules_public", "GET", "/rules")


@pytest.mark.usefixtures("moto_table")
def test_get_rules_is_public_cached_briefly_and_follows_the_live_settings(invoke: Invoke) -> None:
    status, body, headers = get_rules(invoke)
    assert status == 200 and body["version"] == 0 and body["effective_at"] is None
    assert headers["Cache-Control"] == "public, max-age=60" and headers["ETag"] == '"rules-v0"'
    version = save(commission=sub(CommissionRates(), l1_rate_bp=1500), withdrawal=sub(WithdrawalRules(), min_fen=8_000))
    status, body, headers = get_rules(invoke)
    assert status == 200 and body["version"] == version == 1 and body["effective_at"]
    assert body["earning_levels"] == [{"level": 1, "name": "一级", "rate_bp": 1500, "rate_text": "15%"},
                                      {"level": 2, "name": "二级", "rate_bp": 500, "rate_text": "5%"}]
    sections = {s["key"]: {i["key"]: i for i in s["items"]} for s in body["sections"]}
    assert sections["withdrawal"]["min_fen"] == {"key": "min_fen", "label": "最低提现金额", "text": "单笔不低于 ¥80。",
                                                 "value": 8000, "unit": "fen"}
    assert sections["promoter"]["agreement"]["value"] == 1


# ---- applying records the accepted version --------------------------------------------------------


def customer(uid: str) -> None:
    main_table().put({"pk": f"USER#{uid}", "sk": "PROFILE", "entity": "customer", "user_id": uid, "openid": f"o{uid}",
                      "roles": ["customer"], "created_at": iso(utc_now())})


def apply(invoke: Invoke, uid: str, body: dict[str, Any]) -> tuple[int, dict[str, Any]]:
    token = issue_token(uid, frozenset({Role.CUSTOMER}), key=signing_key(), now=utc_now(), ttl_seconds=600)
    status, answer, _ = invoke("promoter_apply", "POST", "/promoter/apply", body=body,
                               headers={"authorization": f"Bearer {token}", "idempotency-key": f"apply-key-{uid}"})
    return status, answer


ApplyBody = Callable[[int], dict[str, Any]]


@pytest.mark.usefixtures("moto_table")
@pytest.mark.parametrize("make_body", [lambda v: {"rules_version": v}, lambda v: {"accepted_rules_version": v},
                                       lambda v: {}], ids=["rules_version", "former name", "absent"])
def test_applying_records_the_current_rules_version(invoke: Invoke, make_body: ApplyBody) -> None:
    save(promoter_review="auto")
    version = save(promoter_title="推客")
    customer("u_app")
    status, body = apply(invoke, "u_app", make_body(version))
    assert status == 201, body
    assert body["accepted_rules_version"] == version and body["accepted_rules_at"]
    stored = PromoterRepository(main_table()).get("u_app")
    assert stored is not None and stored.accepted_rules_version == version and stored.accepted_rules_at is not None


@pytest.mark.usefixtures("moto_table")
def test_a_version_that_is_no_longer_current_is_409_rules_changed(invoke: Invoke) -> None:
    shown = save(promoter_title="推客")
    current = save(commission=sub(CommissionRates(), l1_rate_bp=800))
    customer("u_late")
    status, body = apply(invoke, "u_late", {"rules_version": shown})
    assert status == 409 and body["error"]["code"] == "rules_changed"
    assert body["error"]["details"] == {"current_version": current, "rules_version": shown}
    assert PromoterRepository(main_table()).get("u_late") is None
    status, body = apply(invoke, "u_late", {"rules_version": current, "accepted_rules_version": shown})
    assert status == 422


def test_a_headcount_condition_is_stated_as_paying_invitees_and_a_headcount_only_level_as_admin_set() -> None:
    from mall.domain.referral import EFFECTIVE_MEMBER_DEFINITION, EFFECTIVE_MEMBER_TERM, Counters, meets

    mixed = PromoterLevel(id="gold", name="黄金", l1_points_bp=200,
                          upgrade=LevelUpgrade(direct_members_at_least=5, own_sales_at_least_fen=100_000))
    # A stored document from before the save check; saving it again is refused.
    headcount = PromoterLevel(id="star", name="星级", upgrade=LevelUpgrade(direct_members_at_least=3))
    d = render(DistributionSettings.model_construct(**{**BASE.__dict__, "levels": [BASE.levels[0], mixed,
                                                                                     headcount]}))
    gold = item(d, "levels", "level.gold").text
    assert f"{EFFECTIVE_MEMBER_TERM}达到 5 位" in gold and "¥1,000" in gold
    definition = item(d, "levels", "effective_members").text
    assert EFFECTIVE_MEMBER_DEFINITION in definition
    star = item(d, "levels", "level.star").text
    assert "升级条件：" not in star and "仅由商家设定" in star
    # The text follows the predicate the engine applies: a headcount alone never meets the level.
    assert not meets(headcount, Counters(1_000, 10**9, 10**9))
    assert meets(mixed, Counters(5, 100_000, 0)) and not meets(mixed, Counters(4, 100_000, 0))
    assert "退款" in item(d, "levels", "sales_base").text
    assert "商家设定的等级不因退款调整" in item(d, "levels", "refund_reevaluation").text


def test_the_returned_funds_and_in_flight_texts_come_from_the_constants_the_code_applies() -> None:
    """Funds that come back repay a debt first (not 全额退回), and the statuses a debt cancels are
    listed from ``CANCELLED_BY_DEBT`` (the behaviour: tests/integration/test_withdrawal_debt.py)."""
    from mall.domain.withdrawals import CANCELLED_BY_DEBT, RETURNS_FUNDS, STATUS_TEXT

    items = {item.key: item for section in rd.render(BASE, version=1, effective_at=None).sections
             for item in section.items}
    hold, cancels = items["hold"], items["debt_cancels_withdrawals"]
    assert "全额退回" not in hold.text and "先抵扣欠款" in hold.text
    assert all(STATUS_TEXT[s] in hold.text for s in RETURNS_FUNDS)
    assert cancels.value == ",".join(s.value for s in CANCELLED_BY_DEBT)
    assert all(STATUS_TEXT[s] in cancels.text for s in CANCELLED_BY_DEBT)
    assert "欠款保留" in cancels.text  # a bill the promoter confirmed first is paid


def test_a_withdrawal_cancelled_for_a_debt_tells_the_promoter_why() -> None:
    from mall.domain.notification_events import _FAIL_REASONS
    from mall.domain.subscribe_values import THING_MAX
    from mall.domain.withdrawals import DEBT_CANCEL_REASON

    assert "欠款" in _FAIL_REASONS[DEBT_CANCEL_REASON] and len(_FAIL_REASONS[DEBT_CANCEL_REASON]) <= THING_MAX
