"""Withdrawals through the real handlers against moto (DynamoDB and SQS): every limit refuses
with its rule and limit and changes nothing, idempotent requests, maker-checker review, funds
returned once on rejection, own-data-only views, admin filters, CSV export, bank accounts."""

from __future__ import annotations

import csv
import io
import json
import uuid
from dataclasses import dataclass
from datetime import timedelta
from types import ModuleType
from typing import Any

import boto3
import pytest

from mall.clock import china_day, iso, utc_now
from mall.dal import queues
from mall.dal.audit import AuditLog
from mall.dal.keys import wallet_key, withdrawal_key
from mall.dal.ledger import LedgerRepository
from mall.dal.referral import PromoterRepository
from mall.dal.settings import SettingsRepository
from mall.dal.table import Item, main_table
from mall.domain import ledger as L
from mall.domain.referral import Promoter
from mall.domain.settings import DistributionSettings, WithdrawalRules
from mall.domain.tokens import Role
from mall.integrations import pii_crypto
from tests.conftest import bearer
from tests.unit.conftest import FakeContext, http_event, load_function

PROMOTER = "u_alice"
OTHER = "u_bob"


def auth(subject: str, *roles: Role) -> dict[str, str]:
    return bearer(subject, *roles)


def promoter_auth(uid: str = PROMOTER) -> dict[str, str]:
    return auth(uid, Role.CUSTOMER, Role.PROMOTER)


ADMIN_A = "admin:alice"
ADMIN_B = "admin:bob"


@dataclass
class Mall:
    queue_url: str
    modules: dict[str, ModuleType]

    def call(self, function: str, method: str, path: str, *, headers: dict[str, str], body: Any = None,
             query: dict[str, str] | None = None) -> tuple[int, Any, dict[str, str]]:
        if function not in self.modules:
            self.modules[function] = load_function(function)
        event = http_event(method, path, body=body, headers=headers)
        if query:
            event["queryStringParameters"] = query
            event["rawQueryString"] = "&".join(f"{k}={v}" for k, v in query.items())
        result = self.modules[function].handler(event, FakeContext())
        out_headers = result.get("headers") or {}
        text = result.get("body") or ""
        parsed = json.loads(text) if "json" in out_headers.get("Content-Type", "application/json") and text else text
        return int(result["statusCode"]), parsed, out_headers

    def request(self, amount: int, *, uid: str = PROMOTER, key: str | None = None, method: str = "wechat",
                bank: dict[str, str] | None = None) -> tuple[int, Any]:
        body: dict[str, Any] = {"amount_fen": amount, "method": method}
        if bank is not None:
            body["bank"] = bank
        headers = {**promoter_auth(uid), "idempotency-key": key or uuid.uuid4().hex}
        status, payload, _ = self.call("promoter_withdraw", "POST", "/promoter/withdrawals", headers=headers,
                                       body=body)
        return status, payload

    def approve(self, withdrawal_id: str, admin: str = ADMIN_A) -> tuple[int, Any]:
        status, payload, _ = self.call("admin_withdrawal_review", "POST", f"/admin/withdrawals/{withdrawal_id}/approve",
                                       headers=auth(admin, Role.ADMIN))
        return status, payload

    def reject(self, withdrawal_id: str, admin: str = ADMIN_A, reason: str = "资料不符") -> tuple[int, Any]:
        status, payload, _ = self.call("admin_withdrawal_review", "POST", f"/admin/withdrawals/{withdrawal_id}/reject",
                                       headers=auth(admin, Role.ADMIN), body={"reason": reason})
        return status, payload

    def admin_list(self, **query: str) -> tuple[int, Any]:
        status, payload, _ = self.call("admin_withdrawals", "GET", "/admin/withdrawals",
                                       headers=auth(ADMIN_A, Role.ADMIN), query=query)
        return status, payload

    def sent(self) -> list[dict[str, Any]]:
        sqs = boto3.client("sqs", region_name="us-east-1")
        messages: list[dict[str, Any]] = []
        while True:
            got = sqs.receive_message(QueueUrl=self.queue_url, MaxNumberOfMessages=10).get("Messages", [])
            if not got:
                return messages
            for m in got:
                messages.append(json.loads(m["Body"]))
                sqs.delete_message(QueueUrl=self.queue_url, ReceiptHandle=m["ReceiptHandle"])


