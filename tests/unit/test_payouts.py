"""Payouts through the real handlers (moto) with the pay sandbox in-process: the payout worker
(SQS), the webhook's MCHTRANSFER.BILL.FINISHED, the reconciler (schedule) and the admin bank marks.
Notifications are built by the sandbox: genuinely signed and encrypted with the test keys."""

from __future__ import annotations

import json
import uuid
from datetime import datetime, timedelta
from typing import Any

import pytest

from mall.clock import iso, utc_now
from mall.dal.audit import AuditLog
from mall.dal.identity import CustomerRepository
from mall.dal.ledger import LedgerRepository
from mall.dal.table import Table, Write, main_table
from mall.dal.withdrawals import new_withdrawal_id, withdrawal_item
from mall.domain import ledger as postings
from mall.domain.ledger import Balances
from mall.domain.tokens import Role
from mall.domain.withdrawals import TimelineEntry, Withdrawal, WithdrawalStatus, out_bill_no_for
from mall.integrations.wechatpay.crypto import load_private_key, rsa_sign
from tests.conftest import bearer
from tests.unit.conftest import FakeContext, http_event
from tests.unit.test_orders_handlers import APPID, NOTIFY_URL, Mall, make_mall

pytestmark = pytest.mark.usefixtures("moto_table")


@pytest.fixture
def mall(moto_table: str, monkeypatch: pytest.MonkeyPatch) -> Mall:
    return make_mall(monkeypatch)


# ---- fixtures: a promoter with money and an approved withdrawal (as its review leaves it) ------


def promoter(table: Table, code: str = "promoter", *, at: datetime | None = None) -> str:
    customer, _ = CustomerRepository(table).get_or_create(app_id=APPID, openid=f"openid-{code}", unionid=None,
                                                          now=at or utc_now())
    return customer.user_id


def fund(table: Table, uid: str, amount_fen: int, *, at: datetime | None = None) -> None:
    """Settled commission: ``amount_fen`` becomes available."""
    now = at or utc_now()
    ledger = LedgerRepository(table)
    commission_id = f"cm_seed{uuid.uuid4().hex[:10]}"
    ledger.post([postings.commission_frozen(promoter_id=uid, commission_id=commission_id, amount_fen=amount_fen,
                                            at=now, ref={})])
    ledger.post(postings.commission_settled(balances=Balances(), promoter_id=uid, commission_id=commission_id,
                                            amount_fen=amount_fen, at=now, ref={}))


def approved_withdrawal(table: Table, uid: str, *, amount_fen: int = 10_000, fee_fen: int = 100,
                        method: str = "wechat", at: datetime | None = None, fund_first: bool = True,
                        status: WithdrawalStatus = WithdrawalStatus.APPROVED) -> Withdrawal:
    """An APPROVED withdrawal with its ``withdrawal_held`` posting, in one transaction (what
    the request and its review leave behind)."""
    now = at or utc_now()
    if fund_first:
        fund(table, uid, amount_fen, at=now)
    withdrawal_id = new_withdrawal_id()
    w = Withdrawal(withdrawal_id=withdrawal_id, promoter_id=uid, amount_fen=amount_fen, fee_fen=fee_fen,
                   net_fen=amount_fen - fee_fen, method=method, status=status, review="auto",  # type: ignore[arg-type]
                   required_approvals=1, created_at=iso(now), out_bill_no=out_bill_no_for(withdrawal_id),
                   approved_at=iso(now) if status == WithdrawalStatus.APPROVED else None,
                   timeline=(TimelineEntry("PENDING_REVIEW", iso(now), uid, "requested"),
                             TimelineEntry("APPROVED", iso(now), "auto", "approved automatically")))
    held = postings.withdrawal_held(promoter_id=uid, withdrawal_id=withdrawal_id, amount_fen=amount_fen, at=now)
    LedgerRepository(table).post([held], also=[Write.put(table.name, withdrawal_item(w),
                                                         condition="attribute_not_exists(pk)")])
    return w


def record(withdrawal_id: str) -> dict[str, Any]:
    item = main_table().get({"pk": f"WITHDRAWAL#{withdrawal_id}", "sk": "WITHDRAWAL"}, consistent=True)
    assert item is not None
    return item


def wallet(uid: str) -> dict[str, int]:
    return LedgerRepository(main_table()).wallet(uid).balances.as_dict()


def posting_kinds(uid: str) -> list[str]:
    return [p["kind"] for p in LedgerRepository(main_table()).all_postings(uid)]


