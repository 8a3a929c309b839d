"""The merchant's customer directory (用户管理): the search entries and indexes that find a
customer without a scan, the tags (用户标签) and the reads of a customer's detail
(docs/data-model.md, "customers"; docs/customers.md)."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from mall.clock import iso
from mall.dal.audit import AuditEntry, AuditLog
from mall.dal.keys import (
    BINDING_HISTORY_PREFIX,
    BUYER_ORDERS_FLOOR,
    CUSTOMER_TAGS_PARTITION,
    CUSTOMERS_PARTITION,
    TAG_DEFINITION_PREFIX,
    binding_key,
    buyer_partition,
    customer_profile_key,
    directory_key,
    nickname_search_partition,
    nickname_search_sort_key,
    phone_search_partition,
    promoter_key,
    refund_key,
    registration_sort_key,
    tag_definition_key,
    tag_member_sort_key,
    tag_members_partition,
    tag_membership_key,
    tag_name_key,
    team_partition,
    user_partition,
)
from mall.dal.table import ConditionFailed, Item, Key, Page, Table, TransactionCancelled, Write
from mall.domain.customers import fold_nickname, nickname_shard

#: ``entity`` of a customer's search entry; an erasure removes all its index keys with the values.
DIRECTORY_ENTITY = "customer_directory"


@dataclass(frozen=True)
class Tag:
    tag_id: str
    name: str
    customers: int
    version: int
    created_at: str
    created_by: str


def tag_from_item(item: Item) -> Tag:
    return Tag(tag_id=str(item["tag_id"]), name=str(item["name"]), customers=int(item.get("customers", 0)),
               version=int(item.get("version", 1)), created_at=str(item.get("created_at", "")),
               created_by=str(item.get("created_by", "")))


def registration_index(user_id: str, created_at: str) -> dict[str, str]:
    """The profile's entry in the registration index (gsi2 ``CUSTOMERS``)."""
    return {"gsi2pk": CUSTOMERS_PARTITION, "gsi2sk": registration_sort_key(created_at, user_id)}


def entry_update(user_id: str, *, phone_hash: str | None, nickname: str | None) -> tuple[str, dict[str, Any]]:
    """The update expression and values that make the customer's search entry say ``phone_hash`` and
    ``nickname`` (None: that index entry is removed)."""
    sets = ["entity = :e", "user_id = :u"]
    removes: list[str] = []
    values: dict[str, Any] = {":e": DIRECTORY_ENTITY, ":u": user_id}
    if phone_hash:
        sets += ["phone_fp = :fp", "gsi1pk = :g1", "gsi1sk = :s1"]
        values |= {":fp": phone_hash, ":g1": phone_search_partition(phone_hash), ":s1": user_partition(user_id)}
    else:
        removes += ["phone_fp", "gsi1pk", "gsi1sk"]
    folded = fold_nickname(nickname) if nickname else ""
    if folded:
        # The folded nickname is kept as ``nickname`` too: an erasure removes it and every index
        # key that embeds it.
        sets += ["nickname = :n", "gsi2pk = :g2", "gsi2sk = :s2"]
        values |= {":n": folded, ":g2": nickname_search_partition(nickname_shard(folded)),
                   ":s2": nickname_search_sort_key(folded, user_id)}
    else:
        removes += ["nickname", "gsi2pk", "gsi2sk"]
    return "SET " + ", ".join(sets) + (" REMOVE " + ", ".join(removes) if removes else ""), values


def _pair(item: Key | Item) -> tuple[str, str]:
    return str(item["pk"]), str(item["sk"])


