"""The NotificationQueue worker against moto's table with a fake WeChat client: sent once,
43101 recorded and never retried, other errors retried through batchItemFailures."""

from __future__ import annotations

import json
import uuid
from collections.abc import Mapping
from datetime import UTC, datetime
from types import ModuleType
from typing import Any

import pytest

from mall.dal.identity import CustomerRepository
from mall.dal.keys import notification_key
from mall.dal.notifications import NotificationRepository
from mall.dal.settings import SettingsRepository
from mall.dal.subscriptions import SubscriptionGrantRepository
from mall.dal.table import main_table
from mall.domain.notifications import NotificationSettings
from mall.domain.settings import DistributionSettings
from mall.domain.subscriptions import GrantChange, GrantResult, GrantScene
from mall.domain.tokens import Role, issue_token
from mall.errors import UpstreamUnavailable
from mall.integrations.wechat import NotSubscribed, WeChatApiError
from tests.unit.conftest import FakeContext, http_event, load_function

APP_ID = "wx_test_app"


class FakeWeChat:
    """Records every send; openids in ``refusing`` answer 43101, in ``failing`` another error."""

    def __init__(self) -> None:
        self.sent: list[dict[str, Any]] = []
        self.refusing: set[str] = set()
        self.failing: dict[str, Exception] = {}

    def send_subscribe_message(self, *, touser: str, template_id: str, data: Mapping[str, str],
                               page: str | None = None, miniprogram_state: str = "formal",
                               lang: str = "zh_CN") -> int | None:
        if touser in self.failing:
            raise self.failing[touser]
        if touser in self.refusing:
            raise NotSubscribed("user refuse to accept the msg")
        self.sent.append({"touser": touser, "template_id": template_id, "data": dict(data), "page": page,
                          "miniprogram_state": miniprogram_state})
        return len(self.sent)


@pytest.fixture
def wx() -> FakeWeChat:
    return FakeWeChat()


@pytest.fixture
def worker(moto_table: str, wx: FakeWeChat, monkeypatch: pytest.MonkeyPatch) -> ModuleType:
    module = load_function("notification_worker")
    monkeypatch.setattr(module, "wechat", lambda: wx)
    return module


def enable(**events: Any) -> None:
    document = {kind: {"enabled": True, "template_id": f"tpl_{kind}"} for kind in
                ("commission_earned", "commission_settled", "withdrawal_status", "team_member_joined")}
    document.update(events)
    settings = DistributionSettings(notifications=NotificationSettings.model_validate(document))
    repo = SettingsRepository(main_table())
    repo.save(settings, based_on=repo.current().version, saved_by="admin:test", now=datetime.now(UTC))


def promoter(code: str, *, grants: int = 5) -> tuple[str, str]:
    """(user id, openid) of a customer profile holding ``grants`` one-time grants of every template ``enable``
    configures (a message is sent only where a grant covers it)."""
    openid = f"o_{code}"
    customer, _ = CustomerRepository(main_table()).get_or_create(app_id=APP_ID, openid=openid, unionid=None,
                                                                 now=datetime.now(UTC))
    if grants:
        SubscriptionGrantRepository(main_table()).record(
            customer.user_id, [GrantChange(f"tpl_{kind}", grants, None, GrantResult.ACCEPT) for kind in
                               ("commission_earned", "commission_settled", "withdrawal_status", "team_member_joined")],
            GrantScene.OTHER, datetime.now(UTC))
    return customer.user_id, openid


def earned(beneficiary: str, event_id: str | None = None) -> dict[str, Any]:
    return {"event_id": event_id or uuid.uuid4().hex, "event_name": "INSERT", "sequence": "1", "old": None,
            "new": {"entity": "commission", "commission_id": "cm_o_1_1_1", "order_id": "o_0123456789abcdef",
                    "level": 1, "beneficiary_id": beneficiary, "product_name": "大米", "amount_fen": 1_234,
                    "status": "FROZEN", "created_at": "2026-03-01T02:03:04Z"}}


