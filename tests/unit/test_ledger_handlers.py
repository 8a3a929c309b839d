"""The ledger views and the reconciliation, through the real handlers against moto's DynamoDB:
a promoter reads only their own ledger, admin routes are admin-only, reports are listed."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from types import ModuleType
from typing import Any

import pytest

from mall.clock import china_day, utc_now
from mall.dal.keys import wallet_key
from mall.dal.ledger import LedgerRepository
from mall.dal.referral import PromoterRepository
from mall.dal.table import main_table
from mall.domain import ledger as L
from mall.domain.referral import Promoter
from mall.domain.tokens import Role
from tests.conftest import bearer
from tests.unit.conftest import FakeContext, Invoke, http_event, load_function

pytestmark = pytest.mark.usefixtures("moto_table")


def auth(subject: str, *roles: Role) -> dict[str, str]:
    return bearer(subject, *(roles or (Role.CUSTOMER,)))


ADMIN = auth("admin:alice", Role.ADMIN)


def promoter(uid: str, status: str = "active") -> dict[str, str]:
    now = utc_now()
    PromoterRepository(main_table()).create(
        Promoter(user_id=uid, code=f"C{uid[-6:].upper()}", status=status, level_id="basic",  # type: ignore[arg-type]
                 applied_at=now, activated_at=now),
        grant_role=False, replaces_rejected=False, now=now, reserve_code=True)
    return auth(uid, Role.CUSTOMER, Role.PROMOTER)


def earn(uid: str, cid: str, amount: int, at: datetime, *, settle: bool = False) -> None:
    repo = LedgerRepository(main_table())
    ref = {"order_id": "o_1", "line_id": "1", "level": "1", "commission_id": cid}
    repo.post([L.commission_frozen(promoter_id=uid, commission_id=cid, amount_fen=amount, at=at, ref=ref)])
    if settle:
        wallet = repo.wallet(uid)
        repo.post(L.commission_settled(balances=wallet.balances, promoter_id=uid, commission_id=cid, amount_fen=amount,
                                       at=at + timedelta(seconds=1), ref=ref), expect={uid: wallet})


_loaded: dict[str, ModuleType] = {}


def get(invoke: Invoke, fn: str, path: str, headers: dict[str, str], **query: str) -> tuple[int, dict[str, Any]]:
    """GET through the function's handler, with a query string (``invoke`` sends none)."""
    module = _loaded.get(fn)
    if module is None or module.table.name != main_table().name:  # a new test: a new table, a cold start
        module = _loaded[fn] = load_function(fn)
    event = http_event("GET", path, headers=headers)
    if query:
        event["rawQueryString"] = "&".join(f"{k}={v}" for k, v in query.items())
        event["queryStringParameters"] = dict(query)
    result = module.handler(event, FakeContext())
    return result["statusCode"], json.loads(result.get("body") or "{}")


# ---- the promoter's own ledger ---------------------------------------------------------------


def test_a_promoter_reads_their_ledger_newest_first_in_pages(invoke: Invoke) -> None:
    me = promoter("u_ledger_me")
    at = datetime(2026, 11, 3, 2, tzinfo=UTC)
    for i in range(3):
        earn("u_ledger_me", f"cm_o{i}_1_1", 100 * (i + 1), at + timedelta(minutes=i))
    earn("u_ledger_me", "cm_o9_1_1", 50, at + timedelta(hours=1), settle=True)
    status, page = get(invoke, "promoter_ledger", "/promoter/ledger", me, limit="2")
    assert status == 200, page
    assert page["user_id"] == "u_ledger_me"
    first = page["items"][0]
    assert first["kind"] == "commission_settled" and first["amount_fen"] == 50
    assert first["effect"] == {"frozen_fen": -50, "available_fen": 50, "withdrawing_fen": 0, "withdrawn_fen": 0,
                               "debt_fen": 0}
    assert first["ref"]["commission_id"] == "cm_o9_1_1" and first["ref"]["order_id"] == "o_1"
    assert {leg["account"] for leg in first["legs"]} == {"frozen", "available"}
    assert page["next_cursor"]
    seen = [i["posting_id"] for i in page["items"]]
    cursor = page["next_cursor"]
    while cursor:
        status, page = get(invoke, "promoter_ledger", "/promoter/ledger", me, limit="2", cursor=cursor)
        assert status == 200, page
        seen += [i["posting_id"] for i in page["items"]]
        cursor = page["next_cursor"]
    assert seen == ["cm_o9_1_1.settled", "cm_o9_1_1.frozen", "cm_o2_1_1.frozen", "cm_o1_1_1.frozen",
                    "cm_o0_1_1.frozen"]