def sqs_event(*bodies: Any) -> dict[str, Any]:
    return {"Records": [{
        "messageId": f"m-{i}", "receiptHandle": f"rh-{i}",
        "body": body if isinstance(body, str) else json.dumps(body),
        "attributes": {"ApproximateReceiveCount": "1", "SentTimestamp": "1", "SenderId": "0",
                       "ApproximateFirstReceiveTimestamp": "1"},
        "messageAttributes": {}, "md5OfBody": "", "eventSource": "aws:sqs",
        "eventSourceARN": "arn:aws:sqs:us-east-1:000000000000:PayoutQueue", "awsRegion": "us-east-1",
    } for i, body in enumerate(bodies)]}


def run_worker(mall: Mall, *withdrawal_ids: str) -> dict[str, Any]:
    result: dict[str, Any] = mall.module("payout_worker").handler(
        sqs_event(*({"withdrawal_id": w} for w in withdrawal_ids)), FakeContext())
    return result


def run_reconcile(mall: Mall, minutes_ahead: float) -> dict[str, Any]:
    event = {"version": "0", "detail-type": "Scheduled Event", "source": "aws.events",
             "time": iso(utc_now() + timedelta(minutes=minutes_ahead))}
    result: dict[str, Any] = mall.module("payout_reconcile").handler(event, FakeContext())
    return result


def bills(mall: Mall) -> dict[str, Any]:
    found: dict[str, Any] = mall.sandbox.snapshot()["bills"]
    return found


def fail_body(body: dict[str, Any]) -> str:
    assert body["code"] == "FAIL" and isinstance(body["message"], str)
    return str(body["message"])


def admin_headers(subject: str = "admin:alice", role: Role = Role.ADMIN) -> dict[str, str]:
    return bearer(subject, role)


def admin_mark(mall: Mall, withdrawal_id: str, action: str, body: dict[str, Any],
               headers: dict[str, str] | None = None) -> tuple[int, dict[str, Any]]:
    path = f"/admin/withdrawals/{withdrawal_id}/{action}"
    event = http_event("POST", path, body=body, headers=headers or admin_headers())
    event["routeKey"] = f"POST /admin/withdrawals/{{withdrawal_id}}/{action}"
    event["pathParameters"] = {"withdrawal_id": withdrawal_id}
    return mall.call("admin_withdrawal_payouts", event)


# ---- starting: one bill, repeat-safe, package_info ------------------------------------------------


def test_the_worker_starts_a_transfer_once_however_often_the_message_arrives(mall: Mall) -> None:
    table = main_table()
    uid = promoter(table)
    w = approved_withdrawal(table, uid, amount_fen=10_000, fee_fen=100)
    assert run_worker(mall, w.withdrawal_id) == {"batchItemFailures": []}
    item = record(w.withdrawal_id)
    bill = bills(mall)[w.out_bill_no]
    assert item["status"] == "PAYING" and item["gsi1pk"] == "WITHDRAWALS#PAYING" and item["paying_at"]
    assert item["bill_state"] == "WAIT_USER_CONFIRM" and item["transfer_bill_no"] == bill["transfer_bill_no"]
    # The mini-program's confirm page needs package_info (wx.requestMerchantTransfer).
    assert item["package_info"] == bill["package_info"]
    assert bill["transfer_amount"] == 9_900 and bill["openid"] == "openid-promoter"
    assert bill["notify_url"] == NOTIFY_URL and bill["transfer_scene_id"] == "1005"
    assert [e["status"] for e in item["timeline"]] == ["PENDING_REVIEW", "APPROVED", "PAYING", "PAYING"]

    # Redelivered (twice in one batch, then again): the same number, one bill, nothing new recorded.
    assert run_worker(mall, w.withdrawal_id, w.withdrawal_id) == {"batchItemFailures": []}
    assert list(bills(mall)) == [w.out_bill_no]
    assert record(w.withdrawal_id) == item
    assert wallet(uid) == {"frozen": 0, "available": 0, "withdrawing": 10_000, "withdrawn": 0, "debt": 0}


def test_messages_that_are_not_payout_requests_are_dropped_not_retried(mall: Mall) -> None:
    result = mall.module("payout_worker").handler(sqs_event("not json", {"other": 1}), FakeContext())
    assert result == {"batchItemFailures": []}
    assert run_worker(mall, "w_nosuchwithdrawal0000000") == {"batchItemFailures": []}
    assert bills(mall) == {}