def sqs(*bodies: Any) -> dict[str, Any]:
    return {"Records": [{"messageId": f"m{i}", "receiptHandle": f"r{i}",
                         "body": body if isinstance(body, str) else json.dumps(body),
                         "attributes": {"ApproximateReceiveCount": "1"}, "messageAttributes": {},
                         "md5OfBody": "", "eventSource": "aws:sqs",
                         "eventSourceARN": "arn:aws:sqs:us-east-1:000000000000:NotificationQueue",
                         "awsRegion": "us-east-1"} for i, body in enumerate(bodies)]}


def run(worker: ModuleType, *bodies: Any) -> list[str]:
    """The ids of the messages the worker reported as failed."""
    result = worker.handler(sqs(*bodies), FakeContext())
    return [f["itemIdentifier"] for f in result["batchItemFailures"]]


def record(message: dict[str, Any], kind: str = "commission_earned") -> dict[str, Any]:
    found = NotificationRepository(main_table()).get(f"{message['event_id']}#{kind}")
    assert found is not None
    return found


def test_a_commission_earned_message_is_sent_to_the_promoter_and_recorded(worker: ModuleType,
                                                                          wx: FakeWeChat) -> None:
    enable()
    uid, openid = promoter("a")
    message = earned(uid)
    assert run(worker, message) == []
    assert wx.sent == [{"touser": openid, "template_id": "tpl_commission_earned", "miniprogram_state": "formal",
                        "page": "pages/promoter/commissions/index?commission_id=cm_o_1_1_1",
                        "data": {"amount1": "¥12.34", "character_string2": "o_0123****cdef", "thing3": "大米",
                                 "time4": "2026-03-01 10:03"}}]
    saved = record(message)
    assert (saved["status"], saved["attempts"], saved["recipient_id"], saved["msgid"]) == ("SENT", 1, uid, 1)
    assert saved["gsi1pk"] == "NOTIFICATIONS#SENT" and saved["gsi2pk"] == f"USER_NOTIFICATIONS#{uid}"
    assert "claimed_until" not in saved and openid not in json.dumps(saved)  # the openid is never stored
    assert saved["expires_at"] > datetime.now(UTC).timestamp() + 89 * 86_400


def test_a_duplicate_message_sends_once(worker: ModuleType, wx: FakeWeChat) -> None:
    enable()
    uid, _ = promoter("b")
    message = earned(uid)
    assert run(worker, message, message) == []  # twice in one batch
    assert run(worker, message) == []  # and redelivered later
    assert len(wx.sent) == 1
    assert record(message)["attempts"] == 1


def test_not_subscribed_is_recorded_and_never_retried(worker: ModuleType, wx: FakeWeChat) -> None:
    enable()
    uid, openid = promoter("c")
    wx.refusing.add(openid)
    message = earned(uid)
    assert run(worker, message) == []  # not a failure: the queue drops it
    saved = record(message)
    assert (saved["status"], saved["errcode"], saved["gsi1pk"]) == ("NOT_SUBSCRIBED", 43101,
                                                                    "NOTIFICATIONS#NOT_SUBSCRIBED")
    wx.refusing.clear()  # even if the promoter subscribes later, this message is not sent again
    assert run(worker, message) == []
    assert wx.sent == [] and record(message)["attempts"] == 1


@pytest.mark.parametrize("error", [WeChatApiError("busy", errcode=-1),
                                   UpstreamUnavailable("unreachable", code="wechat_unavailable"),
                                   RuntimeError("secret missing")])