@pytest.fixture
def mall(moto_table: str, monkeypatch: pytest.MonkeyPatch) -> Mall:
    url = boto3.client("sqs", region_name="us-east-1").create_queue(QueueName="PayoutQueue")["QueueUrl"]
    monkeypatch.setenv("PAYOUT_QUEUE_URL", url)
    queues.sqs_client.cache_clear()
    for uid in (PROMOTER, OTHER):
        make_promoter(uid)
    return Mall(url, {})


def make_promoter(uid: str, status: str = "active") -> None:
    now = utc_now()
    PromoterRepository(main_table()).create(
        Promoter(user_id=uid, code=f"C{uid[-3:]}", status="active", level_id="basic", applied_at=now,
                 activated_at=now), grant_role=False, replaces_rejected=False, now=now, reserve_code=True)
    if status != "active":
        main_table().update({"pk": f"USER#{uid}", "sk": "PROMOTER"}, "SET #s = :s", names={"#s": "status"},
                            values={":s": status})


_funded = {"n": 0}


def fund(uid: str, fen: int) -> None:
    """Settle ``fen`` of commission into ``uid``'s available balance."""
    _funded["n"] += 1
    ledger = LedgerRepository(main_table())
    cid = f"cm_fund{_funded['n']}"
    now = utc_now()
    ledger.post([L.commission_frozen(promoter_id=uid, commission_id=cid, amount_fen=fen, at=now, ref={})])
    ledger.post(L.commission_settled(balances=ledger.wallet(uid).balances, promoter_id=uid, commission_id=cid,
                                     amount_fen=fen, at=now, ref={}))


def configure(**withdrawal: Any) -> None:
    repo = SettingsRepository(main_table())
    current = repo.current(consistent=True)
    rules = WithdrawalRules.model_validate({**current.settings.withdrawal.model_dump(), **withdrawal})
    repo.save(DistributionSettings.model_validate({**current.settings.model_dump(), "withdrawal": rules.model_dump()}),
              based_on=current.version, saved_by="admin:test", now=utc_now())


def wallet(uid: str = PROMOTER) -> L.Balances:
    return LedgerRepository(main_table()).wallet(uid).balances


def postings(uid: str = PROMOTER) -> list[Item]:
    return list(LedgerRepository(main_table()).all_postings(uid))


def withdrawal_items() -> list[Item]:
    table = main_table()
    return [i for i in table.client.scan(TableName=table.name).get("Items", []) if i.get("entity", {}).get("S") in
            {"withdrawal", "withdraw_day"}]


def record(withdrawal_id: str) -> Item:
    item = main_table().get(withdrawal_key(withdrawal_id), consistent=True)
    assert item is not None
    return item


# ---- requesting ----------------------------------------------------------------------------------


def test_a_small_request_is_approved_at_once_held_in_one_go_and_sent_to_the_payout(mall: Mall) -> None:
    fund(PROMOTER, 30_000)
    status, body = mall.request(10_000)
    assert status == 201, body
    assert body["status"] == "APPROVED" and body["review"] == "auto"
    assert (body["amount_fen"], body["fee_fen"], body["net_fen"]) == (10_000, 100, 9_900)
    assert [e["status"] for e in body["timeline"]] == ["PENDING_REVIEW", "APPROVED"]
    assert body["timeline"][0]["by"] == "promoter" and body["timeline"][1]["by"] == "auto"
    assert wallet() == L.Balances(available=20_000, withdrawing=10_000)
    held = [p for p in postings() if p["kind"] == "withdrawal_held"]
    assert [p["posting_id"] for p in held] == [f"{body['withdrawal_id']}.held"]
    item = record(body["withdrawal_id"])
    assert item["gsi1pk"] == "WITHDRAWALS#APPROVED" and item["gsi2pk"] == f"PROMOTER_WITHDRAWALS#{PROMOTER}"
    assert item["out_bill_no"] == body["withdrawal_id"].replace("_", "") and item["version"] == 1
    counter = main_table().get({"pk": f"USER#{PROMOTER}", "sk": f"WITHDRAW_DAY#{china_day(utc_now())}"})
    assert counter is not None and (counter["count"], counter["amount_fen"]) == (1, 10_000)
    assert mall.sent() == [{"withdrawal_id": body["withdrawal_id"]}]


