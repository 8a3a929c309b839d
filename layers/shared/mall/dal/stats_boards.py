"""Leaderboard entries (排行榜): a promoter's score of one board and period, sorted by a sparse index.

An entry ``BOARD#<board>#<period>`` / ``USER#<uid>`` keeps ``score_fen`` and, while it is positive,
the index keys (``gsi1pk`` = the board's partition, ``gsi1sk`` = the zero-padded score): the board is
a Query of gsi1, highest first. The sales board of a period that starts on or after the stack's
``SALES_BOARD_FOLDED_FROM`` day is kept on the same promoter's *commission* entry of that period
(``sales_score_fen``, sorted by gsi2 under the same ``BOARD#sales#<period>`` partition): a paid order
and its commission records, applied in one transaction, then write the level-1 promoter's two scores
of a period as one item (4 write units: 2 for the item in the transaction, 1 per index entry) instead
of two (6). Earlier periods keep their ``BOARD#sales#…`` items; readers choose by the period, so
nothing is migrated (docs/runbook.md). Keys: ``mall.dal.keys.stats``."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from mall.dal.keys import BOARD_SCORE_FIELDS, board_key, board_partition, board_sort_key
from mall.dal.table import Item, Write


def board_write(table: str, entry: str, period_key: str, uid: str, *, changes: Mapping[str, int],
                stored: Item | None) -> Write:
    """ONE update of the entry ``board_key(entry, period_key, uid)`` moving each board's score it keeps
    by ``changes`` (board → fen), conditional on every score it moves being as read (or absent, as read)."""
    values: dict[str, Any] = {":e": "leaderboard_entry", ":b": entry, ":p": period_key, ":u": uid}
    sets = ["entity = :e", "board = :b", "period_key = :p", "promoter_id = :u"]
    removes: list[str] = []
    conditions = [] if stored is not None else ["attribute_not_exists(pk)"]
    for i, (board, change) in enumerate(sorted(changes.items())):
        score, index_pk, index_sk = BOARD_SCORE_FIELDS[(entry, board)]
        old = int(stored.get(score, 0)) if stored else 0
        new = old + change
        values[f":n{i}"] = new
        sets.append(f"{score} = :n{i}")
        if new > 0:  # the index holds only positive scores (sparse): nobody is ranked on nothing
            values.update({f":k{i}": board_partition(board, period_key), f":s{i}": board_sort_key(new, uid)})
            sets += [f"{index_pk} = :k{i}", f"{index_sk} = :s{i}"]
        else:
            removes += [index_pk, index_sk]
        if stored is not None:
            if score in stored:
                values[f":o{i}"] = old
                conditions.append(f"{score} = :o{i}")
            else:
                conditions.append(f"attribute_not_exists({score})")
    update = f"SET {', '.join(sets)}" + (f" REMOVE {', '.join(removes)}" if removes else "")
    return Write.update(table, board_key(entry, period_key, uid), update, condition=" AND ".join(conditions),
                        values=values)


def as_board_entry(item: Item | None, entry: str, board: str) -> Item | None:
    """``item`` (an entry of the board ``entry``) as ``board``'s entry: its ``score_fen`` is ``board``'s
    score; None when it keeps no score of ``board``."""
    score = BOARD_SCORE_FIELDS[(entry, board)][0]
    if item is None or score not in item:
        return None
    return {**item, "board": board, "score_fen": item[score]}


def board_index(entry: str, board: str) -> tuple[str, str, str]:
    """The index sorting ``board``'s scores kept on ``entry`` entries, and its key attributes."""
    _, index_pk, index_sk = BOARD_SCORE_FIELDS[(entry, board)]
    return index_pk.removesuffix("pk"), index_pk, index_sk
