"""Wallets that owe a debt: repay it from money left available, and cancel the withdrawals in flight.

Before returned funds repaid a debt first, a rejected or failed withdrawal of a promoter who owed put
its whole amount back on available, where it stayed locked behind the debt; and withdrawals approved
before a clawback were still paid out. For every wallet with ``debt_fen < 0``:

1. available money repays the debt (``debt_repaid``, posting ``<uid>.debt.available.v<version>``,
   conditional on the wallet's version: a wallet that moved since it was read is left for the next
   run, and a repaid wallet has nothing left to repay);
2. while a debt remains, the promoter's withdrawals in flight are cancelled as a new clawback would
   (``mall.services.withdrawal_debt``): their funds repay the debt first; a bill waiting for the
   promoter's confirmation gets its cancellation recorded, which the payout reconciler carries out.

Idempotent: a wallet owing nothing, or with nothing available and nothing in flight, is not changed.
"""

from __future__ import annotations

from mall.clock import utc_now
from mall.dal.ledger import LedgerRefused, LedgerRepository
from mall.dal.table import Item, Table
from mall.dal.withdrawals import WithdrawalRepository
from mall.domain import ledger as postings
from mall.domain.withdrawals import CANCELLED_BY_DEBT
from mall.services.withdrawal_debt import cancel_withdrawals_for_debt
from tools.migrations import Migration


def apply(table: Table, item: Item, dry_run: bool) -> bool:
    uid = str(item.get("promoter_id") or str(item["pk"]).removeprefix("USER#"))
    ledger = LedgerRepository(table)
    wallet = ledger.wallet(uid)
    if wallet.balances.owed_fen <= 0:
        return False
    in_flight = WithdrawalRepository(table).of_promoter_in(uid, CANCELLED_BY_DEBT)
    if dry_run:
        return wallet.balances.available > 0 or bool(in_flight)
    changed = False
    now = utc_now()
    repaid = postings.debt_repaid(balances=wallet.balances, promoter_id=uid,
                                  posting_id=f"{uid}.debt.available.v{wallet.version}", at=now,
                                  ref={"migration": MIGRATION.name})
    if repaid is not None:
        try:
            ledger.post([repaid], expect={uid: wallet}, now=now)
            changed = True
        except LedgerRefused:
            return False  # the wallet moved (or this version was repaid already): the next run sees it again
    report = cancel_withdrawals_for_debt(withdrawals=WithdrawalRepository(table), promoter_id=uid, now=now)
    return changed or bool(report.cancelled) or bool(report.recorded)


MIGRATION = Migration(
    name="repay_debt_from_available",
    description="wallets owing a debt: repay it from available money and cancel the withdrawals in flight",
    apply=apply,
    filter_expression="#entity = :wallet AND #debt < :zero",
    names={"#entity": "entity", "#debt": "debt_fen"},
    values={":wallet": "wallet", ":zero": 0},
)