def test_a_request_from_the_review_threshold_waits_for_an_admin(mall: Mall) -> None:
    fund(PROMOTER, 30_000)
    status, body = mall.request(20_000)
    assert status == 201 and body["status"] == "PENDING_REVIEW" and body["review"] == "manual"
    assert body["required_approvals"] == 1 and body["approvals"] == []
    assert wallet() == L.Balances(available=10_000, withdrawing=20_000)
    assert mall.sent() == []


def _rule(payload: Any) -> tuple[str, str, Any]:
    error = payload["error"]
    return error["code"], error["details"]["rule"], error["details"]["limit"]


@pytest.mark.parametrize(("setup", "amount", "method", "expected"), [
    ({}, 4_999, "wechat", (422, "amount_below_minimum", "withdrawal.min_fen", 5_000)),
    ({}, 200_000, "wechat", (422, "amount_above_maximum", "withdrawal.max_fen", 199_999)),
    ({}, 5_000, "bank", (422, "method_not_allowed", "withdrawal.methods", ["wechat"])),
    ({"max_fen": 300_000}, 200_000, "wechat", (422, "wechat_real_name_required", "wechat_real_name", 199_999)),
    ({}, 100_001, "wechat", (409, "insufficient_balance", "available_fen", 100_000)),
])
def test_amount_and_balance_refusals_name_the_rule_and_change_nothing(
        mall: Mall, setup: dict[str, Any], amount: int, method: str, expected: tuple[int, str, str, Any]) -> None:
    if setup:
        configure(**setup)
    fund(PROMOTER, 100_000)
    before = (wallet(), postings())
    status, body = mall.request(amount, method=method, bank=None)
    assert (status, *_rule(body)) == expected, body
    assert str(expected[3]) in body["error"]["message"] or expected[2] == "withdrawal.methods"
    assert (wallet(), postings()) == before and withdrawal_items() == []


def test_the_daily_count_limit(mall: Mall) -> None:
    configure(daily_count=2)
    fund(PROMOTER, 100_000)
    assert mall.request(5_000)[0] == 201 and mall.request(5_000)[0] == 201
    before = wallet()
    status, body = mall.request(5_000)
    assert (status, *_rule(body)) == (409, "daily_count_exceeded", "withdrawal.daily_count", 2)
    assert body["error"]["details"]["actual"] == 2
    assert wallet() == before and len([i for i in withdrawal_items() if i["entity"]["S"] == "withdrawal"]) == 2


def test_the_daily_amount_limit(mall: Mall) -> None:
    configure(daily_amount_fen=30_000, max_fen=30_000)
    fund(PROMOTER, 100_000)
    assert mall.request(20_000)[0] == 201
    status, body = mall.request(10_001)
    assert (status, *_rule(body)) == (409, "daily_amount_exceeded", "withdrawal.daily_amount_fen", 30_000)
    assert body["error"]["details"]["remaining_fen"] == 10_000
    assert mall.request(10_000)[0] == 201  # exactly the rest of the day's amount
    assert wallet() == L.Balances(available=70_000, withdrawing=30_000)