def test_a_promoter_never_sees_another_promoters_ledger(invoke: Invoke) -> None:
    alice = promoter("u_ledger_alice")
    bob = promoter("u_ledger_bob")
    at = datetime(2026, 11, 3, 2, tzinfo=UTC)
    earn("u_ledger_alice", "cm_a_1_1", 700, at)
    for i in range(3):
        earn("u_ledger_bob", f"cm_b{i}_1_1", 300, at)
    status, page = get(invoke, "promoter_ledger", "/promoter/ledger", alice)
    assert status == 200 and [i["posting_id"] for i in page["items"]] == ["cm_a_1_1.frozen"]
    # Bob's cursor does not open Bob's partition for Alice.
    status, bobs = get(invoke, "promoter_ledger", "/promoter/ledger", bob, limit="1")
    assert status == 200 and bobs["next_cursor"]
    status, body = get(invoke, "promoter_ledger", "/promoter/ledger", alice, cursor=bobs["next_cursor"])
    assert status == 422 and body["error"]["code"] == "invalid_cursor"
    # No parameter names the promoter: an unknown query parameter changes nothing.
    status, page = get(invoke, "promoter_ledger", "/promoter/ledger", alice, user_id="u_ledger_bob")
    assert status == 200 and [i["posting_id"] for i in page["items"]] == ["cm_a_1_1.frozen"]
    status, summary = get(invoke, "promoter_ledger", "/promoter/ledger/summary", alice)
    assert status == 200 and summary["user_id"] == "u_ledger_alice" and summary["frozen_fen"] == 700


def test_a_customer_without_the_promoter_role_is_refused(invoke: Invoke) -> None:
    for path in ("/promoter/ledger", "/promoter/ledger/summary"):
        status, body = get(invoke, "promoter_ledger", path, auth("u_plain"))
        assert status == 403, body
        status, body = get(invoke, "promoter_ledger", path, {})
        assert status == 401, body


def test_a_forged_or_foreign_cursor_is_refused(invoke: Invoke) -> None:
    me = promoter("u_ledger_cur")
    status, body = get(invoke, "promoter_ledger", "/promoter/ledger", me, cursor="bm90LWEtY3Vyc29y")
    assert status == 422 and body["error"]["code"] == "invalid_cursor"


def test_the_summary_counts_earnings_and_shows_every_balance(invoke: Invoke) -> None:
    me = promoter("u_ledger_sum")
    now = utc_now()
    earn("u_ledger_sum", "cm_s1_1_1", 1_000, now - timedelta(seconds=5), settle=True)
    repo = LedgerRepository(main_table())
    repo.post([L.withdrawal_held(promoter_id="u_ledger_sum", withdrawal_id="w_1", amount_fen=400, at=now)])
    repo.post([L.withdrawal_paid(promoter_id="u_ledger_sum", withdrawal_id="w_1", amount_fen=400, fee_fen=4, at=now)])
    wallet = repo.wallet("u_ledger_sum")
    repo.post([L.commission_clawed_back(balances=wallet.balances, promoter_id="u_ledger_sum", commission_id="cm_s1_1_1",
                                        amount_fen=900, at=now, ref={}, step="900")], expect={"u_ledger_sum": wallet})
    status, body = get(invoke, "promoter_ledger", "/promoter/ledger/summary", me)
    assert status == 200, body
    assert body["today_fen"] == 1_000 and body["month_fen"] == 1_000
    assert (body["frozen_fen"], body["available_fen"], body["withdrawing_fen"], body["withdrawn_fen"],
            body["debt_fen"]) == (0, 0, 0, 396, 300)


# ---- admin -----------------------------------------------------------------------------------


