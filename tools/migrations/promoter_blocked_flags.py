"""The promoter-blocked flag on promoters' wallets (``promoter_blocked`` on ``USER#<uid>`` / ``WALLET``,
``mall.dal.promoter_wallet``) brought in step with the promoters' statuses (``USER#<uid>`` / ``PROMOTER``).

From the release that writes the flag, every status change into, out of or between frozen and
disabled writes it in the change's own transaction. A promoter frozen or disabled before that release
has no flag, and an unfreeze by code still running from before during the deploy may have left one
behind. For each frozen or disabled promoter this sets their wallet's flag to the status (creating the
wallet if needed), and for each flagged wallet whose promoter is not in that status it sets the status
or removes the flag: each in one transaction with a ConditionCheck that the promoter's status is still
the one read, so a status changed meanwhile, whose own transaction wrote the flag, is never undone.
Writes only what is out of step: running it again changes nothing."""

from __future__ import annotations

from mall.dal.keys import promoter_key, wallet_key
from mall.dal.promoter_wallet import PROMOTER_BLOCKED_FLAG, blocked_flag, flag_write
from mall.dal.table import Item, Table, TransactionCancelled, Write
from tools.migrations import Migration

NAME = "promoter_blocked_flags"


def _status_and_flag(table: Table, uid: str, sk: str, item: Item) -> tuple[str | None, str | None] | None:
    """The promoter's status and their wallet's flag as stored (None: the item is not one of ours)."""
    if sk == "PROMOTER":
        wallet = table.get(wallet_key(uid), consistent=True)
        flag = wallet.get(PROMOTER_BLOCKED_FLAG) if wallet is not None else None
        return item.get("status"), flag
    if sk == "WALLET" and item.get(PROMOTER_BLOCKED_FLAG):
        promoter = table.get(promoter_key(uid), consistent=True)
        return (promoter.get("status") if promoter is not None else None), item.get(PROMOTER_BLOCKED_FLAG)
    return None


def apply(table: Table, item: Item, dry_run: bool) -> bool:
    pk = str(item.get("pk", ""))
    if not pk.startswith("USER#"):
        return False
    uid = pk.removeprefix("USER#")
    found = _status_and_flag(table, uid, str(item.get("sk", "")), item)
    if found is None:
        return False
    status, flag = found
    wanted = blocked_flag(status)
    if wanted == flag:
        return False
    if dry_run:
        return True
    if status is None:
        check = Write.check(table.name, promoter_key(uid), "attribute_not_exists(pk)")
    else:
        check = Write.check(table.name, promoter_key(uid), "#s = :s", names={"#s": "status"}, values={":s": status})
    try:
        table.transact([check, flag_write(table.name, uid, wanted)])
    except TransactionCancelled:
        return False  # the status changed meanwhile, and its own transaction wrote the flag
    return True


MIGRATION = Migration(
    name=NAME,
    description="set the promoter-blocked flag on the wallet of every frozen or disabled promoter "
                "(and correct or remove flags out of step)",
    apply=apply,
    filter_expression="begins_with(pk, :user) AND ((sk = :promoter AND #s IN (:frozen, :disabled)) "
                      "OR (sk = :wallet AND attribute_exists(#flag)))",
    names={"#s": "status", "#flag": PROMOTER_BLOCKED_FLAG},
    values={":user": "USER#", ":promoter": "PROMOTER", ":wallet": "WALLET", ":frozen": "frozen",
            ":disabled": "disabled"},
)