def test_a_transfer_wechatpay_does_not_confirm_stays_paying_and_is_retried_with_the_same_number(mall: Mall) -> None:
    table = main_table()
    w = approved_withdrawal(table, promoter(table))
    mall.sandbox.fail_next(500, "SYSTEM_ERROR")
    assert run_worker(mall, w.withdrawal_id) == {"batchItemFailures": [{"itemIdentifier": "m-0"}]}
    item = record(w.withdrawal_id)
    assert item["status"] == "PAYING" and item["payout_error"]["code"] == "SYSTEM_ERROR"
    assert "bill_state" not in item and bills(mall) == {}
    assert run_worker(mall, w.withdrawal_id) == {"batchItemFailures": []}
    item = record(w.withdrawal_id)
    assert item["bill_state"] == "WAIT_USER_CONFIRM" and "payout_error" not in item
    assert list(bills(mall)) == [w.out_bill_no]


def test_a_definitive_refusal_without_a_bill_fails_the_withdrawal_and_returns_the_funds(mall: Mall) -> None:
    table = main_table()
    uid = promoter(table)
    w = approved_withdrawal(table, uid)
    mall.sandbox.fail_next(400, "INVALID_REQUEST", "你尚未获取该转账场景")
    assert run_worker(mall, w.withdrawal_id) == {"batchItemFailures": []}
    item = record(w.withdrawal_id)
    assert item["status"] == "FAILED" and item["fail_reason"] == "INVALID_REQUEST"
    assert item["gsi1pk"] == "WITHDRAWALS#FAILED" and bills(mall) == {}
    assert wallet(uid)["available"] == 10_000 and wallet(uid)["withdrawing"] == 0


def test_a_promoter_without_an_openid_cannot_be_paid_by_transfer(mall: Mall) -> None:
    table = main_table()
    uid = "u_noprofile00000000000000"
    w = approved_withdrawal(table, uid)
    run_worker(mall, w.withdrawal_id)
    assert record(w.withdrawal_id)["status"] == "FAILED"
    assert record(w.withdrawal_id)["fail_reason"] == "payee_has_no_openid"
    assert wallet(uid)["available"] == 10_000 and bills(mall) == {}


def test_only_approved_wechat_withdrawals_are_started(mall: Mall) -> None:
    table = main_table()
    uid = promoter(table)
    bank = approved_withdrawal(table, uid, method="bank")
    pending = approved_withdrawal(table, uid, status=WithdrawalStatus.PENDING_REVIEW)
    run_worker(mall, bank.withdrawal_id, pending.withdrawal_id)
    assert record(bank.withdrawal_id)["status"] == "APPROVED"
    assert record(pending.withdrawal_id)["status"] == "PENDING_REVIEW"
    assert bills(mall) == {}


# ---- the notification: SUCCESS once, FAIL returns funds once ---------------------------------------


def started(mall: Mall, *, amount_fen: int = 10_000, fee_fen: int = 100, code: str = "promoter") -> Withdrawal:
    table = main_table()
    w = approved_withdrawal(table, promoter(table, code), amount_fen=amount_fen, fee_fen=fee_fen)
    assert run_worker(mall, w.withdrawal_id) == {"batchItemFailures": []}
    return w


def test_success_pays_once_and_a_duplicate_changes_nothing(mall: Mall) -> None:
    w = started(mall)
    uid = w.promoter_id
    before_fees = LedgerRepository(main_table()).merchant_balances()["merchant:fees"]
    event = mall.sandbox.confirm_transfer(w.out_bill_no)  # the promoter confirms in the mini-program
    assert mall.deliver(event.headers, event.body) == (204, {})
    item = record(w.withdrawal_id)
    assert item["status"] == "PAID" and item["bill_state"] == "SUCCESS" and item["paid_at"]
    assert item["gsi1pk"] == "WITHDRAWALS#PAID" and item["timeline"][-1]["by"] == "wechatpay"
    assert wallet(uid) == {"frozen": 0, "available": 0, "withdrawing": 0, "withdrawn": 9_900, "debt": 0}
    assert LedgerRepository(main_table()).merchant_balances()["merchant:fees"] == before_fees + 100
    assert posting_kinds(uid).count("withdrawal_paid") == 1

    # WeChat Pay delivers again (same notification id, fresh signature): success, nothing changes.
    again = mall.sandbox.redeliver_last()
    assert mall.deliver(again.headers, again.body) == (204, {})
    assert record(w.withdrawal_id) == item
    assert posting_kinds(uid).count("withdrawal_paid") == 1 and wallet(uid)["withdrawn"] == 9_900


