"""Reads of the merchant's promoter list (推广员列表): the promoters of one status (gsi1
``PROMOTERS#<status>``), a page at a time or every page up to a ceiling (to sort by a counter), and the
figures a page shows beside each promoter — their wallet, this month's commission leaderboard entry
and their customer profile (masked phone) — in one BatchGetItem."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from mall.dal.keys import board_key, board_partition, customer_profile_key, promoter_status_partition, wallet_key
from mall.dal.referral.records import promoter_from_item
from mall.dal.table import Item, Key, Table
from mall.domain.referral import Promoter


@dataclass(frozen=True, slots=True)
class PromoterFigures:
    wallet: Item | None
    month_board: Item | None
    profile: Item | None


class PromoterListReads:
    def __init__(self, table: Table) -> None:
        self._table = table

    def _query(self, status: str, *, level_id: str | None, limit: int | None,
               start_key: Key | None) -> tuple[list[Item], Key | None]:
        names = {"#pk": "gsi1pk"}
        values: dict[str, Any] = {":pk": promoter_status_partition(status)}
        filter_expression = None
        if level_id is not None:
            names["#level"] = "level_id"
            values[":level"] = level_id
            filter_expression = "#level = :level"
        page = self._table.query_where("#pk = :pk", names=names, values=values, index="gsi1", limit=limit,
                                       start_key=start_key, newest_first=True, filter_expression=filter_expression)
        return page.items, page.last_key

    def page(self, status: str, *, level_id: str | None, limit: int,
             start_key: Key | None) -> tuple[list[Promoter], Key | None]:
        """One page, newest application first (a level filter may make it short)."""
        items, last = self._query(status, level_id=level_id, limit=limit, start_key=start_key)
        return [promoter_from_item(i) for i in items], last

    def every(self, status: str, *, level_id: str | None, ceiling: int) -> tuple[list[Promoter], bool]:
        """Every promoter of the status (1 MB pages), up to ``ceiling``; True when cut there."""
        out: list[Promoter] = []
        start: Key | None = None
        while True:
            items, start = self._query(status, level_id=level_id, limit=None, start_key=start)
            out += [promoter_from_item(i) for i in items]
            if len(out) > ceiling:
                return out[:ceiling], True
            if start is None:
                return out, False

    def figures(self, user_ids: Sequence[str], *, month: str) -> dict[str, PromoterFigures]:
        """Each promoter's wallet, ``BOARD#commission#<month>`` entry and profile: one BatchGetItem."""
        keys: list[Key] = []
        for uid in user_ids:
            keys += [wallet_key(uid), board_key("commission", month, uid), customer_profile_key(uid)]
        found = self._table.batch_get(keys) if keys else []
        by_key = {(str(i["pk"]), str(i["sk"])): i for i in found}

        def one(key: Key) -> Item | None:
            return by_key.get((key["pk"], key["sk"]))

        return {uid: PromoterFigures(wallet=one(wallet_key(uid)), month_board=one(board_key("commission", month, uid)),
                                     profile=one(customer_profile_key(uid))) for uid in user_ids}

    def month_commissions(self, month: str) -> dict[str, int]:
        """This month's commission of every promoter who earned any (``BOARD#commission#<month>``, every
        page: one small item per earning promoter)."""
        scores: dict[str, int] = {}
        start: Key | None = None
        while True:
            page = self._table.query_where("#pk = :pk", names={"#pk": "pk"},
                                           values={":pk": board_partition("commission", month)}, limit=None,
                                           start_key=start)
            # An entry may keep only the promoter's sales score (``mall.dal.stats_boards``): no commission.
            scores.update({str(i["promoter_id"]): int(i["score_fen"]) for i in page.items if "score_fen" in i})
            start = page.last_key
            if start is None:
                return scores