def test_other_errors_fail_the_record_and_the_retry_sends(worker: ModuleType, wx: FakeWeChat,
                                                          error: Exception) -> None:
    enable()
    uid, openid = promoter("d")
    ok_uid, ok_openid = promoter("d-ok")
    wx.failing[openid] = error
    message, fine = earned(uid), earned(ok_uid)
    assert run(worker, fine, message) == ["m1"]  # only the failed one is retried
    saved = record(message)
    assert (saved["status"], saved["attempts"], saved["gsi1pk"]) == ("FAILED", 1, "NOTIFICATIONS#FAILED")
    assert saved.get("errcode") == (-1 if isinstance(error, WeChatApiError) else None)
    assert type(error).__name__ in saved["error"]
    assert [m["touser"] for m in wx.sent] == [ok_openid]

    del wx.failing[openid]  # WeChat is back: the redelivered message is sent
    assert run(worker, message, fine) == []
    assert [m["touser"] for m in wx.sent] == [ok_openid, openid]
    saved = record(message)
    assert (saved["status"], saved["attempts"]) == ("SENT", 2) and "error" not in saved


def test_a_live_claim_by_another_delivery_retries_the_message(worker: ModuleType, wx: FakeWeChat) -> None:
    enable()
    uid, openid = promoter("e")
    message = earned(uid)
    key = notification_key(f"{message['event_id']}#commission_earned")
    now = int(datetime.now(UTC).timestamp())
    main_table().put({**key, "status": "SENDING", "claimed_until": now + 60, "attempts": 1})
    assert run(worker, message) == ["m0"] and wx.sent == []
    # The other sender died: once its claim has expired the message is sent.
    main_table().update(key, "SET claimed_until = :t", values={":t": now - 1})
    assert run(worker, message) == []
    assert [m["touser"] for m in wx.sent] == [openid] and record(message)["attempts"] == 2


def test_malformed_messages_are_dropped(worker: ModuleType, wx: FakeWeChat) -> None:
    enable()
    assert run(worker, "not json", {"no": "event id"}, {"event_id": "x", "old": None, "new": "text"}, "[]") == []
    assert wx.sent == []


def test_disabled_events_and_other_entities_send_nothing_and_read_no_settings(
        worker: ModuleType, wx: FakeWeChat, monkeypatch: pytest.MonkeyPatch) -> None:
    uid, _ = promoter("f")
    assert run(worker, earned(uid)) == []  # the defaults: everything disabled
    reads: list[int] = []
    real = worker.settings_repo.current

    def counted(**kwargs: Any) -> Any:
        reads.append(1)
        return real(**kwargs)

    monkeypatch.setattr(worker.settings_repo, "current", counted)
    order = {"event_id": "o1", "event_name": "MODIFY", "sequence": "2", "old": {"entity": "order"},
             "new": {"entity": "order", "status": "PAID"}}
    assert run(worker, order, order) == [] and reads == []
    enable()
    assert run(worker, earned(uid), earned(uid), earned(uid)) == []
    assert reads == [1]  # once per invocation, however many messages need it
    assert len(wx.sent) == 3