def test_an_inactive_promoter_cannot_withdraw(mall: Mall) -> None:
    make_promoter("u_frozen", status="frozen")
    fund("u_frozen", 50_000)
    status, body = mall.request(5_000, uid="u_frozen")
    assert (status, *_rule(body)) == (403, "promoter_not_active", "promoter.status", "active")
    assert wallet("u_frozen") == L.Balances(available=50_000)
    status, body = mall.request(5_000, uid="u_nobody")  # a token with the role but no promoter record
    assert status == 403 and body["error"]["code"] == "promoter_not_active"


def test_an_open_risk_case_refuses_the_request(mall: Mall) -> None:
    fund(PROMOTER, 50_000)
    # An open case's hold: its item, mirrored by the wallet's flag in the same transaction.
    main_table().put({"pk": f"USER#{PROMOTER}", "sk": "RISK_HOLD", "case_id": "rc_1", "opened_at": iso(utc_now())})
    main_table().update(wallet_key(PROMOTER), "SET risk_hold = :on", values={":on": True})
    status, body = mall.request(5_000)
    assert (status, *_rule(body)) == (409, "risk_hold", "risk_hold", "no open risk case")
    assert "rc_1" not in json.dumps(body)
    assert wallet() == L.Balances(available=50_000) and withdrawal_items() == []


def test_a_promoter_who_owes_a_debt_cannot_withdraw(mall: Mall) -> None:
    fund(PROMOTER, 20_000)
    status, body = mall.request(20_000)  # manual review: the whole balance is held
    assert status == 201
    ledger = LedgerRepository(main_table())
    claw = L.commission_clawed_back(balances=ledger.wallet(PROMOTER).balances, promoter_id=PROMOTER,
                                    commission_id="cm_refunded", amount_fen=3_000, at=utc_now(), ref={}, step="1")
    ledger.post([claw])
    assert mall.reject(body["withdrawal_id"])[0] == 200  # the 20,000 come back and repay the 3,000 debt first
    assert wallet() == L.Balances(available=17_000, debt=0)
    status, body = mall.request(17_000)
    assert status == 201
    claw = L.commission_clawed_back(balances=ledger.wallet(PROMOTER).balances, promoter_id=PROMOTER,
                                    commission_id="cm_refunded", amount_fen=3_000, at=utc_now(), ref={}, step="2")
    ledger.post([claw])  # nothing available: all of it owed
    status, body = mall.request(5_000)
    assert (status, *_rule(body)) == (409, "outstanding_debt", "debt_fen", 0)
    assert body["error"]["details"]["actual"] == 3_000
    assert wallet() == L.Balances(withdrawing=17_000, debt=-3_000)


def test_the_fee_rule_at_its_boundaries_over_http(mall: Mall) -> None:
    configure(fee_min_fen=200, auto_review_below_fen=0, daily_count=10)
    fund(PROMOTER, 200_000)
    for amount, fee in ((9_999, 0), (10_000, 200), (20_000, 200), (20_150, 201)):
        status, body = mall.request(amount)
        assert status == 201 and (body["fee_fen"], body["net_fen"]) == (fee, amount - fee), (amount, body)


def test_bad_bodies_are_refused(mall: Mall) -> None:
    fund(PROMOTER, 50_000)
    assert mall.request(5000.5)[0] == 422  # type: ignore[arg-type]
    status, body, _ = mall.call("promoter_withdraw", "POST", "/promoter/withdrawals",
                                headers={**promoter_auth(), "idempotency-key": "k-12345678"},
                                body={"amount_fen": "5000"})
    assert status == 422
    configure(methods=["wechat", "bank"])
    status, body = mall.request(5_000, method="bank")
    assert status == 422 and body["error"]["fields"][0]["field"] == "bank"
    assert wallet() == L.Balances(available=50_000)


# ---- idempotency and roles -----------------------------------------------------------------------