@pytest.mark.parametrize("state", ["FAIL", "CANCELLED"])
def test_a_failed_or_cancelled_bill_returns_the_funds_exactly_once(mall: Mall, state: str) -> None:
    w = started(mall)
    uid = w.promoter_id
    event = mall.sandbox.finish_transfer(w.out_bill_no, state=state)
    assert mall.deliver(event.headers, event.body) == (204, {})
    item = record(w.withdrawal_id)
    expected_reason = "PAYEE_ACCOUNT_ABNORMAL" if state == "FAIL" else "BILL_CANCELLED"
    assert item["status"] == "FAILED" and item["bill_state"] == state and item["fail_reason"] == expected_reason
    assert wallet(uid) == {"frozen": 0, "available": 10_000, "withdrawing": 0, "withdrawn": 0, "debt": 0}
    for _ in range(2):
        again = mall.sandbox.redeliver_last()
        assert mall.deliver(again.headers, again.body) == (204, {})
    assert record(w.withdrawal_id) == item
    assert posting_kinds(uid).count("withdrawal_returned") == 1 and wallet(uid)["available"] == 10_000


def test_a_failed_bills_number_is_never_used_again(mall: Mall) -> None:
    w = started(mall)
    event = mall.sandbox.fail_transfer(w.out_bill_no)
    assert mall.deliver(event.headers, event.body)[0] == 204
    failed = record(w.withdrawal_id)
    # A stray queue message, the reconciler, anything: no new bill under that number, nothing changes.
    assert run_worker(mall, w.withdrawal_id) == {"batchItemFailures": []}
    assert run_reconcile(mall, 120)["examined"] == 0
    assert list(bills(mall)) == [w.out_bill_no] and bills(mall)[w.out_bill_no]["state"] == "FAIL"
    assert record(w.withdrawal_id) == failed
    # A SUCCESS for the failed number contradicts what was recorded: refused, nothing changes.
    resource = mall.sandbox.transfer_bill_resource(w.out_bill_no, w.net_fen, "openid-promoter", state="SUCCESS",
                                                   transfer_bill_no=failed["transfer_bill_no"])
    status, reply = mall.deliver(*mall.sandbox.build_notification("MCHTRANSFER.BILL.FINISHED", resource,
                                                                  original_type="mch_payment"))
    assert status == 409 and fail_body(reply) == "bill contradicts the recorded outcome"
    assert record(w.withdrawal_id) == failed and wallet(w.promoter_id)["withdrawn"] == 0


def test_forged_and_mismatched_transfer_notifications_are_refused_and_change_nothing(mall: Mall) -> None:
    from local.wechatpay_keys import generate_local_keys

    w = started(mall)
    before, money = record(w.withdrawal_id), wallet(w.promoter_id)
    sandbox = mall.sandbox
    good = sandbox.transfer_bill_resource(w.out_bill_no, w.net_fen, "openid-promoter",
                                          transfer_bill_no=before["transfer_bill_no"])

    def note(resource: dict[str, Any], **kwargs: Any) -> tuple[dict[str, str], bytes]:
        return sandbox.build_notification("MCHTRANSFER.BILL.FINISHED", resource, original_type="mch_payment",
                                          **kwargs)

    headers, body = note(good)
    other_key = load_private_key(generate_local_keys()["wechatpay_platform_private_key"])
    forged = rsa_sign(other_key, f"{headers['Wechatpay-Timestamp']}\n{headers['Wechatpay-Nonce']}\n".encode()
                      + body + b"\n")
    stale = str(int((utc_now() - timedelta(seconds=301)).timestamp()))
    cases: dict[str, tuple[tuple[dict[str, str], bytes], int, str]] = {
        "forged signature": (note(good, signature_override=forged), 401, "bad_signature"),
        "wrong serial": (note(good, serial_override="PUB_KEY_ID_0114999999999999999999999"), 401, "unknown_serial"),
        "stale timestamp": (note(good, timestamp_override=stale), 401, "stale_timestamp"),
        "signtest probe": (note(good, signature_override="WECHATPAY/SIGNTEST/abcdef"), 401, "signature_probe"),
        "body changed after signing": ((headers, body.replace(b"mch_payment", b"mch_paymenT")), 401,
                                       "bad_signature"),
        "amount mismatch": (note({**good, "transfer_amount": w.net_fen + 1}), 400, "amount mismatch"),
        "other payee": (note({**good, "openid": "openid-someone-else"}), 400, "openid mismatch"),
        "other merchant": (note({**good, "mch_id": "1999999999"}), 400, "mch_id mismatch"),
        "unknown number": (note({**good, "out_bill_no": "wnosuchwithdrawal000000"}), 404, "unknown out_bill_no"),
        "malformed amount": (note({**good, "transfer_amount": "9900"}), 400, "malformed_resource"),
    }
    for name, ((h, b), status, message) in cases.items():
        got, reply = mall.deliver(h, b)
        assert (got, fail_body(reply)) == (status, message), name
        assert record(w.withdrawal_id) == before and wallet(w.promoter_id) == money, name
    # The genuine notification still works afterwards.
    assert mall.deliver(headers, body) == (204, {})
    assert record(w.withdrawal_id)["status"] == "PAID"