def test_changes_that_are_no_event_read_no_settings_and_events_still_read_them_afresh(
        worker: ModuleType, wx: FakeWeChat, monkeypatch: pytest.MonkeyPatch) -> None:
    """An order placed, paid or completed and a commission record given its due date notify nobody under
    any settings: the worker reads the settings only for a change that is an event, and still reads
    them in every invocation that has one (a saved change applies to the very next invocation)."""
    uid, openid = promoter("n")
    reads: list[int] = []
    real = worker.settings_repo.current

    def counted(**kwargs: Any) -> Any:
        reads.append(1)
        return real(**kwargs)

    monkeypatch.setattr(worker.settings_repo, "current", counted)
    order = {"entity": "order", "pk": "ORDER#o_1", "sk": "ORDER", "order_id": "o_1", "buyer_id": uid,
             "status": "CREATED"}
    placed = {"event_id": "p1", "old": None, "new": order}
    paid = {"event_id": "p2", "old": order, "new": {**order, "status": "PAID"}}
    completed = {"event_id": "p3", "old": {**order, "status": "SHIPPED"}, "new": {**order, "status": "COMPLETED"}}
    frozen = earned(uid)["new"]
    dated = {"event_id": "c1", "old": frozen, "new": {**frozen, "due_at": "2026-03-20T00:00:00Z", "version": 2}}
    w = {"entity": "withdrawal", "withdrawal_id": "w_n", "promoter_id": uid, "amount_fen": 5_000, "status": "PAID"}
    unchanged = {"event_id": "w1", "old": w, "new": {**w, "note": "x"}}
    assert run(worker, placed, paid, completed, dated, unchanged) == [] and reads == []
    enable()
    assert run(worker, earned(uid)) == [] and reads == [1]
    enable(commission_earned={"enabled": True, "template_id": "tpl_next"})
    SubscriptionGrantRepository(main_table()).record(uid, [GrantChange("tpl_next", 1, None, GrantResult.ACCEPT)],
                                                     GrantScene.OTHER, datetime.now(UTC))
    assert run(worker, placed, earned(uid)) == [] and reads == [1, 1]
    assert [(m["touser"], m["template_id"]) for m in wx.sent] == [(openid, "tpl_commission_earned"),
                                                                   (openid, "tpl_next")]


def test_a_recipient_without_a_profile_is_recorded_and_not_retried(worker: ModuleType, wx: FakeWeChat) -> None:
    enable()
    message = earned("u_nobody")
    assert run(worker, message) == [] and run(worker, message) == []
    assert record(message)["status"] == "NO_RECIPIENT" and wx.sent == []


def test_every_event_reaches_its_promoter(worker: ModuleType, wx: FakeWeChat) -> None:
    enable()
    uid, openid = promoter("g")
    parent, parent_openid = promoter("g-parent")
    frozen = earned(uid)["new"]
    settled = {"event_id": "s1", "old": frozen, "new": {**frozen, "status": "SETTLED", "settled_fen": 1_234,
                                                        "settled_at": "2026-03-09T00:00:00Z"}}
    w = {"entity": "withdrawal", "withdrawal_id": "w_1", "promoter_id": uid, "amount_fen": 5_000, "net_fen": 5_000,
         "fee_fen": 0, "status": "PAYING"}
    paid = {"event_id": "w1", "old": w, "new": {**w, "status": "PAID", "paid_at": "2026-03-09T00:00:00Z"}}
    joined = {"event_id": "b1", "old": None, "new": {"entity": "binding", "user_id": "u_m", "parent_id": parent,
                                                     "nickname": "小明同学", "source": "link",
                                                     "bound_at": "2026-03-09T00:00:00Z"}}
    assert run(worker, settled, paid, joined) == []
    assert [(m["touser"], m["template_id"]) for m in wx.sent] == [
        (openid, "tpl_commission_settled"), (openid, "tpl_withdrawal_status"),
        (parent_openid, "tpl_team_member_joined")]
    assert wx.sent[1]["data"]["phrase2"] == "已到账" and wx.sent[2]["data"]["thing1"] == "小**学"


def test_the_sample_event_runs(worker: ModuleType) -> None:
    from tests.conftest import ROOT

    event = json.loads((ROOT / "events" / "notification_worker.json").read_text(encoding="utf-8"))
    enable()
    assert worker.handler(event, FakeContext())["batchItemFailures"] == []


# ---- the admin's list -------------------------------------------------------------------------


_admin_functions: dict[str, ModuleType] = {}


def admin_list(query: dict[str, str], *roles: Role) -> tuple[int, dict[str, Any]]:
    from mall.api.auth import signing_key

    issued = issue_token("admin:alice" if Role.ADMIN in roles else "u_someone", frozenset(roles),
                         key=signing_key(), now=datetime.now(UTC), ttl_seconds=600)
    event = http_event("GET", "/admin/notifications", headers={"authorization": f"Bearer {issued}"})
    event["rawQueryString"] = "&".join(f"{k}={v}" for k, v in query.items())
    event["queryStringParameters"] = query
    if "fn" not in _admin_functions:
        _admin_functions["fn"] = load_function("admin_notifications")
    result = _admin_functions["fn"].handler(event, FakeContext())
    return result["statusCode"], json.loads(result["body"])


