"""The simulator's checks: every invariant of the money loop after a run, from the model's own facts
and the pay sandbox's books (``check``)."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from mall.dal.commission_index import CommissionIndex
from mall.dal.commissions import commission_from_item
from mall.dal.keys import beneficiary_partitions, commission_index_partition
from mall.dal.ledger import LedgerRepository
from mall.dal.reconciliation import ReconciliationRepository
from mall.dal.referral import PromoterRepository
from mall.domain import ledger as L
from mall.domain.commission_records import CommissionStatus
from mall.domain.settlement import refund_open_on_line
from mall.domain.withdrawals import DEBT_CANCEL_REASON
from mall.services import ledger as ledger_service
from tests.integration.settlement_trace import trace_problems
from tests.integration.sim.model import MOrder, sim_settings
from tests.integration.sim.ops_bonus import check_bonuses
from tests.integration.sim.ops_extra import check_extra, voided
from tests.integration.sim.ops_incentives import check_coupons, check_rule
from tests.integration.sim.oracle import after_refunds, scan

if TYPE_CHECKING:
    from tests.integration.sim.simulator import Simulator


# ---- the checks ----------------------------------------------------------------------------------


@dataclass
class Books:
    """What the run left, read once (a consistent scan: nothing runs any more)."""

    orders: dict[str, dict[str, Any]]
    records: list[Any]
    wallets: dict[str, L.Balances]
    postings: dict[str, list[dict[str, Any]]]
    merchant: dict[str, int]
    withdrawals: list[dict[str, Any]]
    raw_records: dict[tuple[str, str, int], dict[str, Any]]
    items: dict[tuple[str, str], dict[str, Any]]


def read_books(sim: Simulator) -> Books:
    items = scan(sim.table)
    orders = {str(i["order_id"]): i for i in items.values() if i.get("entity") == "order" and i["sk"] == "ORDER"}
    records = [commission_from_item(i) for i in items.values() if i.get("entity") == "commission"]
    ledger = LedgerRepository(sim.table)
    wallets = {uid: ledger.wallet(uid).balances for uid in sim.promoters}
    postings: dict[str, list[dict[str, Any]]] = {uid: [] for uid in sim.promoters}
    for item in items.values():
        if item.get("entity") == "posting":
            postings.setdefault(str(item["promoter_id"]), []).append(item)
    withdrawals = [i for i in items.values() if i.get("entity") == "withdrawal"]
    raw = {(str(i["order_id"]), str(i["line_id"]), int(i["level"])): i for i in items.values()
           if i.get("entity") == "commission"}
    return Books(orders, records, wallets, postings, ledger.merchant_balances(), withdrawals, raw, items)


#: (campaign id or None, capped, coupon fen, rate source): what shaped a record, as its rule snapshot must say.
Shape = tuple[str | None, bool, int, str]


def expected_commission(sim: Simulator, paid: set[str], shapes: dict[tuple[str, str, int], Shape] | None = None,
                        ) -> dict[tuple[str, str, int], tuple[str, int, int]]:
    """(order, line, level) → (beneficiary, amount when paid, amount after the refunds WeChat Pay
    completed), for every order WeChat Pay says was paid, from first principles (the coupon's spread,
    the rate sources, the campaigns in force at payment and the cap: ``line_expectation``); ``shapes``
    receives what shaped each record."""
    at_sandbox = sim.world.sandbox.snapshot()["refunds"]
    expected: dict[tuple[str, str, int], tuple[str, int, int]] = {}
    for order in sim.orders:
        if order.order_id not in paid:
            continue
        refunded = refunded_lines(sim, order, at_sandbox)
        for line in order.lines:
            found = sim.line_expectation(order, line)
            l1, l2 = order.expected
            if l2 == l1:
                l2 = None
            for level, who in ((1, l1), (2, l2)):
                amount = found.amounts[level - 1]
                if who is None or amount <= 0:
                    continue
                key = (order.order_id, line.line_id, level)
                expected[key] = (who, amount, after_refunds(amount, line.paid_fen, refunded.get(line.line_id, 0)))
                if shapes is not None:
                    shapes[key] = (found.campaigns[level - 1], found.capped[level - 1], line.coupon_fen,
                                   found.sources[level - 1])
    return expected


def refunded_lines(sim: Simulator, order: MOrder, at_sandbox: dict[str, Any]) -> dict[str, int]:
    refunded: dict[str, int] = {}
    for refund_id in order.refunds:
        if at_sandbox.get(refund_id, {}).get("status") == "SUCCESS":
            for line_id, amount in sim.refunds[refund_id].lines.items():
                refunded[line_id] = refunded.get(line_id, 0) + amount
    return refunded


def _refund_open(order: dict[str, Any] | None, line_id: str) -> bool:
    """A refund request still open on the line: its commission waits, even when due."""
    lines = (order or {}).get("lines") or []
    return refund_open_on_line(next((li for li in lines if str(li.get("line_id")) == line_id), None))


def check(sim: Simulator) -> dict[str, int]:  # noqa: PLR0912 - one list of the invariants, in order
    """Every invariant of the money loop after ``sim.run()``; raises ``SimulationFailed``.
    Returns a few totals for the report."""
    books = read_books(sim)
    sandbox = sim.world.sandbox.snapshot()
    problems: list[str] = []

    # 1. Orders: the attribution the bindings imply; paid exactly when WeChat Pay took the money;
    #    every line refunded by what WeChat Pay refunded.
    paid = {oid for oid, o in sandbox["orders"].items() if o["trade_state"] in {"SUCCESS", "REFUND"}}
    for order in sim.orders:
        stored = books.orders[order.order_id]
        attribution = stored.get("attribution") or {}
        recorded_paid = bool(stored.get("paid_at")) and stored["status"] not in {"CREATED", "EXPIRED",
                                                                                  "PAID_AFTER_EXPIRY"}
        want = order.expected if recorded_paid else order.expected_at_placing
        # In first_payment mode an unpaid order's attribution is only a preview (decided at payment).
        if (recorded_paid or not sim.first_payment) and \
                (attribution.get("l1_promoter_id"), attribution.get("l2_promoter_id")) != want:
            problems.append(f"{order.order_id} attributed {attribution}, expected {want}")
        ever_paid = bool(stored.get("paid_at")) and stored["status"] not in {"CREATED", "EXPIRED"}
        if ever_paid != (order.order_id in paid):
            problems.append(f"{order.order_id} is {stored['status']} but WeChat Pay says paid={order.order_id in paid}")
        refunded = refunded_lines(sim, order, sandbox["refunds"])
        for line in stored["lines"]:
            if int(line.get("refunded_fen", 0)) != refunded.get(str(line["line_id"]), 0):
                problems.append(f"{order.order_id} line {line['line_id']} refunded {line.get('refunded_fen')}, "
                                f"WeChat Pay refunded {refunded.get(str(line['line_id']), 0)}")
        at_wechat = sum(r["refund"] for r in sandbox["refunds"].values()
                        if r["out_trade_no"] == order.order_id and r["status"] == "SUCCESS")
        ours = (sum(int(li.get("refunded_fen", 0)) for li in stored["lines"])
                + int(stored.get("shipping_refunded_fen", 0)))
        if at_wechat != ours:
            problems.append(f"{order.order_id}: WeChat Pay refunded {at_wechat}, the order says {ours}")

    # 2. Commission records: exactly the expected ones, each at its first-principles amount.
    shapes: dict[tuple[str, str, int], Shape] = {}
    expected = expected_commission(sim, paid, shapes)
    stored_records = {(r.order_id, r.line_id, int(r.level)): r for r in books.records}
    # A disabled promoter's unsettled commission was voided (checked below: only theirs, never settled
    # after the disable): it owes them nothing more.
    for key, (who, amount, _current) in list(expected.items()):
        if voided(books.raw_records.get(key)) and who in sim.disabled_at:
            expected[key] = (who, amount, 0)
    if set(stored_records) != set(expected):
        problems.append(f"records missing {sorted(set(expected) - set(stored_records))[:5]}, "
                        f"unexpected {sorted(set(stored_records) - set(expected))[:5]}")
    frozen: Counter[str] = Counter()
    settled: Counter[str] = Counter()
    owed_total: Counter[str] = Counter()
    counts: Counter[str] = Counter()
    for key, (who, amount, current) in expected.items():
        owed_total[who] += current
        record = stored_records.get(key)
        if record is None:
            continue
        if (record.beneficiary_id, record.amount_fen, record.current_fen) != (who, amount, current):
            problems.append(f"{key}: {record.beneficiary_id} {record.amount_fen} → {record.current_fen}, expected "
                            f"{who} {amount} → {current}")
        check_rule(key, record.rule, shapes[key], problems, counts)
        if min(record.cancelled_fen, record.clawed_back_fen, record.current_fen) < 0:
            problems.append(f"{key}: negative amounts {record}")
        if record.status == CommissionStatus.FROZEN:
            frozen[who] += record.current_fen
            if record.due_at is not None and sim._last_settle is not None and record.due_at <= sim._last_settle \
                    and not record.hold and not _refund_open(books.orders.get(record.order_id), record.line_id) \
                    and sim.status.get(who) != "frozen":
                problems.append(f"{key}: FROZEN though due at {record.due_at}, settled up to {sim._last_settle}")
        elif record.status == CommissionStatus.SETTLED:
            settled[who] += record.current_fen
            counts["settled"] += 1
        elif record.current_fen != 0:
            problems.append(f"{key}: CANCELLED with {record.current_fen} fen left")
        counts["clawed_back"] += bool(record.clawed_back_fen)
        counts["cancelled"] += bool(record.cancelled_fen)
    for bonus in check_bonuses(sim, books.items, problems, counts):  # checked against the oracle there
        owed_total[bonus.beneficiary_id] += bonus.current_fen
        if bonus.status == CommissionStatus.FROZEN:
            frozen[bonus.beneficiary_id] += bonus.current_fen
        elif bonus.status == CommissionStatus.SETTLED:
            settled[bonus.beneficiary_id] += bonus.current_fen

    check_coupons(sim, books.items, problems, counts)
    problems.extend(trace_problems(books.items.values(), counts))  # each SETTLED record → its posting
    check_extra(sim, books, settlement_days=sim_settings().commission.settlement_days, problems=problems,
                counts=counts)

    # 3. The ledger balances: wallets and merchant accounts are the sums of their legs; Σ = 0.
    merchant_legs: Counter[str] = Counter()
    for uid, balances in books.wallets.items():
        legs = L.sum_legs(books.postings.get(uid, []))
        for account in L.Account:
            if balances.get(account.value) != legs.get(account.value, 0):
                problems.append(f"{uid} {account.value}: wallet {balances.get(account.value)}, legs "
                                f"{legs.get(account.value, 0)}")
            value = balances.get(account.value)
            if (value > 0) if account == L.Account.DEBT else (value < 0):
                problems.append(f"{uid} {account.value} is {value}")
        for m in L.MerchantAccount:
            merchant_legs[m.value] += legs.get(m.value, 0)
        counts["debt"] += balances.debt < 0
        if balances.debt < 0 and balances.available > 0:
            problems.append(f"{uid}: {balances.available} available while owing {-balances.debt}")
    for m in L.MerchantAccount:
        if books.merchant.get(m.value, 0) != merchant_legs[m.value]:
            problems.append(f"{m.value}: {books.merchant.get(m.value)} but its legs sum to {merchant_legs[m.value]}")
    total = sum(sum(b.as_dict().values()) for b in books.wallets.values()) + sum(books.merchant.values())
    if total != 0:
        problems.append(f"promoter + merchant accounts sum to {total}, not 0")

    # 4. Withdrawals: held, paid and returned money against the wallets and WeChat Pay's transfers.
    by_promoter: dict[str, Counter[str]] = {uid: Counter() for uid in sim.promoters}
    transferred = {b["out_bill_no"]: b for b in sandbox["bills"].values() if b["state"] == "SUCCESS"}
    for w in books.withdrawals:
        tally = by_promoter[str(w["promoter_id"])]
        status = str(w["status"])
        if status in {"PENDING_REVIEW", "APPROVED", "PAYING"}:
            tally["withdrawing"] += int(w["amount_fen"])
        elif status == "PAID":
            tally["withdrawn"] += int(w["net_fen"])
            tally["fees"] += int(w["fee_fen"])
            counts[f"paid {w['method']}"] += 1
            if w["method"] == "wechat":
                bill = transferred.get(str(w["out_bill_no"]))
                if bill is None or bill["transfer_amount"] != int(w["net_fen"]):
                    problems.append(f"{w['withdrawal_id']} PAID but WeChat Pay transferred {bill}")
        counts[f"withdrawal {status}"] += 1
        if DEBT_CANCEL_REASON in (w.get("reason"), w.get("fail_reason")):
            counts["withdrawal cancelled for debt"] += 1
        if status == "PAYING" and w.get("cancel_reason"):
            bill = sandbox["bills"].get(str(w["out_bill_no"]), {})
            if bill.get("state") in {"ACCEPTED", "PROCESSING", "WAIT_USER_CONFIRM"}:
                problems.append(f"{w['withdrawal_id']}: its bill's cancellation (a debt) was never carried out")
    paid_bills = {str(w["out_bill_no"]) for w in books.withdrawals if w["status"] == "PAID"}
    for out_bill_no, bill in transferred.items():
        if out_bill_no not in paid_bills:
            problems.append(f"WeChat Pay transferred {bill['transfer_amount']} on {out_bill_no}, not PAID here")
    for uid, b in books.wallets.items():
        tally = by_promoter[uid]
        if b.frozen != frozen[uid]:
            problems.append(f"{uid}: frozen {b.frozen}, FROZEN records {frozen[uid]}")
        if b.withdrawing != tally["withdrawing"] or b.withdrawn != tally["withdrawn"]:
            problems.append(f"{uid}: withdrawing {b.withdrawing} / withdrawn {b.withdrawn}, withdrawals say "
                            f"{tally['withdrawing']} / {tally['withdrawn']}")
        if b.available + b.withdrawing + b.withdrawn + b.debt + tally["fees"] != settled[uid]:
            problems.append(f"{uid}: {b} + fees {tally['fees']} != SETTLED records {settled[uid]}")
        if b.frozen + b.available + b.withdrawing + b.withdrawn + b.debt + tally["fees"] != owed_total[uid]:
            problems.append(f"{uid}: the wallet holds {b} + fees {tally['fees']}, first principles owe "
                            f"{owed_total[uid]}")

    # 5. No money created or lost: the merchant granted exactly the commission owed; the fees it
    #    kept are the fees of paid withdrawals; what left is what WeChat Pay transferred (+ bank).
    fees = sum(t["fees"] for t in by_promoter.values())
    if -books.merchant.get(L.MerchantAccount.COMMISSION.value, 0) != sum(owed_total.values()):
        problems.append(f"merchant:commission {books.merchant.get(L.MerchantAccount.COMMISSION.value)}, "
                        f"commission owed {sum(owed_total.values())}")
    if books.merchant.get(L.MerchantAccount.FEES.value, 0) != fees:
        problems.append(f"merchant:fees {books.merchant.get(L.MerchantAccount.FEES.value)}, fees {fees}")

    # 6. The production reconciliation agrees.
    report = ledger_service.reconcile(ledger=LedgerRepository(sim.table), reports=ReconciliationRepository(sim.table),
                                      promoters=PromoterRepository(sim.table), as_of=sim.clock.now, now=sim.clock.now)
    if report.mismatches or not report.run.clean:
        problems.append(f"reconciliation: {report.run} {report.mismatches[:5]}")

    # 7. The promoters' commission index: every record's gsi1 entry in the shard its id chooses, and the
    #    readers' merge of the shards gives each promoter's records, each once, oldest first.
    problems += index_problems(sim, books)

    if problems:
        sim.fail(f"{len(problems)} invariant(s) broken", "\n".join(problems[:25]))
    counts["records"] = len(stored_records)
    counts["paid orders"] = len(paid & {o.order_id for o in sim.orders})
    counts["commission fen"] = sum(owed_total.values())
    counts["withdrawn fen"] = sum(t["withdrawn"] for t in by_promoter.values())
    counts["records in index shards > 0"] = sum(
        1 for r in books.raw_records.values() if r["gsi1pk"] != beneficiary_partitions(str(r["beneficiary_id"]))[0])
    return dict(counts)


def index_problems(sim: Simulator, books: Books) -> list[str]:
    problems: list[str] = []
    stored: dict[str, list[str]] = {}
    for raw in books.raw_records.values():
        uid, cid = str(raw["beneficiary_id"]), str(raw["commission_id"])
        shard = commission_index_partition(uid, cid)
        if raw.get("gsi1pk") != shard:
            problems.append(f"{cid}: gsi1 entry in {raw.get('gsi1pk')}, its shard is {shard}")
        stored.setdefault(uid, []).append(str(raw["gsi1sk"]))
    index = CommissionIndex(sim.table)
    for uid, sort_keys in stored.items():
        read = [str(i["gsi1sk"]) for i in index.items(uid, page_size=7)]
        if read != sorted(sort_keys):
            problems.append(f"{uid}: the index reads {len(read)} records, {len(sort_keys)} stored (or out of order)")
    return problems