class CustomerDirectory:
    """Reads and writes of the customer directory. Every key is built in ``mall.dal.keys``."""

    def __init__(self, table: Table) -> None:
        self._table = table

    # -- search entries -------------------------------------------------------------------

    def phone_write(self, user_id: str, phone_hash: str) -> Write:
        """The search entry's phone hash (the profile's ``phone_fp``), for the phone binding's transaction."""
        return Write.update(self._table.name, directory_key(user_id),
                            "SET entity = :e, user_id = :u, phone_fp = :fp, gsi1pk = :g1, gsi1sk = :s1",
                            values={":e": DIRECTORY_ENTITY, ":u": user_id, ":fp": phone_hash,
                                    ":g1": phone_search_partition(phone_hash), ":s1": user_partition(user_id)})

    def index_profile(self, profile: Item, *, phone_hash: str | None) -> bool:
        """Backfill: the profile's registration entry and its search entry (phone hash, nickname) as
        they follow from the profile now; conditional on the profile being the one read (its phone
        and nickname), so a concurrent phone binding is never overwritten with an older hash.
        False when the profile changed meanwhile (the migration reads it again next run)."""
        user_id = str(profile["user_id"])
        update, values = entry_update(user_id, phone_hash=phone_hash, nickname=profile.get("nickname"))
        reg = registration_index(user_id, str(profile["created_at"]))
        seen_phone = profile.get("phone_enc")
        seen_nick = profile.get("nickname")
        condition = "attribute_exists(pk)"
        cond_values: dict[str, Any] = {}
        for name, seen in (("phone_enc", seen_phone), ("nickname", seen_nick)):
            if seen is None:
                condition += f" AND attribute_not_exists({name})"
            else:
                condition += f" AND {name} = :seen_{name}"
                cond_values[f":seen_{name}"] = seen
        profile_set = "SET gsi2pk = :g, gsi2sk = :s"
        if phone_hash and not profile.get("phone_fp"):
            profile_set += ", phone_fp = :fp"  # a phone sealed before its keyed hash was kept beside it
            cond_values[":fp"] = phone_hash
        try:
            self._table.transact([
                Write.update(self._table.name, customer_profile_key(user_id), profile_set,
                             condition=condition, values={":g": reg["gsi2pk"], ":s": reg["gsi2sk"], **cond_values}),
                Write.update(self._table.name, directory_key(user_id), update, values=values),
            ])
        except TransactionCancelled:
            return False
        return True

    # -- finding customers (each one Query page) ------------------------------------------------

    def registered(self, *, registered_from: datetime | None, registered_before: datetime | None, limit: int,
                   start_key: Key | None) -> Page:
        """Profiles newest first, registered in ``[from, before)`` (a key condition: nothing read is dropped)."""
        names = {"#pk": "gsi2pk"}
        values: dict[str, Any] = {":pk": CUSTOMERS_PARTITION}
        condition = "#pk = :pk"
        low = iso(registered_from) if registered_from is not None else None
        high = iso(registered_before) if registered_before is not None else None
        if low is not None or high is not None:
            names["#sk"] = "gsi2sk"
            if low is not None and high is not None:
                condition += " AND #sk BETWEEN :low AND :high"
            else:
                condition += " AND #sk >= :low" if low is not None else " AND #sk < :high"
            values |= {k: v for k, v in ((":low", low), (":high", high)) if v is not None}
        return self._table.query_where(condition, names=names, values=values, index="gsi2", limit=limit,
                                       start_key=start_key, newest_first=True)

    def by_phone(self, phone_hash: str, *, limit: int, start_key: Key | None) -> Page:
        return self._table.query(partition=("gsi1pk", phone_search_partition(phone_hash)), index="gsi1",
                                 limit=limit, start_key=start_key)

    def by_nickname(self, prefix: str, *, limit: int, start_key: Key | None) -> Page:
        return self._table.query(partition=("gsi2pk", nickname_search_partition(nickname_shard(prefix))),
                                 sort_prefix=("gsi2sk", prefix), index="gsi2", limit=limit, start_key=start_key)

    def by_tag(self, tag_id: str, *, limit: int, start_key: Key | None) -> Page:
        return self._table.query(partition=("gsi1pk", tag_members_partition(tag_id)), index="gsi1", limit=limit,
                                 start_key=start_key, newest_first=True)

    def by_promoter(self, promoter_id: str, *, limit: int, start_key: Key | None) -> Page:
        """The promoter's level-1 members' bindings, newest bound first (the team index)."""
        return self._table.query(partition=("gsi1pk", team_partition(promoter_id)), index="gsi1", limit=limit,
                                 start_key=start_key, newest_first=True)

    def profiles_and_bindings(self, user_ids: Sequence[str], *, with_profiles: bool) -> tuple[dict[str, Item],
                                                                                                dict[str, Item]]:
        """The customers' profiles (when asked) and current bindings, in one BatchGetItem."""
        wanted: dict[tuple[str, str], tuple[str, bool]] = {}
        for user_id in user_ids:
            wanted[_pair(binding_key(user_id))] = (user_id, False)
            if with_profiles:
                wanted[_pair(customer_profile_key(user_id))] = (user_id, True)
        profiles: dict[str, Item] = {}
        bindings: dict[str, Item] = {}
        for item in self._table.batch_get([{"pk": pk, "sk": sk} for pk, sk in wanted]):
            user_id, is_profile = wanted[_pair(item)]
            (profiles if is_profile else bindings)[user_id] = item
        return profiles, bindings

    def tags(self, tag_ids: Iterable[str]) -> dict[str, Tag]:
        wanted = sorted(set(tag_ids))
        if not wanted:
            return {}
        return {t.tag_id: t for t in map(tag_from_item, self._table.batch_get([tag_definition_key(i) for i in wanted]))}

    # -- a customer's detail ----------------------------------------------------------------------

    def customer_items(self, user_id: str) -> tuple[Item | None, Item | None, Item | None]:
        """(profile, promoter record, binding): one consistent BatchGetItem."""
        wanted = [customer_profile_key(user_id), promoter_key(user_id), binding_key(user_id)]
        found = {_pair(item): item for item in self._table.batch_get(wanted, consistent=True)}
        profile, promoter, binding = (found.get(_pair(key)) for key in wanted)
        return profile, promoter, binding

    def binding_history(self, user_id: str, *, limit: int) -> list[Item]:
        return self._table.query(partition=("pk", user_partition(user_id)), sort_prefix=("sk", BINDING_HISTORY_PREFIX),
                                 limit=limit, newest_first=True).items

    def buyer_orders(self, user_id: str, *, max_pages: int) -> tuple[list[Item], bool]:
        """The customer's orders, newest first, reading at most ``max_pages`` pages of the buyer
        index (1 MB each, about a thousand orders). Returns (orders, complete)."""
        orders: list[Item] = []
        start: Key | None = None
        for _ in range(max_pages):
            page = self._table.query_where("#pk = :pk AND #sk >= :floor", names={"#pk": "gsi1pk", "#sk": "gsi1sk"},
                                           values={":pk": buyer_partition(user_id), ":floor": BUYER_ORDERS_FLOOR},
                                           index="gsi1", limit=None, start_key=start, newest_first=True)
            orders += [i for i in page.items if i.get("entity", "order") == "order" and i.get("order_id")]
            start = page.last_key
            if start is None:
                return orders, True
        return orders, False

    def refunds_and_tags(self, refunds: Sequence[tuple[str, str]], tag_ids: Iterable[str]) -> tuple[list[Item],
                                                                                                      dict[str, Tag]]:
        """Refund items (order id, refund id) and tag definitions, in one BatchGetItem."""
        keys: list[Key] = [refund_key(o, r) for o, r in refunds] + [tag_definition_key(t) for t in set(tag_ids)]
        found = self._table.batch_get(keys) if keys else []
        tags = {t.tag_id: t for t in (tag_from_item(i) for i in found if i["pk"] == CUSTOMER_TAGS_PARTITION)}
        return [i for i in found if i["pk"] != CUSTOMER_TAGS_PARTITION], tags

    # -- tags -------------------------------------------------------------------------------------

    def list_tags(self) -> list[Tag]:
        page = self._table.query(partition=("pk", CUSTOMER_TAGS_PARTITION), sort_prefix=("sk", TAG_DEFINITION_PREFIX),
                                 limit=500)
        return [tag_from_item(i) for i in page.items]

    def get_tag(self, tag_id: str) -> Tag | None:
        item = self._table.get(tag_definition_key(tag_id), consistent=True)
        return tag_from_item(item) if item else None

    def _audit(self, entry: AuditEntry, now: datetime) -> Write:
        return AuditLog(self._table).write(entry, now)

    def create_tag(self, tag: Tag, folded: str, *, audit: AuditEntry, now: datetime) -> None:
        """Put the tag and reserve its name (both only if absent), audited: one transaction.
        ``TransactionCancelled`` when the name is taken."""
        name = self._table.name
        self._table.transact([
            Write.put(name, {**tag_name_key(folded), "entity": "customer_tag_name", "tag_id": tag.tag_id},
                      condition="attribute_not_exists(pk)"),
            Write.put(name, {**tag_definition_key(tag.tag_id), "entity": "customer_tag", "tag_id": tag.tag_id,
                             "name": tag.name, "folded": folded, "customers": 0, "version": 1,
                             "created_at": tag.created_at, "created_by": tag.created_by},
                      condition="attribute_not_exists(pk)"),
            self._audit(audit, now),
        ])

    def rename_tag(self, tag: Tag, *, old_folded: str, new_name: str, new_folded: str, audit: AuditEntry,
                   now: datetime) -> None:
        """Rename from the version read; the old name is freed and the new one reserved together."""
        name = self._table.name
        writes = [Write.update(name, tag_definition_key(tag.tag_id), "SET #n = :n, folded = :f, #v = #v + :one",
                               condition="#v = :v", names={"#n": "name", "#v": "version"},
                               values={":n": new_name, ":f": new_folded, ":one": 1, ":v": tag.version}),
                  self._audit(audit, now)]
        if new_folded != old_folded:
            writes += [Write.delete(name, tag_name_key(old_folded), condition="tag_id = :t", values={":t": tag.tag_id}),
                       Write.put(name, {**tag_name_key(new_folded), "entity": "customer_tag_name",
                                        "tag_id": tag.tag_id}, condition="attribute_not_exists(pk)")]
        self._table.transact(writes)

    def delete_tag(self, tag: Tag, *, folded: str, audit: AuditEntry, now: datetime) -> None:
        """Delete a tag no customer carries (``customers = 0`` and the version read), with its name."""
        name = self._table.name
        self._table.transact([
            Write.delete(name, tag_definition_key(tag.tag_id), condition="#v = :v AND customers = :zero",
                         names={"#v": "version"}, values={":v": tag.version, ":zero": 0}),
            Write.delete(name, tag_name_key(folded), condition="tag_id = :t", values={":t": tag.tag_id}),
            self._audit(audit, now),
        ])

    def assign(self, user_id: str, tag_id: str, *, carried: int, audit: AuditEntry, now: datetime) -> bool:
        """Tag the customer: the membership (only if absent), the tag's count, the profile's ``tags``
        (conditional on the number of tags read, so concurrent assignments stay within the limit),
        audited, in one transaction. False when the customer already carries it (nothing written)."""
        name = self._table.name
        try:
            self._table.transact([
                Write.put(name, {**tag_membership_key(user_id, tag_id), "entity": "customer_tag_member",
                                 "user_id": user_id, "tag_id": tag_id, "tagged_at": iso(now),
                                 "gsi1pk": tag_members_partition(tag_id),
                                 "gsi1sk": tag_member_sort_key(iso(now), user_id)},
                          condition="attribute_not_exists(pk)"),
                Write.update(name, tag_definition_key(tag_id), "ADD customers :one", condition="attribute_exists(pk)",
                             values={":one": 1}),
                Write.update(name, customer_profile_key(user_id), "ADD tags :t",
                             condition="attribute_exists(pk) AND (attribute_not_exists(tags) OR size(tags) = :n)",
                             values={":t": {tag_id}, ":n": carried}),
                self._audit(audit, now),
            ])
        except TransactionCancelled as exc:
            if exc.reasons and exc.reasons[0] == "ConditionalCheckFailed":
                return False
            raise
        return True

    def unassign(self, user_id: str, tag_id: str, *, audit: AuditEntry, now: datetime) -> bool:
        """Remove the tag from the customer; False when they do not carry it (nothing written)."""
        name = self._table.name
        try:
            self._table.transact([
                Write.delete(name, tag_membership_key(user_id, tag_id), condition="attribute_exists(pk)"),
                Write.update(name, tag_definition_key(tag_id), "ADD customers :minus", condition="attribute_exists(pk)",
                             values={":minus": -1}),
                Write.update(name, customer_profile_key(user_id), "DELETE tags :t", values={":t": {tag_id}}),
                self._audit(audit, now),
            ])
        except TransactionCancelled as exc:
            if exc.reasons and exc.reasons[0] == "ConditionalCheckFailed":
                return False
            raise
        return True

    def profile(self, user_id: str) -> Item | None:
        return self._table.get(customer_profile_key(user_id), consistent=True)


__all__ = ["ConditionFailed", "CustomerDirectory", "Tag", "TransactionCancelled", "entry_update", "registration_index",
           "tag_from_item"]