def test_the_admin_lists_failures_most_recent_first(worker: ModuleType, wx: FakeWeChat,
                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    _admin_functions.clear()
    enable()
    uid, openid = promoter("h")
    wx.failing[openid] = WeChatApiError("busy", errcode=-1)
    first, second = earned(uid), earned(uid)
    monkeypatch.setattr(worker, "utc_now", lambda: datetime(2026, 3, 1, 8, 0, tzinfo=UTC))
    assert run(worker, first) == ["m0"]
    monkeypatch.setattr(worker, "utc_now", lambda: datetime(2026, 3, 1, 8, 1, tzinfo=UTC))
    assert run(worker, second) == ["m0"]
    status, body = admin_list({"status": "FAILED", "limit": "1"}, Role.ADMIN)
    assert status == 200, body
    [item] = body["items"]
    assert (item["notification_id"], item["kind"], item["status"], item["errcode"], item["attempts"]) == (
        f"{second['event_id']}#commission_earned", "commission_earned", "FAILED", -1, 1)
    assert item["data"]["amount1"] == "¥12.34" and item["recipient_id"] == uid
    status, body = admin_list({"status": "FAILED", "cursor": body["next_cursor"]}, Role.ADMIN)
    assert [i["notification_id"] for i in body["items"]] == [f"{first['event_id']}#commission_earned"]
    assert admin_list({}, Role.ADMIN)[1]["items"][0]["status"] == "FAILED"  # FAILED is the default
    assert admin_list({"status": "SENT"}, Role.ADMIN)[1] == {"items": [], "next_cursor": None}
    assert admin_list({"status": "NOPE"}, Role.ADMIN)[0] == 422
    assert admin_list({"status": "SENT", "cursor": body["next_cursor"] or "forged"}, Role.ADMIN)[0] == 422
    assert admin_list({"status": "FAILED"}, Role.CUSTOMER, Role.PROMOTER)[0] == 403


def test_a_promoter_without_a_grant_gets_nothing_and_the_record_says_so(worker: ModuleType, wx: FakeWeChat) -> None:
    enable()
    uid, _ = promoter("nogrant", grants=0)
    message = earned(uid)
    assert run(worker, message) == [] and run(worker, message) == []
    assert wx.sent == []
    assert (record(message)["status"], record(message)["reason"]) == ("SKIPPED", "no_grant")


def test_a_retry_is_sent_as_the_settings_are_now(worker: ModuleType, wx: FakeWeChat) -> None:
    """A template fixed after failures: the redelivered message goes out with the new configuration."""
    enable(commission_earned={"enabled": True, "template_id": "wrong", "page": "pages/x?c={commission_id}"})
    uid, openid = promoter("i")
    SubscriptionGrantRepository(main_table()).record(
        uid, [GrantChange(t, 1, None, GrantResult.ACCEPT) for t in ("wrong", "right")], GrantScene.OTHER,
        datetime.now(UTC))
    wx.failing[openid] = WeChatApiError("invalid template_id", errcode=40037)
    message = earned(uid)
    assert run(worker, message) == ["m0"]
    assert (record(message)["template_id"], record(message)["errcode"]) == ("wrong", 40037)
    del wx.failing[openid]
    enable(commission_earned={"enabled": True, "template_id": "right", "page": None})
    assert run(worker, message) == []
    assert [(m["template_id"], m["page"]) for m in wx.sent] == [("right", None)]
    saved = record(message)
    assert (saved["status"], saved["template_id"], "page" in saved, "errcode" in saved) == ("SENT", "right", False,
                                                                                          False)
