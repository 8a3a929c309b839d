"""Reads of a promoter's downline tree: the members' promoter items (their own team size), in one
BatchGetItem beside the team Queries of ``mall.dal.referral.BindingRepository``."""

from __future__ import annotations

from collections.abc import Iterable

from mall.dal.keys import promoter_key
from mall.dal.table import Item, Table


class DownlineReads:
    def __init__(self, table: Table) -> None:
        self._table = table

    def promoters(self, user_ids: Iterable[str]) -> dict[str, Item]:
        """The promoter items of those of ``user_ids`` who are promoters."""
        keys = [promoter_key(uid) for uid in dict.fromkeys(user_ids)]
        return {str(i["user_id"]): i for i in self._table.batch_get(keys)} if keys else {}