# ---- bank transfers: marked by an admin, audited ----------------------------------------------------


def test_an_admin_marks_a_bank_withdrawal_paid_once_with_its_reference(mall: Mall) -> None:
    table = main_table()
    uid = promoter(table)
    w = approved_withdrawal(table, uid, method="bank", amount_fen=20_000, fee_fen=200)
    status, body = admin_mark(mall, w.withdrawal_id, "mark-paid", {"reference": "ICBC20261122000123"})
    assert status == 200, body
    assert body["status"] == "PAID" and body["bank_reference"] == "ICBC20261122000123" and body["net_fen"] == 19_800
    item = record(w.withdrawal_id)
    assert item["timeline"][-1]["by"] == "admin:alice" and item["gsi1pk"] == "WITHDRAWALS#PAID"
    assert wallet(uid) == {"frozen": 0, "available": 0, "withdrawing": 0, "withdrawn": 19_800, "debt": 0}
    audits = [a for a in AuditLog(table).on(utc_now()) if a.get("entity_id") == w.withdrawal_id]
    assert [(a["action"], a["actor"], a["details"]["reference"], a["source_ip"]) for a in audits] == [
        ("withdrawal.mark_paid", "admin:alice", "ICBC20261122000123", "127.0.0.1")]

    # The same mark again (a double click): the withdrawal as it is; a different one: 409.
    again = admin_mark(mall, w.withdrawal_id, "mark-paid", {"reference": "ICBC20261122000123"})
    assert again == (200, body) and record(w.withdrawal_id) == item
    status, error = admin_mark(mall, w.withdrawal_id, "mark-paid", {"reference": "OTHER"})
    assert status == 409 and error["error"]["code"] == "withdrawal_not_markable"
    status, error = admin_mark(mall, w.withdrawal_id, "mark-failed", {"reason": "late"})
    assert status == 409 and error["error"]["code"] == "withdrawal_not_markable"
    assert posting_kinds(uid).count("withdrawal_paid") == 1 and wallet(uid)["withdrawn"] == 19_800


def test_an_admin_marks_a_bank_withdrawal_failed_and_the_funds_return(mall: Mall) -> None:
    table = main_table()
    uid = promoter(table)
    w = approved_withdrawal(table, uid, method="bank")
    status, body = admin_mark(mall, w.withdrawal_id, "mark-failed", {"reason": "户名不符，银行退回"})
    assert status == 200 and body["status"] == "FAILED" and body["fail_reason"] == "户名不符，银行退回"
    assert wallet(uid) == {"frozen": 0, "available": 10_000, "withdrawing": 0, "withdrawn": 0, "debt": 0}
    assert admin_mark(mall, w.withdrawal_id, "mark-failed", {"reason": "户名不符，银行退回"})[0] == 200
    assert posting_kinds(uid).count("withdrawal_returned") == 1
    audits = [a["action"] for a in AuditLog(table).on(utc_now()) if a.get("entity_id") == w.withdrawal_id]
    assert audits == ["withdrawal.mark_failed"]