def test_the_same_idempotency_key_never_withdraws_twice(mall: Mall) -> None:
    fund(PROMOTER, 50_000)
    first = mall.request(10_000, key="withdraw-key-0001")
    again = mall.request(10_000, key="withdraw-key-0001")
    assert first[0] == again[0] == 201 and first[1]["withdrawal_id"] == again[1]["withdrawal_id"]
    assert wallet() == L.Balances(available=40_000, withdrawing=10_000)
    assert len([p for p in postings() if p["kind"] == "withdrawal_held"]) == 1
    status, body = mall.request(20_000, key="withdraw-key-0001")
    assert status == 422 and body["error"]["code"] == "idempotency_key_reused"
    status, body, _ = mall.call("promoter_withdraw", "POST", "/promoter/withdrawals", headers=promoter_auth(),
                                body={"amount_fen": 10_000})
    assert status == 422 and body["error"]["fields"][0]["field"] == "header:idempotency-key"


def test_roles(mall: Mall) -> None:
    customer = auth("u_carol", Role.CUSTOMER)
    status, body, _ = mall.call("promoter_withdraw", "POST", "/promoter/withdrawals",
                                headers={**customer, "idempotency-key": "k-12345678"}, body={"amount_fen": 5_000})
    assert status == 403 and body["error"]["code"] == "forbidden_role"
    assert mall.call("admin_withdrawals", "GET", "/admin/withdrawals", headers=promoter_auth())[0] == 403
    assert mall.call("admin_withdrawal_review", "POST", "/admin/withdrawals/w_x/approve",
                     headers=promoter_auth())[0] == 403


def test_a_promoter_never_sees_another_promoters_withdrawal(mall: Mall) -> None:
    fund(PROMOTER, 50_000)
    mine = mall.request(10_000)[1]["withdrawal_id"]
    path = f"/promoter/withdrawals/{mine}"
    status, body, _ = mall.call("promoter_withdrawals", "GET", path, headers=promoter_auth())
    assert status == 200 and body["withdrawal_id"] == mine and body["confirm"] is None
    status, body, _ = mall.call("promoter_withdrawals", "GET", path, headers=promoter_auth(OTHER))
    assert status == 404 and body["error"]["code"] == "withdrawal_not_found"
    status, body, _ = mall.call("promoter_withdrawals", "GET", "/promoter/withdrawals", headers=promoter_auth(OTHER))
    assert status == 200 and body["items"] == []
    status, body, _ = mall.call("promoter_withdrawals", "GET", "/promoter/withdrawals", headers=promoter_auth())
    assert [w["withdrawal_id"] for w in body["items"]] == [mine]


def test_my_list_is_newest_first_filtered_and_paginated_and_shows_the_confirm_page_data(mall: Mall) -> None:
    configure(daily_count=10)
    fund(PROMOTER, 100_000)
    ids = [mall.request(amount)[1]["withdrawal_id"] for amount in (10_000, 30_000, 12_000)]
    status, body, _ = mall.call("promoter_withdrawals", "GET", "/promoter/withdrawals", headers=promoter_auth(),
                                query={"limit": "2"})
    assert status == 200 and [w["withdrawal_id"] for w in body["items"]] == ids[::-1][:2]
    status, rest, _ = mall.call("promoter_withdrawals", "GET", "/promoter/withdrawals", headers=promoter_auth(),
                                query={"limit": "2", "cursor": body["next_cursor"]})
    assert [w["withdrawal_id"] for w in rest["items"]] == [ids[0]]
    status, pending, _ = mall.call("promoter_withdrawals", "GET", "/promoter/withdrawals", headers=promoter_auth(),
                                   query={"status": "PENDING_REVIEW"})
    assert [w["withdrawal_id"] for w in pending["items"]] == [ids[1]]
    # Another promoter's cursor is refused.
    status, _, _ = mall.call("promoter_withdrawals", "GET", "/promoter/withdrawals", headers=promoter_auth(OTHER),
                             query={"cursor": body["next_cursor"]})
    assert status == 422
    # The payout worker leaves a bill waiting for the promoter: the detail carries what
    # wx.requestMerchantTransfer needs.
    main_table().update(withdrawal_key(ids[0]), "SET #s = :s, bill_state = :b, package_info = :p",
                        names={"#s": "status"}, values={":s": "PAYING", ":b": "WAIT_USER_CONFIRM", ":p": "pkg-123"})
    status, detail, _ = mall.call("promoter_withdrawals", "GET", f"/promoter/withdrawals/{ids[0]}",
                                  headers=promoter_auth())
    assert status == 200 and detail["confirm"]["package_info"] == "pkg-123" and detail["confirm"]["mch_id"]
    assert detail["confirm"]["app_id"] == "wx_test_app"


