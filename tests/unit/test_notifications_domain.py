"""Which change sends which subscribe message, with which values (mall.domain.notification_events,
mall.domain.notifications, mall.domain.subscribe_values)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import pytest
from pydantic import ValidationError

from mall.domain.money import yuan_ungrouped as format_amount
from mall.domain.notification_events import Notification, notifications_for
from mall.domain.notifications import NotificationKind, NotificationSettings
from mall.domain.settings import DistributionSettings
from mall.domain.subscribe_values import KEYWORD, format_time, keyword_type, mask_order_no, text_fits

NOW = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
PROMOTER = "u_promoter00000000000000000"
PARENT = "u_parent0000000000000000000"
ORDER = "o_01hxyz0000000000abcdefgh"


@dataclass(frozen=True)
class FakeChange:
    event_id: str
    old: dict[str, Any] | None
    new: dict[str, Any] | None


def enabled(**overrides: Any) -> NotificationSettings:
    """Every event enabled with a template id (and the default keywords and pages)."""
    document: dict[str, Any] = {kind.value: {"enabled": True, "template_id": f"tpl_{kind.value}"}
                                for kind in NotificationKind}
    document.update(overrides)
    return NotificationSettings.model_validate(document)


def commission(**fields: Any) -> dict[str, Any]:
    return {"pk": f"ORDER#{ORDER}", "sk": "COMMISSION#1#1", "entity": "commission",
            "commission_id": f"cm_{ORDER}_1_1", "order_id": ORDER, "line_id": "1", "level": 1,
            "beneficiary_id": PROMOTER, "buyer_id": "u_buyer", "product_id": "p1", "product_name": "有机大米 5kg",
            "quantity": 1, "base_fen": 12_345, "amount_fen": 1_234, "status": "FROZEN",
            "created_at": "2026-03-01T02:03:04Z", "cancelled_fen": 0, "clawed_back_fen": 0, "version": 1, **fields}


def withdrawal(**fields: Any) -> dict[str, Any]:
    return {"pk": "WITHDRAWAL#w_1", "sk": "WITHDRAWAL", "entity": "withdrawal", "withdrawal_id": "w_1",
            "promoter_id": PROMOTER, "amount_fen": 10_000, "fee_fen": 100, "net_fen": 9_900, "method": "wechat",
            "status": "PENDING_REVIEW", "created_at": "2026-03-01T01:00:00Z", "version": 1, **fields}


def binding(**fields: Any) -> dict[str, Any]:
    return {"pk": f"USER#{PROMOTER}", "sk": "BINDING", "entity": "binding", "user_id": "u_member",
            "parent_id": PARENT, "bound_at": "2026-03-01T15:59:00Z", "source": "qr", "nickname": "微信好友",
            "sales_fen": 0, "version": 1, **fields}


def one(change: FakeChange, settings: NotificationSettings | None = None) -> Notification:
    found = notifications_for(change, settings or enabled(), now=NOW)
    assert len(found) == 1, found
    return found[0]


def none(change: FakeChange, settings: NotificationSettings | None = None) -> None:
    assert notifications_for(change, settings or enabled(), now=NOW) == []


# ---- defaults and configuration -----------------------------------------------------------


def test_defaults_are_valid_and_send_nothing_until_a_template_is_configured() -> None:
    settings = DistributionSettings().notifications
    assert all(not settings.template(kind).enabled and settings.template(kind).template_id is None
               for kind in NotificationKind)
    for change in (FakeChange("e1", None, commission()),
                   FakeChange("e2", commission(), commission(status="SETTLED", settled_fen=1_234)),
                   FakeChange("e3", withdrawal(), withdrawal(status="APPROVED")),
                   FakeChange("e4", None, binding())):
        assert notifications_for(change, settings, now=NOW) == []


def test_enabling_with_a_template_id_takes_the_default_keywords_and_page() -> None:
    settings = DistributionSettings.model_validate(
        {"notifications": {"commission_earned": {"enabled": True, "template_id": "TPL-1_a"}}}).notifications
    config = settings.commission_earned
    assert config.fields == {"amount1": "amount", "character_string2": "order_no", "thing3": "product",
                             "time4": "time"}
    assert config.page == "pages/promoter/commissions/index?commission_id={commission_id}"
    assert not settings.commission_settled.enabled  # the others stay off
    # The document round-trips through its JSON form (what GET then PUT of the settings does).
    again = DistributionSettings.model_validate(DistributionSettings(notifications=settings).model_dump(mode="json"))
    assert again.notifications == settings


def test_only_the_event_that_is_enabled_sends() -> None:
    settings = NotificationSettings.model_validate({"withdrawal_status": {"enabled": True, "template_id": "t"}})
    none(FakeChange("e1", None, commission()), settings)
    assert one(FakeChange("e2", withdrawal(), withdrawal(status="APPROVED")), settings).template_id == "t"


def field_errors(document: dict[str, Any]) -> dict[str, str]:
    with pytest.raises(ValidationError) as caught:
        DistributionSettings.model_validate({"notifications": document})
    return {".".join(str(p) for p in e["loc"]): e["msg"] for e in caught.value.errors()}


def test_enabled_without_a_template_id_is_refused_at_the_field() -> None:
    errors = field_errors({"commission_earned": {"enabled": True}})
    assert list(errors) == ["notifications.commission_earned.template_id"]


@pytest.mark.parametrize(("fields", "where", "says"), [
    ({"foo1": "amount"}, "foo1", "not a template keyword"),
    ({"thing1": "nickname"}, "thing1", "has no value 'nickname'"),
    ({"time1": "order_no"}, "time1", "cannot fill a time keyword"),
    ({"phrase1": "amount"}, "phrase1", "cannot fill a phrase keyword"),
    ({"thing1": "text:" + "长" * 21}, "thing1", "at most 20 characters"),
    ({"phrase1": "text:abc"}, "phrase1", "Chinese characters"),
    ({"thing1": "text:快来躺赚"}, "thing1", "banned phrase"),
])
def test_template_keywords_are_checked_against_the_event_and_the_type(fields: dict[str, str], where: str,
                                                                       says: str) -> None:
    errors = field_errors({"commission_earned": {"enabled": True, "template_id": "t", "fields": fields}})
    assert list(errors) == [f"notifications.commission_earned.fields.{where}"], errors
    assert says in errors[f"notifications.commission_earned.fields.{where}"]


@pytest.mark.parametrize(("page", "says"), [
    ("/pages/a/b", "without a leading '/'"),
    ("pages/a/b?id={withdrawal_id}", "unknown placeholder"),
    ("pages/a b", "without a leading '/'"),
])
def test_pages_are_paths_with_the_events_placeholders_only(page: str, says: str) -> None:
    errors = field_errors({"commission_earned": {"page": page}})
    assert list(errors) == ["notifications.commission_earned.page"] and says in errors[
        "notifications.commission_earned.page"]


def test_other_setting_errors_are_located_too() -> None:
    assert set(field_errors({"withdrawal_statuses": ["PAID", "PAID"]})) == {"notifications.withdrawal_statuses"}
    assert set(field_errors({"team_member_joined": {"miniprogram_state": "x"}})) == {
        "notifications.team_member_joined.miniprogram_state"}
    assert set(field_errors({"withdrawal_statuses": ["PENDING_REVIEW"]})) == {"notifications.withdrawal_statuses.0"}
    assert set(field_errors({"sms": {}})) == {"notifications.sms"}  # unknown events are refused


def test_no_page_means_the_message_opens_nothing() -> None:
    settings = enabled(commission_earned={"enabled": True, "template_id": "t", "page": None})
    assert one(FakeChange("e1", None, commission()), settings).page is None


# ---- commission earned / settled ------------------------------------------------------------


def test_a_commission_record_created_frozen_notifies_its_beneficiary() -> None:
    n = one(FakeChange("evt-1", None, commission()))
    assert (n.kind, n.recipient_id, n.template_id, n.event_id) == (
        NotificationKind.COMMISSION_EARNED, PROMOTER, "tpl_commission_earned", "evt-1")
    assert n.notification_id == "evt-1#commission_earned"
    assert dict(n.data) == {"amount1": "¥12.34", "character_string2": "o_01hx****efgh", "thing3": "有机大米 5kg",
                            "time4": "2026-03-01 10:03"}
    assert n.page == f"pages/promoter/commissions/index?commission_id=cm_{ORDER}_1_1"
    assert ORDER not in str(n.data)  # the order number is masked
    assert n.miniprogram_state == "formal"


def test_the_same_change_redelivered_gives_the_same_notification() -> None:
    change = FakeChange("evt-1", None, commission())
    assert one(change) == one(change)


@pytest.mark.parametrize("old_new", [
    (commission(), commission(due_at="2026-03-08T00:00:00Z", version=2)),  # due date set
    (commission(), commission(status="CANCELLED", cancelled_fen=1_234)),  # refunded before settlement
    (commission(status="SETTLED"), commission(status="SETTLED", clawed_back_fen=100)),  # clawback
    (commission(hold="rc_1"), commission()),  # hold released
    (None, commission(status="SETTLED")),  # never happens, but is not "earned"
], ids=["due", "cancelled", "clawback", "hold", "insert-settled"])
def test_other_commission_changes_send_nothing(old_new: tuple[dict[str, Any] | None, dict[str, Any]]) -> None:
    none(FakeChange("e", *old_new))


def test_frozen_to_settled_notifies_the_settled_amount() -> None:
    n = one(FakeChange("evt-2", commission(), commission(status="SETTLED", settled_fen=1_000,
                                                         settled_at="2026-03-09T18:00:00Z", cancelled_fen=234)))
    assert n.kind == NotificationKind.COMMISSION_SETTLED and n.recipient_id == PROMOTER
    assert dict(n.data) == {"amount1": "¥10.00", "character_string2": "o_01hx****efgh", "phrase3": "已结算",
                            "time4": "2026-03-10 02:00"}


def test_settled_without_settled_fen_falls_back_to_what_is_left() -> None:
    n = one(FakeChange("e", commission(), commission(status="SETTLED", cancelled_fen=200, clawed_back_fen=34)))
    assert n.data["amount1"] == "¥10.00"


def test_level_2_commission_goes_to_its_own_beneficiary() -> None:
    n = one(FakeChange("e", None, commission(sk="COMMISSION#1#2", level=2, beneficiary_id=PARENT)))
    assert n.recipient_id == PARENT


# ---- withdrawals ------------------------------------------------------------------------------


def test_a_new_withdrawal_request_is_not_a_status_change() -> None:
    none(FakeChange("e", None, withdrawal()))


def test_a_first_approval_of_two_keeps_the_status_and_sends_nothing() -> None:
    none(FakeChange("e", withdrawal(), withdrawal(approvals=[{"admin_id": "a", "at": "x"}], version=2)))


def test_a_paying_bill_state_change_sends_nothing() -> None:
    none(FakeChange("e", withdrawal(status="PAYING"), withdrawal(status="PAYING", bill_state="WAIT_USER_CONFIRM")))


@pytest.mark.parametrize(("old", "new", "status", "reason"), [
    ("PENDING_REVIEW", {"status": "APPROVED", "approved_at": "2026-03-01T02:00:00Z"}, "审核通过", "审核通过，等待打款"),
    ("APPROVED", {"status": "PAYING", "paying_at": "2026-03-01T02:00:00Z"}, "打款中", "请在小程序内确认收款"),
    ("PAYING", {"status": "PAID", "paid_at": "2026-03-01T02:00:00Z"}, "已到账", "提现已到账"),
    ("PAYING", {"status": "FAILED", "failed_at": "2026-03-01T02:00:00Z", "fail_reason": "BILL_CANCELLED"},
     "打款失败", "超时未确认收款，已退回"),
    ("PENDING_REVIEW", {"status": "REJECTED", "rejected_at": "2026-03-01T02:00:00Z",
                        "reason": "账户信息与实名不符，请核对后重新申请提现，谢谢配合"}, "已驳回",
     "账户信息与实名不符，请核对后重新申请提…"),
])
def test_each_status_change_tells_the_promoter_in_chinese(old: str, new: dict[str, Any], status: str,
                                                            reason: str) -> None:
    n = one(FakeChange("e", withdrawal(status=old), withdrawal(**new)))
    assert n.kind == NotificationKind.WITHDRAWAL_STATUS and n.recipient_id == PROMOTER
    assert dict(n.data) == {"amount1": "¥100.00", "phrase2": status[:5], "thing3": reason,
                            "time4": "2026-03-01 10:00"}
    assert n.page == "pages/promoter/withdrawals/detail?withdrawal_id=w_1"
    assert len(n.data["thing3"]) <= 20 and len(n.data["phrase2"]) <= 5


def test_only_the_configured_statuses_send() -> None:
    settings = enabled(withdrawal_statuses=["PAID", "FAILED", "REJECTED"])
    none(FakeChange("e", withdrawal(), withdrawal(status="APPROVED")), settings)
    assert one(FakeChange("e", withdrawal(status="APPROVED"), withdrawal(status="PAID")), settings)


def test_net_amount_and_fee_can_be_shown() -> None:
    settings = enabled(withdrawal_status={"enabled": True, "template_id": "t",
                                          "fields": {"amount1": "net_amount", "amount2": "fee",
                                                     "character_string3": "withdrawal_no", "thing4": "status"}})
    n = one(FakeChange("e", withdrawal(status="PAYING"), withdrawal(status="PAID")), settings)
    assert dict(n.data) == {"amount1": "¥99.00", "amount2": "¥1.00", "character_string3": "w_1", "thing4": "已到账"}


# ---- team members -----------------------------------------------------------------------------


def test_a_new_binding_tells_the_parent_with_a_masked_nickname() -> None:
    n = one(FakeChange("e", None, binding()))
    assert n.kind == NotificationKind.TEAM_MEMBER_JOINED and n.recipient_id == PARENT
    assert dict(n.data) == {"thing1": "微**友", "thing2": "扫码", "time3": "2026-03-01 23:59"}
    assert "微信好友" not in str(n)
    assert n.page == "pages/promoter/team/index"


def test_a_rebinding_tells_the_new_parent_only() -> None:
    n = one(FakeChange("e", binding(parent_id="u_old"), binding(version=2)))
    assert n.recipient_id == PARENT


def test_binding_counters_and_removals_send_nothing() -> None:
    none(FakeChange("e", binding(), binding(sales_fen=9_900, version=2)))
    none(FakeChange("e", binding(), None))


def test_a_member_without_a_nickname_is_a_wechat_user() -> None:
    assert one(FakeChange("e", None, binding(nickname=None))).data["thing1"] == "微信用户"


@pytest.mark.parametrize("image", [
    {"entity": "order", "sk": "ORDER", "status": "PAID"},
    {"entity": "customer", "user_id": "u_1"},
    {"entity": "promoter", "status": "active"},
    {"entity": "share_visit"},
    {"entity": "refund", "status": "SUCCEEDED"},
    {},
])
def test_other_entities_send_nothing(image: dict[str, Any]) -> None:
    none(FakeChange("e", None, image))
    none(FakeChange("e", image, image))


# ---- values within WeChat's limits ------------------------------------------------------------


@pytest.mark.parametrize(("fen", "text"), [(0, "¥0.00"), (5, "¥0.05"), (1_234, "¥12.34"), (100_000, "¥1000.00"),
                                           (999_999_999_999, "¥9999999999.99"), (-150, "-¥1.50")])
def test_amounts_are_formatted_from_integer_fen(fen: int, text: str) -> None:
    assert format_amount(fen) == text


def test_times_are_china_time_to_the_minute() -> None:
    assert format_time(datetime(2026, 12, 31, 16, 0, 59, tzinfo=UTC)) == "2027-01-01 00:00"
    assert format_time(datetime(2026, 3, 1, 0, 0)) == "2026-03-01 08:00"  # naive means UTC


def test_order_numbers_are_masked_into_a_character_string() -> None:
    assert mask_order_no(ORDER) == "o_01hx****efgh"
    assert text_fits("character_string", mask_order_no(ORDER)) is None
    assert mask_order_no("o_short") == "o_****"


def test_long_and_odd_values_are_cut_to_their_type() -> None:
    name = "超长的商品名称" * 5 + " with English"
    settings = enabled(commission_earned={"enabled": True, "template_id": "t", "fields": {
        "thing1": "product", "phrase2": "status", "character_string3": "order_no", "date4": "time",
        "thing5": "amount", "phrase6": "level", "thing7": "text:佣金将在确认收货后结算"}})
    n = one(FakeChange("e", None, commission(product_name=name, order_id="订单" + ORDER)), settings)
    assert len(n.data["thing1"]) == 20 and n.data["thing1"].endswith("…")
    assert n.data["phrase2"] == "待结算" and n.data["phrase6"] == "一级"
    assert n.data["character_string3"].isascii()
    assert n.data["date4"] == "2026-03-01" and n.data["thing5"] == "¥12.34"
    assert n.data["thing7"] == "佣金将在确认收货后结算"
    for keyword, value in n.data.items():
        assert text_fits(keyword_type(keyword) or "", value) is None, (keyword, value)


def test_every_default_value_fits_its_type() -> None:
    changes = [FakeChange("a", None, commission(product_name="x" * 99)),
               FakeChange("b", commission(), commission(status="SETTLED", settled_fen=5)),
               FakeChange("c", withdrawal(status="PAYING"), withdrawal(status="FAILED", fail_reason="X" * 80)),
               FakeChange("d", None, binding(nickname="n" * 50, source="unknown"))]
    for change in changes:
        for keyword, value in one(change).data.items():
            assert KEYWORD.match(keyword)
            assert text_fits(keyword_type(keyword) or "", value) is None, (keyword, value)


def test_a_missing_time_uses_now() -> None:
    n = one(FakeChange("e", None, commission(created_at=None)))
    assert n.data["time4"] == "2026-03-01 20:00"
