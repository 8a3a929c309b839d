"""Batched commission credits: the newly paid orders of one ``CommissionQueue`` batch credited in as
few ledger transactions as fit, so one promoter's wallet takes one write per batch, not one per order.

A viral promoter (1,000 paid orders a second through one link) would otherwise send every credit
through its own transaction on the one wallet item: each a transactional write of that item (2 WCU)
plus a chance of ``TransactionConflict`` with the next. ``credit_orders`` decides each order's
commission exactly as ``mall.services.commissions.sync_order`` does (``decide_creation``), then
writes several orders' records, plans and ``commission_frozen`` postings in ONE ledger transaction
(up to DynamoDB's 100 writes): ``LedgerRepository.writes`` folds the postings of one promoter into one
wallet ``ADD`` carrying their sum, and one merchant shard update.

Exactly once: every record, plan and posting of the transaction is conditional on not existing
(deterministic ids: the per-credit markers), so a redelivered order, or one a concurrent worker
created first, refuses the whole transaction, which then wrote nothing; its orders are left to
``sync_order``, which the worker runs for every message anyway (it finds what was created here and
only confirms it). A batch that cannot be credited together is never an error: it is the old path.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime

from aws_lambda_powertools import Logger

from mall.dal.ledger import LedgerRefused
from mall.dal.payment_snapshot import snapshot_from_item
from mall.domain.commission import ever_paid
from mall.services.commissions import CommissionRepositories, Creation, Rules, decide_creation

logger = Logger(child=True)

#: DynamoDB's limit of writes per TransactWriteItems.
MAX_TRANSACTION_WRITES = 100


@dataclass
class CreditReport:
    credited: list[str] = field(default_factory=list)  # orders whose commission was created here
    records: int = 0
    transactions: int = 0
    refused: int = 0  # transactions refused (their orders are left to sync_order)
    skipped: int = 0  # orders not for this path (already decided, not paid, waiting for a binding)


def _held(creations: Sequence[Creation]) -> dict[str, bool] | None:
    """The wallets' risk-hold conditions of ``creations`` together (None: a hold read as open for one
    order and closed for another keeps them apart, as their hold checks do)."""
    held: dict[str, bool] = {}
    for creation in creations:
        for uid, on in creation.held.items():
            if held.setdefault(uid, on) != on:
                return None
    return held


def _writes(creations: Sequence[Creation], repos: CommissionRepositories) -> int | None:
    """Writes of one transaction holding ``creations`` (None: they cannot share one)."""
    also = repos.store.combined([c.also for c in creations])
    if also is None or _held(creations) is None:
        return None
    postings = [p for c in creations for p in c.postings]
    return len(also) + len(repos.ledger.writes(postings))


def credit_orders(repos: CommissionRepositories, *, order_ids: Sequence[str], now: datetime) -> CreditReport:
    """Create the commission of the orders among ``order_ids`` that have none yet, several per
    transaction (module doc). Orders already decided, not paid or waiting for their binding are
    skipped; refused transactions leave their orders to ``sync_order``."""
    report = CreditReport()
    rules = Rules(repos.settings)
    creations: list[Creation] = []
    for order_id in dict.fromkeys(order_ids):  # a batch may carry one order twice
        state = repos.store.read(order_id)
        basis = snapshot_from_item(state.basis) if state.basis is not None else None
        if (state.order is None or not ever_paid(state.order) or state.plan is not None or state.records
                or (basis is not None and basis.waits_for_binding)):
            report.skipped += 1
            continue
        creations.append(decide_creation(repos, rules, state.order, now, basis))
    pack: list[Creation] = []
    for creation in creations:
        writes = _writes([*pack, creation], repos)
        if pack and (writes is None or writes > MAX_TRANSACTION_WRITES):
            _post(repos, pack, now, report)
            pack = []
        pack.append(creation)
    if pack:
        _post(repos, pack, now, report)
    return report


def _post(repos: CommissionRepositories, pack: Sequence[Creation], now: datetime, report: CreditReport) -> None:
    also = repos.store.combined([c.also for c in pack])
    held = _held(pack)
    if also is None or held is None or (_writes(pack, repos) or 0) > MAX_TRANSACTION_WRITES:
        report.refused += 1  # one order alone too big for a transaction: sync_order chunks nothing either
        return
    try:
        repos.ledger.post([p for c in pack for p in c.postings], also=also, held=held, now=now)
    except LedgerRefused as refused:
        logger.info("a batched commission credit was refused; its orders are synced one by one", extra={
            "orders": [c.order_id for c in pack], "labels": refused.labels[:5]})
        report.refused += 1
        return
    report.transactions += 1
    report.credited += [c.order_id for c in pack]
    report.records += sum(len(c.records) for c in pack)
    logger.info("commission credited in a batch", extra={
        "orders": len(pack), "records": sum(len(c.records) for c in pack),
        "amount_fen": sum(r.amount_fen for c in pack for r in c.records)})