# ---- review --------------------------------------------------------------------------------------


def test_two_different_admins_must_approve_a_large_withdrawal(mall: Mall) -> None:
    fund(PROMOTER, 200_000)
    status, body = mall.request(150_000)
    wid = body["withdrawal_id"]
    assert status == 201 and body["required_approvals"] == 2
    status, first = mall.approve(wid, ADMIN_A)
    assert status == 200 and first["status"] == "PENDING_REVIEW"
    assert [a["admin_id"] for a in first["approvals"]] == [ADMIN_A]
    status, same = mall.approve(wid, ADMIN_A)
    assert status == 409 and same["error"]["code"] == "already_approved_by_you"
    assert mall.sent() == []
    status, second = mall.approve(wid, ADMIN_B)
    assert status == 200 and second["status"] == "APPROVED" and second["approved_at"]
    assert [a["admin_id"] for a in second["approvals"]] == [ADMIN_A, ADMIN_B]
    assert mall.sent() == [{"withdrawal_id": wid}]
    status, again = mall.approve(wid, "admin:carol")
    assert status == 409 and again["error"]["code"] == "withdrawal_not_approvable"
    assert again["error"]["details"]["status"] == "APPROVED"
    item = record(wid)
    assert item["gsi1pk"] == "WITHDRAWALS#APPROVED" and item["version"] == 3
    assert [(e["status"], e["by"]) for e in item["timeline"]] == [
        ("PENDING_REVIEW", PROMOTER), ("PENDING_REVIEW", ADMIN_A), ("APPROVED", ADMIN_B)]
    audit = [a for a in AuditLog(main_table()).on(utc_now()) if a.get("entity_id") == wid]
    assert [(a["action"], a["actor"]) for a in audit] == [("withdrawal.approve", ADMIN_A),
                                                          ("withdrawal.approve", ADMIN_B)]
    # The promoter sees that admins approved, not which.
    status, mine, _ = mall.call("promoter_withdrawals", "GET", f"/promoter/withdrawals/{wid}", headers=promoter_auth())
    assert {a["admin_id"] for a in mine["approvals"]} == {"admin"} and ADMIN_A not in json.dumps(mine)


def test_a_rejection_returns_the_funds_exactly_once(mall: Mall) -> None:
    fund(PROMOTER, 50_000)
    wid = mall.request(30_000)[1]["withdrawal_id"]
    assert wallet() == L.Balances(available=20_000, withdrawing=30_000)
    status, body = mall.reject(wid, reason="收款信息有误")
    assert status == 200 and body["status"] == "REJECTED" and body["reason"] == "收款信息有误"
    assert body["rejected_by"] == ADMIN_A and body["rejected_at"]
    assert wallet() == L.Balances(available=50_000)
    status, again = mall.reject(wid)
    assert status == 409 and again["error"]["code"] == "withdrawal_not_rejectable"
    assert mall.approve(wid)[0] == 409
    assert wallet() == L.Balances(available=50_000)
    assert [p["kind"] for p in postings() if p["kind"].startswith("withdrawal")] == ["withdrawal_held",
                                                                                  "withdrawal_returned"]
    assert L.sum_legs(postings())["withdrawing"] == 0
    audit = [a for a in AuditLog(main_table()).on(utc_now()) if a.get("entity_id") == wid]
    assert [(a["action"], a["details"]["reason"]) for a in audit] == [("withdrawal.reject", "收款信息有误")]
    assert mall.sent() == []


