"""The risk-hold flag on promoters' wallets (``risk_hold`` on ``USER#<uid>`` / ``WALLET``, ``mall.dal.risk_wallet``)
brought in step with the hold items (``USER#<uid>`` / ``RISK_HOLD``).

From the release that writes the flag, every transaction that creates or deletes a hold item sets or
removes the flag with it. A hold created before that release has no flag, and a hold that code still
running from before deleted during the deploy may have left one behind. For each hold item this sets
its wallet's flag (creating the wallet if needed), and for each flagged wallet without a hold item it
removes the flag: each in one transaction with a ConditionCheck of the hold item (present / absent),
so a hold opened or lifted meanwhile, whose own transaction wrote the flag, is never undone. Writes
only what is out of step: running it again changes nothing."""

from __future__ import annotations

from mall.dal.keys import risk_hold_key, wallet_key
from mall.dal.ledger import RISK_HOLD_FLAG
from mall.dal.risk_wallet import flag_write
from mall.dal.table import Item, Table, TransactionCancelled, Write
from tools.migrations import Migration

NAME = "risk_hold_flags"


def _flag_wanted(table: Table, uid: str, sk: str, item: Item) -> bool | None:
    """The flag the wallet of ``uid`` should get (True: set, False: remove), None when in step."""
    if sk == "RISK_HOLD":
        wallet = table.get(wallet_key(uid), consistent=True)
        return None if wallet is not None and wallet.get(RISK_HOLD_FLAG) else True
    if sk == "WALLET" and item.get(RISK_HOLD_FLAG):
        return None if table.get(risk_hold_key(uid), consistent=True) is not None else False
    return None


def apply(table: Table, item: Item, dry_run: bool) -> bool:
    pk = str(item.get("pk", ""))
    if not pk.startswith("USER#"):
        return False
    uid = pk.removeprefix("USER#")
    on = _flag_wanted(table, uid, str(item.get("sk", "")), item)
    if on is None:
        return False
    if dry_run:
        return True
    check = Write.check(table.name, risk_hold_key(uid), "attribute_exists(pk)" if on else "attribute_not_exists(pk)")
    try:
        table.transact([check, flag_write(table.name, uid, on=on)])
    except TransactionCancelled:
        return False  # the hold was lifted (or opened) meanwhile, and its own transaction wrote the flag
    return True


MIGRATION = Migration(
    name=NAME,
    description="set the risk-hold flag on the wallet of every promoter with a hold item (and remove stale flags)",
    apply=apply,
    filter_expression="begins_with(pk, :user) AND (sk = :hold OR (sk = :wallet AND attribute_exists(#flag)))",
    names={"#flag": RISK_HOLD_FLAG},
    values={":user": "USER#", ":hold": "RISK_HOLD", ":wallet": "WALLET"},
)
