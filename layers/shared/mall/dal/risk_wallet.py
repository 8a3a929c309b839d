"""The risk hold as a flag on the promoter's wallet (docs/data-model.md, "risk").

The hold item ``USER#<uid>`` / ``RISK_HOLD`` (``mall.dal.risk``) lists the promoter's open cases and
is what the views read. Its existence is mirrored by ``risk_hold`` (true) on the wallet
``USER#<uid>`` / ``WALLET``: every transaction that creates the hold item sets the flag and every one
that deletes it removes the flag, so the two never disagree at any commit. A credit that must not
reach a held promoter (a withdrawal, a prize) or whose records were decided from the hold as read
(commission creation) then carries that condition on the wallet update it makes anyway
(``LedgerRepository.post(held=...)``) instead of a ConditionCheck of the hold item: 2 write units
saved per promoter and transaction.

A promoter without a wallet yet gets one when a hold opens (no balances, only the flag): a
wallet that does not exist reads as not held, as the hold item that does not exist did.

While the flags are written for the first time (the deploy before ``tools.migrations.risk_hold_flags``
has run: docs/runbook.md) ``RISK_HOLD_ITEM_CHECKS=1`` keeps the ConditionChecks of the hold item.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from mall.config import function_environment
from mall.dal.keys import risk_hold_key, wallet_key
from mall.dal.ledger import RISK_HOLD_FLAG
from mall.dal.table import Table, Write, serialize
from mall.domain.risk import Hold


def item_checks() -> bool:
    """True while the hold items themselves are checked (the flags are not all written yet)."""
    return function_environment().risk_hold_item_checks


def hold_conditions(table: Table, held: Mapping[str, bool], *,
                    items: bool | None = None) -> tuple[list[Write], dict[str, bool]]:
    """How a ledger transaction that updates each of these promoters' wallets checks that each is
    held (True) or not (False) at commit time: ConditionChecks of the hold items to add to its writes
    (``items``, default ``item_checks()``), or the wallet conditions for ``LedgerRepository.post(held=)``."""
    if item_checks() if items is None else items:
        return [hold_item_check(table.name, uid, held=on) for uid, on in sorted(held.items())], {}
    return [], dict(held)


def hold_item_check(table_name: str, uid: str, *, held: bool) -> Write:
    """A ConditionCheck that the hold item of ``uid`` exists (``held``) or does not."""
    return Write.check(table_name, risk_hold_key(uid), "attribute_exists(pk)" if held else "attribute_not_exists(pk)")


def flag_write(table_name: str, uid: str, *, on: bool) -> Write:
    """Set (creating the wallet if needed) or remove the flag. Balances and ``version`` are left
    alone: a posting computed from the balances is not made stale by a hold."""
    values = {":entity": "wallet", ":uid": uid}
    if on:
        return Write.update(table_name, wallet_key(uid), f"SET {RISK_HOLD_FLAG} = :on, entity = :entity, "
                            "promoter_id = :uid", values={**values, ":on": True})
    return Write.update(table_name, wallet_key(uid),
                        f"SET entity = :entity, promoter_id = :uid REMOVE {RISK_HOLD_FLAG}", values=values)


def with_flag(writes: Sequence[Write], table_name: str, before: Hold | None, after: Hold | None) -> list[Write]:
    """``writes`` (a transaction that changes the hold item from ``before`` to ``after``; None: left
    alone) with the flag write when the item is created or deleted. A ConditionCheck of the same
    wallet among them (a transaction may name an item once) is folded into the flag write, in its
    place, so the indexes of failures stay."""
    out = list(writes)
    existed = before is not None and before.version > 0
    if after is None or existed != after.lifted:
        return out
    flag = flag_write(table_name, after.promoter_id, on=not existed)
    key = serialize(wallet_key(after.promoter_id))
    for i, write in enumerate(out):
        body = write.op.get("ConditionCheck")
        if body is not None and body.get("Key") == key:
            update = dict(flag.op["Update"])
            update["ConditionExpression"] = body["ConditionExpression"]
            if body.get("ExpressionAttributeNames"):
                update["ExpressionAttributeNames"] = dict(body["ExpressionAttributeNames"])
            update["ExpressionAttributeValues"] = {**update["ExpressionAttributeValues"],
                                                   **body.get("ExpressionAttributeValues", {})}
            out[i] = Write({"Update": update})
            return out
    out.append(flag)
    return out
