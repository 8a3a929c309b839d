"""The promoter's blocking status as a flag on their wallet (docs/data-model.md, "ledger").

An admin's freeze or disable (``USER#<uid>`` / ``PROMOTER`` ``status`` frozen or disabled) blocks the
settlement of the promoter's due records: frozen ones wait, disabled ones are voided. The status is
mirrored by ``promoter_blocked`` (the status itself) on the wallet ``USER#<uid>`` / ``WALLET``: every
status change that enters, leaves or moves between those statuses writes the flag in its own
transaction (``status_flag_write``), so the two never disagree at any commit. A settlement, which
updates the wallet anyway, then carries ``attribute_not_exists(promoter_blocked)`` on that update
(``LedgerRepository.post(unblocked=...)``) instead of a ConditionCheck of the promoter item (2 write
units per promoter and transaction), and reads the status from the wallet it reads anyway instead of
reading the promoter item (1 read unit per promoter). A withdrawal request, which also updates the
wallet, carries "not flagged ``frozen``" on that update instead of a ConditionCheck that the promoter
item's status is active or disabled (``mall.dal.withdrawals``).

A promoter without a wallet yet gets one when blocked (no balances, only the flag): a wallet that does
not exist reads as not blocked, as an active promoter does.

While the flags are written for the first time (the deploy before ``tools.migrations.promoter_blocked_flags``
has run: docs/runbook.md) ``PROMOTER_STATUS_ITEM_CHECKS=1`` keeps the reads and ConditionChecks of the
promoter item.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any

from mall.config import function_environment
from mall.dal.keys import wallet_key
from mall.dal.table import Write, serialize
from mall.domain.referral.model import SETTLEMENT_BLOCKING_STATUSES

#: The wallet attribute holding the promoter's status exactly while it blocks settlement (frozen, disabled).
#: Defined here, not with the ledger's repository, so that a function that only reads promoters (the
#: customer's catalog) does not load the ledger's modules.
PROMOTER_BLOCKED_FLAG = "promoter_blocked"


def item_checks() -> bool:
    """True while the promoter items themselves are read and checked (the flags are not all written yet)."""
    return function_environment().promoter_status_item_checks


def blocked_flag(status: str | None) -> str | None:
    """The flag a promoter in ``status`` has on their wallet: the status while it blocks settlement."""
    return status if status in SETTLEMENT_BLOCKING_STATUSES else None


def status_flag_write(table_name: str, uid: str, *, before: str | None, after: str | None) -> Write | None:
    """The wallet write of a status change from ``before`` to ``after`` (None when the flag stays as it
    is)."""
    flag = blocked_flag(after)
    return None if flag == blocked_flag(before) else flag_write(table_name, uid, flag)


def flag_write(table_name: str, uid: str, flag: str | None) -> Write:
    """Set the flag to ``flag`` (creating the wallet if needed) or remove it (None). Balances and
    ``version`` are left alone: a posting computed from the balances is not made stale by a status
    change; the flag's own condition refuses what must not commit."""
    values: dict[str, Any] = {":entity": "wallet", ":uid": uid}
    if flag is not None:
        return Write.update(table_name, wallet_key(uid),
                            f"SET {PROMOTER_BLOCKED_FLAG} = :blocked_status, entity = :entity, promoter_id = :uid",
                            values={**values, ":blocked_status": flag})
    return Write.update(table_name, wallet_key(uid),
                        f"SET entity = :entity, promoter_id = :uid REMOVE {PROMOTER_BLOCKED_FLAG}", values=values)


_CLAUSE = re.compile(r"(?:^|(?<=\s))(SET|REMOVE|ADD|DELETE)(?=\s)")


def _clauses(expression: str) -> dict[str, list[str]]:
    parts = _CLAUSE.split(expression)
    found: dict[str, list[str]] = {}
    for keyword, body in zip(parts[1::2], parts[2::2], strict=True):
        found.setdefault(keyword, []).extend(p.strip() for p in body.split(",") if p.strip())
    return found


def _merge(first: dict[str, Any], second: dict[str, Any]) -> dict[str, Any]:
    """One Update doing what ``first`` and ``second`` (an Update or a ConditionCheck of the same item)
    do, under both conditions."""
    merged = dict(first)
    clauses = _clauses(first.get("UpdateExpression", ""))
    for keyword, parts in _clauses(second.get("UpdateExpression", "")).items():
        mine = clauses.setdefault(keyword, [])
        mine.extend(p for p in parts if p not in mine)
    merged["UpdateExpression"] = " ".join(f"{k} {', '.join(v)}" for k, v in clauses.items() if v)
    conditions = [c for c in (first.get("ConditionExpression"), second.get("ConditionExpression")) if c]
    if conditions:
        merged["ConditionExpression"] = " AND ".join(f"({c})" for c in conditions)
    for field in ("ExpressionAttributeNames", "ExpressionAttributeValues"):
        combined = dict(first.get(field) or {})
        for name, value in (second.get(field) or {}).items():
            if combined.get(name, value) != value:
                raise ValueError(f"two writes of one item use {name} for different values")
            combined[name] = value
        if combined:
            merged[field] = combined
    return merged


def fold_wallet_writes(writes: Sequence[Write], uid: str) -> list[Write]:
    """``writes`` with every Update and ConditionCheck of the wallet of ``uid`` folded into one Update
    at the place of the first (a transaction may name an item once; the writes before it keep their
    indexes). A ConditionCheck alone is left as it is."""
    out: list[Write] = []
    at: int | None = None
    key = serialize(wallet_key(uid))
    for write in writes:
        ((action, body),) = write.op.items()
        if action not in ("Update", "ConditionCheck") or body.get("Key") != key:
            out.append(write)
            continue
        if at is None:
            at = len(out)
            out.append(write)
            continue
        ((first_action, first),) = out[at].op.items()
        if first_action == "ConditionCheck" and action == "Update":
            first, body = body, first  # the Update's expression leads, the check's condition joins it
        if "UpdateExpression" not in first:
            out.append(write)  # two checks: DynamoDB refuses them, as it would have
            continue
        out[at] = Write({"Update": _merge(first, body)})
    return out