def test_an_auto_approved_withdrawal_cannot_be_reviewed_and_unknown_ones_are_404(mall: Mall) -> None:
    fund(PROMOTER, 50_000)
    wid = mall.request(10_000)[1]["withdrawal_id"]
    assert mall.reject(wid)[0] == 409 and mall.approve(wid)[0] == 409
    assert mall.approve("w_unknown")[0] == 404 and mall.reject("w_unknown")[0] == 404


def test_a_failed_send_to_the_payout_queue_does_not_fail_the_request(mall: Mall) -> None:
    fund(PROMOTER, 50_000)
    module = load_function("promoter_withdraw")
    mall.modules["promoter_withdraw"] = module

    class Broken:
        def send(self, body: Any) -> None:
            raise RuntimeError("SQS is down")

    setattr(module, "payout_queue", Broken())  # noqa: B010 - a module attribute set from outside
    status, body = mall.request(10_000)
    assert status == 201 and body["status"] == "APPROVED"
    assert record(body["withdrawal_id"])["status"] == "APPROVED"  # the payout reconciler will start it


# ---- admin list, export, bank accounts -----------------------------------------------------------


def test_the_admin_list_filters_merges_statuses_newest_first_and_paginates(mall: Mall) -> None:
    configure(daily_count=10)
    fund(PROMOTER, 200_000)
    fund(OTHER, 200_000)
    a1 = mall.request(10_000)[1]["withdrawal_id"]  # APPROVED
    b1 = mall.request(25_000, uid=OTHER)[1]["withdrawal_id"]  # PENDING
    a2 = mall.request(30_000)[1]["withdrawal_id"]  # PENDING
    b2 = mall.request(12_000, uid=OTHER)[1]["withdrawal_id"]  # APPROVED
    a3 = mall.request(40_000)[1]["withdrawal_id"]  # PENDING → REJECTED
    assert mall.reject(a3)[0] == 200
    newest_first = [a3, b2, a2, b1, a1]

    status, body = mall.admin_list()
    assert status == 200 and [w["withdrawal_id"] for w in body["items"]] == newest_first
    seen: list[str] = []
    cursor = None
    while True:
        query = {"limit": "2", **({"cursor": cursor} if cursor else {})}
        status, page = mall.admin_list(**query)
        assert status == 200 and len(page["items"]) <= 2
        seen += [w["withdrawal_id"] for w in page["items"]]
        cursor = page["next_cursor"]
        if not cursor:
            break
    assert seen == newest_first
    assert [w["withdrawal_id"] for w in mall.admin_list(status="PENDING_REVIEW")[1]["items"]] == [a2, b1]
    assert [w["withdrawal_id"] for w in mall.admin_list(promoter_id=OTHER)[1]["items"]] == [b2, b1]
    assert [w["withdrawal_id"] for w in mall.admin_list(promoter_id=PROMOTER, status="APPROVED")[1]["items"]] == [a1]
    assert [w["withdrawal_id"] for w in mall.admin_list(min_fen="12000", max_fen="30000")[1]["items"]] == [b2, a2, b1]
    today = china_day(utc_now())
    tomorrow = china_day(utc_now() + timedelta(days=1))
    assert len(mall.admin_list(date_from=today, date_to=today)[1]["items"]) == 5
    assert mall.admin_list(date_from=tomorrow)[1]["items"] == []
    status, bad = mall.admin_list(date_from=tomorrow, date_to=today)
    assert status == 422 and bad["error"]["code"] == "invalid_date_range"
    status, bad = mall.admin_list(min_fen="5", max_fen="4")
    assert status == 422 and bad["error"]["code"] == "invalid_amount_range"
    # A cursor of one filter set is not accepted for another.
    first = mall.admin_list(limit="1")[1]
    assert mall.admin_list(limit="1", status="APPROVED", cursor=first["next_cursor"])[0] == 422
    status, one, _ = mall.call("admin_withdrawals", "GET", f"/admin/withdrawals/{a3}",
                               headers=auth(ADMIN_A, Role.ADMIN))
    assert status == 200 and one["status"] == "REJECTED" and one["timeline"][-1]["by"] == ADMIN_A