def test_admin_reads_any_promoters_ledger_and_summary(invoke: Invoke) -> None:
    promoter("u_ledger_carol")
    earn("u_ledger_carol", "cm_c_1_1", 250, datetime(2026, 11, 3, tzinfo=UTC))
    status, page = get(invoke, "admin_ledger", "/admin/promoters/u_ledger_carol/ledger", ADMIN)
    assert status == 200 and [i["posting_id"] for i in page["items"]] == ["cm_c_1_1.frozen"]
    status, summary = get(invoke, "admin_ledger", "/admin/promoters/u_ledger_carol/ledger/summary", ADMIN)
    assert status == 200 and summary["frozen_fen"] == 250 and summary["debt_fen"] == 0
    status, body = get(invoke, "admin_ledger", "/admin/promoters/u_nobody/ledger", ADMIN)
    assert status == 404 and body["error"]["code"] == "promoter_not_found"
    status, body = get(invoke, "admin_ledger", "/admin/promoters/u_nobody/ledger/summary", ADMIN)
    assert status == 404


@pytest.mark.parametrize("path", ["/admin/promoters/u_ledger_dave/ledger",
                                  "/admin/promoters/u_ledger_dave/ledger/summary",
                                  "/admin/ledger/reconciliations", "/admin/ledger/reconciliations/2026-11-03"])
def test_admin_routes_refuse_promoters_and_customers(invoke: Invoke, path: str) -> None:
    dave = promoter("u_ledger_dave")
    status, _ = get(invoke, "admin_ledger", path, dave)
    assert status == 403
    status, _ = get(invoke, "admin_ledger", path, auth("u_plain"))
    assert status == 403
    status, _ = get(invoke, "admin_ledger", path, {})
    assert status == 401


class LongContext(FakeContext):
    def get_remaining_time_in_millis(self) -> int:
        return 900_000


class EndingContext(FakeContext):
    def get_remaining_time_in_millis(self) -> int:
        return 1_000


def test_reconciliation_runs_daily_and_admins_read_the_reports(invoke: Invoke) -> None:
    promoter("u_rec_a")
    promoter("u_rec_b", status="frozen")  # every status is reconciled
    at = datetime(2026, 11, 3, tzinfo=UTC)
    earn("u_rec_a", "cm_r1_1_1", 500, at, settle=True)
    earn("u_rec_b", "cm_r2_1_1", 300, at)
    worker = load_function("ledger_reconcile")
    as_of = utc_now()
    day = china_day(as_of)
    result = worker.handler({"time": as_of.strftime("%Y-%m-%dT%H:%M:%SZ"), "detail": {}}, LongContext())
    assert result["clean"] is True and result["promoters_checked"] == 2 and result["postings_read"] == 3
    assert result["merchant_balances"] == {"merchant:commission": -800, "merchant:fees": 0}

    # Someone edits a wallet by hand: the next run (same day) reports it, and fixes nothing.
    main_table().update(wallet_key("u_rec_b"), "ADD frozen_fen :d", values={":d": 25})
    result = worker.handler({"time": as_of.strftime("%Y-%m-%dT%H:%M:%SZ"), "detail": {}}, LongContext())
    assert result["clean"] is False and result["mismatches"] == 2  # the wallet, and Σ ≠ 0
    assert LedgerRepository(main_table()).wallet("u_rec_b").balances.frozen == 325

    status, runs = get(invoke, "admin_ledger", "/admin/ledger/reconciliations", ADMIN)
    assert status == 200 and [r["day"] for r in runs["items"]] == [day]
    status, detail = get(invoke, "admin_ledger", f"/admin/ledger/reconciliations/{day}", ADMIN)
    assert status == 200, detail
    assert detail["run"]["mismatches"] == 2
    assert {(m["kind"], m["subject"], m["account"], m["expected_fen"], m["actual_fen"], m["difference_fen"])
            for m in detail["mismatches"]} == {("wallet", "u_rec_b", "frozen", 300, 325, 25),
                                                ("conservation", "all", "Σ", 0, 25, 25)}
    status, body = get(invoke, "admin_ledger", "/admin/ledger/reconciliations/1999-01-01", ADMIN)
    assert status == 404 and body["error"]["code"] == "reconciliation_not_found"
    status, body = get(invoke, "admin_ledger", "/admin/ledger/reconciliations/yesterday", ADMIN)
    assert status == 422


def test_a_run_out_of_time_says_so_and_still_writes_its_report() -> None:
    promoter("u_rec_late")
    earn("u_rec_late", "cm_l_1_1", 100, datetime(2026, 11, 3, tzinfo=UTC))
    worker = load_function("ledger_reconcile")
    result = worker.handler({"time": utc_now().strftime("%Y-%m-%dT%H:%M:%SZ"), "detail": {}}, EndingContext())
    assert result["complete"] is False and result["clean"] is False and result["global_checked"] is False
    assert result["promoters_checked"] == 0
