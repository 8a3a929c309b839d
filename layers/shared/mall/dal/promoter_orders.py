"""Reads of a promoter's attributed orders: their commission records in ``COMMISSIONS#<uid>``
(gsi1, newest first), then the orders and the buyers' profiles in one ``BatchGetItem``
(``mall.domain.promoter_orders`` says why this index serves both the promoter and the merchant)."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from mall.dal.commission_index import EVERYTHING, CommissionIndex, Where
from mall.dal.keys import customer_profile_key, order_key, promoter_key
from mall.dal.table import Item, Key, Page, Table


@dataclass(frozen=True, slots=True)
class OrderFacts:
    """The orders, buyers' nicknames and (when asked) the promoter item of one page, read together."""

    orders: Mapping[str, Item]
    nicknames: Mapping[str, str | None]
    promoter: Item | None


class PromoterOrderReads:
    def __init__(self, table: Table) -> None:
        self._table = table

    @staticmethod
    def partition(user_id: str) -> tuple[str, str]:
        return CommissionIndex.partition(user_id)

    def records(self, user_id: str, *, level: int | None, limit: int, start_key: Key | None) -> Page:
        """One page of the promoter's commission records, newest first (the index shards merged);
        ``level`` is a filter."""
        where = (Where(expression="#level = :level", names={"#level": "level"}, values={":level": level})
                 if level is not None else EVERYTHING)
        return CommissionIndex(self._table).page(user_id, limit=limit, start_key=start_key, where=where)

    @staticmethod
    def position(user_id: str, record: Mapping[str, Any]) -> Key:
        """The record's index position: the next page starts after it, in every shard."""
        return CommissionIndex.position(user_id, record)

    def facts(self, order_ids: Iterable[str], buyer_ids: Iterable[str], *,
              promoter_id: str | None = None) -> OrderFacts:
        """The orders, the buyers' profiles and (given ``promoter_id``) the promoter item: one batch."""
        keys = [order_key(o) for o in dict.fromkeys(order_ids)]
        keys += [customer_profile_key(b) for b in dict.fromkeys(buyer_ids) if b]
        if promoter_id is not None:
            keys.append(promoter_key(promoter_id))
        found = self._table.batch_get(keys) if keys else []
        orders = {str(i["order_id"]): i for i in found if i.get("sk") == "ORDER"}
        nicknames = {str(i.get("user_id")): i.get("nickname") for i in found if i.get("sk") == "PROFILE"}
        promoter = next((i for i in found if i.get("sk") == "PROMOTER"), None)
        return OrderFacts(orders=orders, nicknames=nicknames, promoter=promoter)
