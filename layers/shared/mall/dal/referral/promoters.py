"""Promoters (推广员) and their codes, history and activity markers; what referral reads of a
customer's profile.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from mall.clock import iso, parse_instant
from mall.dal.audit import AuditEntry, AuditLog
from mall.dal.commission_rates import promoter_write
from mall.dal.keys import (
    activity_key,
    activity_partition,
    code_key,
    customer_profile_key,
    promoter_key,
    promoter_status_partition,
    purchase_key,
    user_partition,
)
from mall.dal.promoter_wallet import status_flag_write
from mall.dal.referral.records import (
    COUNTED_ORDER,
    activity_day,
    activity_write,
    counters_condition,
    promoter_from_item,
    promoter_history_write,
)
from mall.dal.request_markers import MarkedRequest
from mall.dal.table import ConditionFailed, Item, Key, Table, Write
from mall.domain.masking import is_erased
from mall.domain.referral.model import PROMOTER_STATUSES, Counters, LevelSource, Promoter, PromoterStatus


@dataclass(frozen=True)
class CustomerFacts:
    """What referral reads from the customer profile (written by login and by placing orders)."""

    user_id: str
    exists: bool
    roles: tuple[str, ...] = ()
    nickname: str | None = None
    paid_order_count: int = 0
    paid_total_fen: int = 0
    first_paid_order_id: str | None = None
    has_phone: bool = False
    #: The bound phone, masked (138****1234), when one is bound.
    phone_masked: str | None = None


def customer_facts(user_id: str, item: Item | None) -> CustomerFacts:
    """What referral reads from the customer's profile item (None: no profile)."""
    if not item:
        return CustomerFacts(user_id=user_id, exists=False)
    return CustomerFacts(user_id=user_id, exists=True, roles=tuple(item.get("roles", [])),
                         nickname=item.get("nickname"), paid_order_count=int(item.get("paid_order_count", 0)),
                         paid_total_fen=int(item.get("paid_total_fen", 0)),
                         first_paid_order_id=item.get("first_paid_order_id"),
                         has_phone=_has_phone(item),
                         phone_masked=item.get("phone_masked") if _has_phone(item) else None)


def _has_phone(item: Item) -> bool:
    return bool(item.get("phone_enc")) and not is_erased(item.get("phone_enc"))