def test_bank_marks_are_for_admins_and_bank_withdrawals_only(mall: Mall) -> None:
    table = main_table()
    wechat = approved_withdrawal(table, promoter(table))
    status, error = admin_mark(mall, wechat.withdrawal_id, "mark-paid", {"reference": "X1"})
    assert status == 409 and error["error"]["code"] == "withdrawal_not_bank"
    assert admin_mark(mall, "w_nosuchwithdrawal0000000", "mark-paid", {"reference": "X1"})[0] == 404
    customer = admin_headers("u_customer", Role.CUSTOMER)
    assert admin_mark(mall, wechat.withdrawal_id, "mark-paid", {"reference": "X1"}, customer)[0] == 403
    status, error = admin_mark(mall, wechat.withdrawal_id, "mark-paid", {"reference": ""})
    assert status == 422
    assert record(wechat.withdrawal_id)["status"] == "APPROVED"


# ---- the reconciler ---------------------------------------------------------------------------------


def test_the_reconciler_finishes_a_bill_whose_notification_was_lost(mall: Mall) -> None:
    w = started(mall)
    mall.sandbox.confirm_transfer(w.out_bill_no)  # SUCCESS at WeChat Pay; the notification is lost
    assert record(w.withdrawal_id)["status"] == "PAYING"
    assert run_reconcile(mall, 5)["examined"] == 0  # not stuck yet (stuck_bill_minutes: 30)
    report = run_reconcile(mall, 31)
    assert report == {"statusCode": 200, "examined": 1, "started": 0, "paid": 1, "failed": 0, "waiting": 0,
                      "errors": 0}
    assert record(w.withdrawal_id)["status"] == "PAID" and wallet(w.promoter_id)["withdrawn"] == 9_900
    # The late notification is a duplicate.
    late = mall.sandbox.redeliver_last()
    assert mall.deliver(late.headers, late.body) == (204, {})
    assert posting_kinds(w.promoter_id).count("withdrawal_paid") == 1


def test_the_reconciler_leaves_a_bill_still_waiting_for_the_promoter(mall: Mall) -> None:
    w = started(mall)
    report = run_reconcile(mall, 31)
    assert report["examined"] == 1 and report["waiting"] == 1
    assert record(w.withdrawal_id)["status"] == "PAYING" and list(bills(mall)) == [w.out_bill_no]


def test_the_reconciler_starts_an_approved_withdrawal_whose_message_was_lost(mall: Mall) -> None:
    table = main_table()
    uid = promoter(table)
    earlier = utc_now() - timedelta(minutes=1)
    w = approved_withdrawal(table, uid, at=earlier)
    bank = approved_withdrawal(table, uid, method="bank", at=earlier)
    assert run_reconcile(mall, 0)["examined"] == 0  # approved a minute ago: its message may still come
    report = run_reconcile(mall, 6)
    assert report["examined"] == 1 and report["started"] == 1, report
    assert record(w.withdrawal_id)["status"] == "PAYING" and list(bills(mall)) == [w.out_bill_no]
    assert record(bank.withdrawal_id)["status"] == "APPROVED"  # bank transfers wait for an admin


def test_the_reconciler_creates_the_bill_a_crashed_worker_never_created(mall: Mall) -> None:
    table = main_table()
    w = approved_withdrawal(table, promoter(table))
    mall.sandbox.fail_next(500, "SYSTEM_ERROR")
    run_worker(mall, w.withdrawal_id)  # PAYING, no bill at WeChat Pay
    assert record(w.withdrawal_id)["status"] == "PAYING" and bills(mall) == {}
    report = run_reconcile(mall, 6)
    assert report["examined"] == 1 and report["started"] == 1, report
    assert list(bills(mall)) == [w.out_bill_no] and record(w.withdrawal_id)["bill_state"] == "WAIT_USER_CONFIRM"


def test_a_bank_payout_counts_its_fen_on_the_money_dashboard(mall: Mall, capsys: pytest.CaptureFixture[str]) -> None:
    # The dashboard's "withdrawals paid (fen)" sums WithdrawalsPaidFen: a bank payout is money out too.
    table = main_table()
    w = approved_withdrawal(table, promoter(table), method="bank", amount_fen=20_000, fee_fen=200)
    capsys.readouterr()
    assert admin_mark(mall, w.withdrawal_id, "mark-paid", {"reference": "ICBC20261122000456"})[0] == 200
    emitted: dict[str, Any] = {}
    for line in capsys.readouterr().out.splitlines():
        if line.startswith("{") and "_aws" in (entry := json.loads(line)):
            emitted |= {m["Name"]: entry[m["Name"]] for d in entry["_aws"]["CloudWatchMetrics"] for m in d["Metrics"]}
    assert emitted.get("WithdrawalsPaid") in (1.0, [1.0])
    assert emitted.get("WithdrawalsPaidFen") in (19_800.0, [19_800.0])