def test_the_csv_export_has_the_same_filters(mall: Mall) -> None:
    configure(daily_count=10, methods=["wechat", "bank"])
    fund(PROMOTER, 200_000)
    a1 = mall.request(10_000)[1]["withdrawal_id"]
    a2 = mall.request(30_000, method="bank", bank={"bank_name": "=招商银行", "account_name": "张三丰",
                                                   "account_no": "6225880012345678"})[1]["withdrawal_id"]
    status, text, headers = mall.call("admin_withdrawals", "GET", "/admin/withdrawals/export",
                                      headers=auth(ADMIN_A, Role.ADMIN))
    assert status == 200 and headers["Content-Type"].startswith("text/csv")
    assert "attachment" in headers["Content-Disposition"]
    assert text.startswith("\ufeff")
    rows = list(csv.DictReader(io.StringIO(text.lstrip("\ufeff"))))
    assert [r["withdrawal_id"] for r in rows] == [a2, a1]
    assert rows[0]["amount_fen"] == "30000" and rows[0]["fee_yuan"] == "3.00" and rows[0]["net_yuan"] == "297.00"
    assert rows[0]["bank_account"] == "****5678" and rows[0]["bank_name"] == "'=招商银行"  # no formula injection
    assert "6225880012345678" not in text and "张三丰" not in text
    status, text, _ = mall.call("admin_withdrawals", "GET", "/admin/withdrawals/export",
                                headers=auth(ADMIN_A, Role.ADMIN), query={"status": "APPROVED"})
    assert [r["withdrawal_id"] for r in csv.DictReader(io.StringIO(text.lstrip("\ufeff")))] == [a1]


def test_a_bank_account_is_encrypted_masked_and_revealed_only_with_an_audit_record(mall: Mall) -> None:
    configure(methods=["wechat", "bank"])
    fund(PROMOTER, 100_000)
    bank = {"bank_name": "招商银行", "account_name": "张三丰", "account_no": "6225880012345678", "branch": "南山支行"}
    status, body = mall.request(30_000, method="bank", bank=bank)
    assert status == 201, body
    assert body["bank"] == {"bank_name": "招商银行", "account_name": "张**", "account_no": "****5678",
                            "branch": "南山支行"}
    wid = body["withdrawal_id"]
    stored = record(wid)
    assert "6225880012345678" not in json.dumps(stored, ensure_ascii=False)
    assert "张三丰" not in json.dumps(stored, ensure_ascii=False)
    assert pii_crypto.decrypt(stored["bank"]["account_no_enc"], context=f"WITHDRAWAL#{wid}") == "6225880012345678"
    status, admin_view, _ = mall.call("admin_withdrawals", "GET", f"/admin/withdrawals/{wid}",
                                      headers=auth(ADMIN_A, Role.ADMIN))
    assert admin_view["bank"]["account_no"] == "****5678"
    status, full, headers = mall.call("admin_withdrawals", "GET", f"/admin/withdrawals/{wid}/bank-account",
                                      headers=auth(ADMIN_A, Role.ADMIN))
    assert status == 200 and full["account_no"] == "6225880012345678" and full["account_name"] == "张三丰"
    assert full["net_fen"] == 29_700 and headers["Cache-Control"] == "no-store"
    audit = [a for a in AuditLog(main_table()).on(utc_now()) if a.get("entity_id") == wid]
    assert [(a["action"], a["actor"]) for a in audit] == [("withdrawal.bank_account_reveal", ADMIN_A)]
    wechat = mall.request(10_000)[1]["withdrawal_id"]
    status, missing, _ = mall.call("admin_withdrawals", "GET", f"/admin/withdrawals/{wechat}/bank-account",
                                   headers=auth(ADMIN_A, Role.ADMIN))
    assert status == 404 and missing["error"]["code"] == "no_bank_account"