class PromoterRepository:
    def __init__(self, table: Table) -> None:
        self._table = table

    @property
    def table(self) -> Table:
        return self._table

    def get(self, user_id: str, *, consistent: bool = False) -> Promoter | None:
        item = self._table.get(promoter_key(user_id), consistent=consistent)
        return promoter_from_item(item) if item else None

    def after_sale(self, user_id: str, order_id: str) -> Promoter | None:
        """The promoter as it stands since the sale of ``order_id`` was counted on it (``count_sale``,
        committed): an eventually consistent read (half the units) when it shows that sale, else a
        consistent one. Writes to one item reach a replica in their order, so a read that shows the
        order's id in ``counted_order`` (set only by that sale's transaction, once) shows the sale and
        every write before it, as a consistent read just after the sale would."""
        item = self._table.get_showing(promoter_key(user_id), lambda stored: stored.get(COUNTED_ORDER) == order_id)
        return promoter_from_item(item) if item else None

    def get_by_code(self, code: str) -> Promoter | None:
        link = self._table.get(code_key(code))
        if not link:
            return None
        return self.get(str(link["user_id"]))

    def customer(self, user_id: str) -> CustomerFacts:
        return customer_facts(user_id, self._table.get(customer_profile_key(user_id), consistent=True))

    def with_customer(self, user_id: str) -> tuple[Promoter | None, CustomerFacts]:
        """The promoter and what referral reads of their customer profile, both consistent, in one
        ``BatchGetItem``."""
        found = {str(item["sk"]): item for item in self._table.batch_get(
            [promoter_key(user_id), customer_profile_key(user_id)], consistent=True)}
        promoter = found.get(str(promoter_key(user_id)["sk"]))
        return (promoter_from_item(promoter) if promoter else None,
                customer_facts(user_id, found.get(str(customer_profile_key(user_id)["sk"]))))

    def paid_quantity(self, user_id: str, product_id: str) -> int:
        item = self._table.get(purchase_key(user_id, product_id))
        return int(item.get("paid_quantity", 0)) if item else 0

    # -- writes --------------------------------------------------------------------------

    def create(self, promoter: Promoter, *, grant_role: bool, replaces_rejected: bool, now: datetime,
               reserve_code: bool, marked: MarkedRequest | None = None, response: str | None = None) -> None:
        """Put the promoter (only if absent, or replacing a rejected application), reserve its code,
        grant the ``promoter`` role when active, and record the history: one transaction. With
        ``marked``, the request's Idempotency-Key marker holding ``response`` is its first write."""
        item = self._item(promoter)
        writes: list[Write] = []
        if marked is not None and response is not None:
            writes.append(marked.put(response))
        if replaces_rejected:
            writes.append(Write.put(self._table.name, item, condition="#s = :rejected", names={"#s": "status"},
                                    values={":rejected": "rejected"}))
        else:
            writes.append(Write.put(self._table.name, item, condition="attribute_not_exists(pk)"))
        if reserve_code:
            writes.append(Write.put(self._table.name, {**code_key(promoter.code), "entity": "promoter_code",
                                                       "user_id": promoter.user_id, "created_at": iso(now)},
                                    condition="attribute_not_exists(pk)"))
        if grant_role:
            writes.append(self._grant_role(promoter.user_id))
        writes.append(self._history(promoter.user_id, now, action="apply", from_status=None,
                                    to_status=promoter.status, by=promoter.user_id, reason=None,
                                    extra={"accepted_rules_version": promoter.accepted_rules_version}))
        if replaces_rejected or promoter.l1_override_bp is not None or promoter.l2_override_bp is not None:
            writes.append(promoter_write(self._table.name, promoter.user_id, l1_bp=promoter.l1_override_bp,
                                         l2_bp=promoter.l2_override_bp, version=promoter.version))
        self._table.transact(writes)

    def appoint(self, promoter: Promoter, *, by: str, now: datetime, audit: AuditEntry,
                replaces: Promoter | None = None, marked: MarkedRequest | None = None,
                response: str | None = None) -> None:
        """The merchant makes a customer a promoter (no application): put the promoter (only if
        absent), reserve its code, record the history and the audit entry, one transaction. The
        ``promoter`` role is NOT granted here: it comes with the customer's acceptance of the
        agreement (``accept_agreement``). ``replaces``: a rejected application, as read (its code is kept)."""
        writes: list[Write] = []
        if marked is not None and response is not None:
            writes.append(marked.put(response))
        if replaces is None:
            writes += [
                Write.put(self._table.name, self._item(promoter), condition="attribute_not_exists(pk)"),
                Write.put(self._table.name, {**code_key(promoter.code), "entity": "promoter_code",
                                             "user_id": promoter.user_id, "created_at": iso(now)},
                          condition="attribute_not_exists(pk)"),
            ]
        else:
            writes += [
                Write.put(self._table.name, self._item(promoter), condition="#s = :rejected AND #v = :ver",
                          names={"#s": "status", "#v": "version"},
                          values={":rejected": "rejected", ":ver": replaces.version}),
                promoter_write(self._table.name, promoter.user_id, l1_bp=None, l2_bp=None, version=promoter.version),
            ]
        writes += [
            Write.check(self._table.name, customer_profile_key(promoter.user_id), "attribute_exists(pk)"),
            self._history(promoter.user_id, now, action="appoint", from_status=None, to_status=promoter.status,
                          by=by, reason=None),
            AuditLog(self._table).write(audit, now),
        ]
        self._table.transact(writes)

    def accept_agreement(self, promoter: Promoter, *, rules_version: int, now: datetime, grant_role: bool) -> None:
        """Record the promoter's acceptance of the rules version, from the pending state and version
        read, and grant the ``promoter`` role, with a history entry: one transaction."""
        writes = [
            Write.update(self._table.name, promoter_key(promoter.user_id),
                         "SET accepted_rules_version = :rv, accepted_rules_at = :now, #v = #v + :one "
                         "REMOVE agreement_pending",
                         condition="agreement_pending = :yes AND #v = :ver", names={"#v": "version"},
                         values={":rv": rules_version, ":now": iso(now), ":one": 1, ":yes": True,
                                 ":ver": promoter.version}),
            self._history(promoter.user_id, now, action="accept_rules", from_status=promoter.status,
                          to_status=promoter.status, by=promoter.user_id, reason=None,
                          extra={"accepted_rules_version": rules_version}),
        ]
        if grant_role:
            writes.append(self._grant_role(promoter.user_id))
        self._table.transact(writes)

    def _grant_role(self, user_id: str) -> Write:
        return Write.update(self._table.name, customer_profile_key(user_id),
                            "SET #roles = list_append(if_not_exists(#roles, :none), :promoter)",
                            condition="attribute_exists(pk) AND NOT contains(#roles, :role)",
                            names={"#roles": "roles"},
                            values={":none": [], ":promoter": ["promoter"], ":role": "promoter"})

    def _item(self, p: Promoter) -> Item:
        applied = iso(p.applied_at) if p.applied_at else ""
        return {
            **promoter_key(p.user_id), "entity": "promoter", "user_id": p.user_id, "code": p.code,
            "status": p.status, "level_id": p.level_id, "l1_override_bp": p.l1_override_bp,
            "l2_override_bp": p.l2_override_bp, "nickname": p.nickname, "applied_at": applied or None,
            "activated_at": iso(p.activated_at) if p.activated_at else None,
            "accepted_rules_version": p.accepted_rules_version,
            "accepted_rules_at": iso(p.accepted_rules_at) if p.accepted_rules_at else None,
            "direct_members": p.direct_members, "second_level_members": p.second_level_members,
            "own_sales_fen": p.own_sales_fen, "team_sales_fen": p.team_sales_fen,
            "last_active_at": iso(p.last_active_at) if p.last_active_at else None, "reason": p.reason,
            "version": p.version, "effective_members": p.effective_members, "level_source": p.level_source,
            **({"agreement_pending": True} if p.agreement_pending else {}),
            "gsi1pk": promoter_status_partition(p.status), "gsi1sk": f"{applied}#{p.user_id}",
        }

    def _history(self, user_id: str, now: datetime, *, action: str, from_status: str | None, to_status: str | None,
                 by: str, reason: str | None, extra: Mapping[str, Any] | None = None) -> Write:
        return promoter_history_write(self._table.name, user_id, now, action=action, from_status=from_status,
                                      to_status=to_status, by=by, reason=reason, extra=extra)

    def change_status(self, promoter: Promoter, *, to_status: PromoterStatus, action: str, by: str,
                      reason: str | None, now: datetime, grant_role: bool, audit: AuditEntry | None = None) -> None:
        """A conditional update from the status the caller saw (and its version), plus history."""
        self._table.transact(self.status_writes(promoter, to_status=to_status, action=action, by=by, reason=reason,
                                                now=now, grant_role=grant_role, audit=audit))

    def status_writes(self, promoter: Promoter, *, to_status: PromoterStatus, action: str, by: str,
                      reason: str | None, now: datetime, grant_role: bool,
                      audit: AuditEntry | None = None) -> list[Write]:
        """``change_status`` as writes, for a caller's transaction (a confirmed risk case's freeze). A change
        into, out of or between the statuses that block settlement also writes the wallet's
        ``promoter_blocked`` flag (``mall.dal.promoter_wallet``): a caller whose transaction touches that
        wallet too folds the two (``fold_wallet_writes``)."""
        sets = ["#s = :to", "gsi1pk = :g", "#v = #v + :one", "reason = :reason"]
        values: dict[str, Any] = {":to": to_status, ":g": promoter_status_partition(to_status),
                                  ":from": promoter.status, ":one": 1, ":ver": promoter.version, ":reason": reason}
        if to_status == "active" and promoter.activated_at is None:
            sets.append("activated_at = :now")
            values[":now"] = iso(now)
        if reason is None:
            sets.remove("reason = :reason")
            values.pop(":reason")
        writes = [Write.update(self._table.name, promoter_key(promoter.user_id), "SET " + ", ".join(sets),
                               condition="#s = :from AND #v = :ver", names={"#s": "status", "#v": "version"},
                               values=values)]
        if grant_role:
            writes.append(self._grant_role(promoter.user_id))
        writes.append(self._history(promoter.user_id, now, action=action, from_status=promoter.status,
                                    to_status=to_status, by=by, reason=reason))
        if audit is not None:
            writes.append(AuditLog(self._table).write(audit, now))
        flag = status_flag_write(self._table.name, promoter.user_id, before=promoter.status, after=to_status)
        if flag is not None:
            writes.append(flag)
        return writes

    def set_override(self, promoter: Promoter, *, l1_bp: int | None, l2_bp: int | None, by: str,
                     reason: str | None, now: datetime, audit: AuditEntry | None = None) -> None:
        sets = ["#v = #v + :one"]
        removes: list[str] = []
        values: dict[str, Any] = {":one": 1, ":ver": promoter.version}
        for name, value in (("l1_override_bp", l1_bp), ("l2_override_bp", l2_bp)):
            if value is None:
                removes.append(name)
            else:
                sets.append(f"{name} = :{name}")
                values[f":{name}"] = value
        update = "SET " + ", ".join(sets) + (" REMOVE " + ", ".join(removes) if removes else "")
        writes = [
            Write.update(self._table.name, promoter_key(promoter.user_id), update,
                         condition="#v = :ver", names={"#v": "version"}, values=values),
            self._history(promoter.user_id, now, action="set_override", from_status=promoter.status,
                          to_status=promoter.status, by=by, reason=reason,
                          extra={"l1_override_bp": l1_bp, "l2_override_bp": l2_bp,
                                 "previous": {"l1_override_bp": promoter.l1_override_bp,
                                              "l2_override_bp": promoter.l2_override_bp}}),
        ]
        if audit is not None:
            writes.append(AuditLog(self._table).write(audit, now))
        # The rate index's copy rides in the same transaction (docs: mall.dal.commission_rates).
        writes.append(promoter_write(self._table.name, promoter.user_id, l1_bp=l1_bp, l2_bp=l2_bp,
                                     version=promoter.version + 1))
        self._table.transact(writes)

    def set_level(self, promoter: Promoter, *, level_id: str, action: str, by: str, reason: str | None,
                  now: datetime, level_source: LevelSource, reset_activity: bool = False,
                  decided_on: Counters | None = None, audit: AuditEntry | None = None) -> None:
        """Change the level from the one the caller saw (conditional), with a history entry.
        ``decided_on``: the counters the decision was made on, which must still be the stored ones
        (a refund or a sale counted meanwhile makes the caller decide again)."""
        condition = "level_id = :from"
        values: dict[str, Any] = {":to": level_id, ":from": promoter.level_id, ":one": 1, ":src": level_source}
        if decided_on is not None:
            condition += " AND " + counters_condition(decided_on, values)
        writes = [
            Write.update(self._table.name, promoter_key(promoter.user_id),
                         "SET level_id = :to, level_source = :src, #v = #v + :one", condition=condition,
                         names={"#v": "version"}, values=values),
            self._history(promoter.user_id, now, action=action, from_status=promoter.status,
                          to_status=promoter.status, by=by, reason=reason,
                          extra={"from_level": promoter.level_id, "to_level": level_id,
                                 "level_source": level_source}),
        ]
        if reset_activity:
            writes.append(self.activity_write(promoter.user_id, now))
        if audit is not None:
            writes.append(AuditLog(self._table).write(audit, now))
        self._table.transact(writes)

    def activity_write(self, user_id: str, now: datetime) -> Write:
        """Move the activity marker to today's day partition (the downgrade job's index)."""
        return activity_write(self._table.name, user_id, now)

    def active_today(self, user_ids: Sequence[str], now: datetime) -> frozenset[str]:
        """The promoters whose activity marker is already in ``now``'s day partition: a sale need not
        put it again (their exact last activity is the promoter item's ``last_active_at``, which the
        sale still sets). An eventually consistent read can only show an older day: then the marker
        is put, as before."""
        if not user_ids:
            return frozenset()
        today = activity_partition(activity_day(now))
        items = self._table.batch_get([activity_key(uid) for uid in user_ids])
        return frozenset(str(i["user_id"]) for i in items if i.get("gsi1pk") == today)

    def drop_activity_index(self, user_id: str, day: str) -> None:
        """Leave the downgrade index (nothing left to downgrade) unless activity moved it meanwhile."""
        try:
            self._table.update(activity_key(user_id), "REMOVE gsi1pk, gsi1sk", condition="gsi1pk = :g",
                               values={":g": activity_partition(day)})
        except ConditionFailed:
            return

    def inactive_on(self, day: str, *, limit: int,
                    start_key: Key | None) -> tuple[list[tuple[str, datetime]], Key | None]:
        page = self._table.query(partition=("gsi1pk", activity_partition(day)), index="gsi1", limit=limit,
                                 start_key=start_key)
        found = [(str(i["user_id"]), parse_instant(i["last_active_at"])) for i in page.items]
        return found, page.last_key

    # -- reads ---------------------------------------------------------------------------

    def list_by_status(self, status: str, *, limit: int, start_key: Key | None) -> tuple[list[Promoter], Key | None]:
        page = self._table.query(partition=("gsi1pk", promoter_status_partition(status)), index="gsi1", limit=limit,
                                 start_key=start_key, newest_first=True)
        return [promoter_from_item(i) for i in page.items], page.last_key

    def with_overrides(self) -> list[Promoter]:
        """Every promoter with an L1 or L2 override, whatever their status (a frozen or disabled
        one may be reinstated with it), every page: the commission cap check of a save. The
        filter runs on the server; the read still covers every promoter (docs/commission-cap.md)."""
        found: list[Promoter] = []
        for status in PROMOTER_STATUSES:
            start: Key | None = None
            while True:
                page = self._table.query_where(
                    "#pk = :pk", names={"#pk": "gsi1pk"}, values={":pk": promoter_status_partition(status)},
                    index="gsi1", limit=None, start_key=start,
                    filter_expression="attribute_exists(l1_override_bp) OR attribute_exists(l2_override_bp)")
                found += [promoter_from_item(i) for i in page.items]
                start = page.last_key
                if start is None:
                    break
        return found

    def history(self, user_id: str, *, limit: int, start_key: Key | None) -> tuple[list[Item], Key | None]:
        page = self._table.query(partition=("pk", user_partition(user_id)), sort_prefix=("sk", "PROMOTER_HISTORY#"),
                                 limit=limit, start_key=start_key, newest_first=True)
        return page.items, page.last_key


def batch_promoters(repo: PromoterRepository, ids: Sequence[str]) -> dict[str, Promoter]:
    found: dict[str, Promoter] = {}
    for uid in ids:
        promoter = repo.get(uid)
        if promoter is not None:
            found[uid] = promoter
    return found
