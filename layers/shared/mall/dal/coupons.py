"""Coupon templates and claimed coupons (docs/data-model.md, "coupons").

- ``COUPON_TEMPLATES / TEMPLATE#<id>``: a template, its ``issued`` counter and ``version``.
- ``USER#<uid> / COUPON#<coupon_id>``: a claimed coupon with its terms copied from the template.
- ``USER#<uid> / COUPON_CLAIMS#<template_id>``: how many of a template the user was issued (``n``).

A claim is ONE transaction: the template's ``issued`` grows only while below ``total_quantity``
and the template is enabled, the user's counter only while below the per-user limit, and the coupon
is put only if absent. Concurrent claims of the same template conflict on its item; a conflict (no
failed condition) is retried, a failed condition is the answer. So the total is never exceeded."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Any, Final

from mall.clock import iso
from mall.dal.audit import AuditEntry, AuditLog
from mall.dal.keys import (
    COUPON_TEMPLATES_PARTITION,
    USER_COUPON_PREFIX,
    coupon_claims_key,
    coupon_template_key,
    user_coupon_key,
    user_partition,
)
from mall.dal.retry import retry_conflicts
from mall.dal.table import Item, Key, Table, TransactionCancelled, Write
from mall.domain.coupons import (
    AutoIssue,
    Coupon,
    CouponKind,
    CouponStatus,
    RefundPolicy,
    ScopeKind,
    Template,
    Terms,
    Validity,
)
from mall.errors import Conflict, NotFound

#: A hot template (hundreds claiming at once) conflicts often: each retry waits a jittered moment.
_CLAIM_ATTEMPTS: Final = 60


class ClaimOutcome(StrEnum):
    CLAIMED = "claimed"
    SOLD_OUT = "sold_out"  # disabled, or every coupon of the template issued
    LIMIT = "limit"  # the user holds as many as the per-user limit allows
    ALREADY = "already"  # this very coupon id exists (an automatic issue done before)
    CONTENTION = "contention"


def _terms_item(terms: Terms) -> dict[str, Any]:
    return {"kind": terms.kind.value, "amount_off_fen": terms.amount_off_fen, "percent_off_bp": terms.percent_off_bp,
            "max_off_fen": terms.max_off_fen, "min_spend_fen": terms.min_spend_fen, "scope": terms.scope.value,
            "scope_ids": list(terms.scope_ids), "on_refund": terms.on_refund.value}


def _terms_from(item: Mapping[str, Any]) -> Terms:
    max_off = item.get("max_off_fen")
    return Terms(kind=CouponKind(item["kind"]), amount_off_fen=int(item.get("amount_off_fen") or 0),
                 percent_off_bp=int(item.get("percent_off_bp") or 0),
                 max_off_fen=int(max_off) if max_off is not None else None,
                 min_spend_fen=int(item.get("min_spend_fen") or 0), scope=ScopeKind(item.get("scope", "all")),
                 scope_ids=tuple(str(x) for x in item.get("scope_ids") or ()),
                 on_refund=RefundPolicy(item.get("on_refund", RefundPolicy.RETURN_IF_FULL.value)))


def _template_fields(t: Template) -> dict[str, Any]:
    return {"name": t.name, "terms": _terms_item(t.terms), "starts_at": t.validity.starts_at,
            "ends_at": t.validity.ends_at, "valid_days": t.validity.days, "total_quantity": t.total_quantity,
            "per_user_limit": t.per_user_limit, "enabled": t.enabled, "auto_issue": t.auto_issue.value,
            "promoter_bound": t.promoter_bound}


def template_from_item(item: Item) -> Template:
    days = item.get("valid_days")
    return Template(template_id=str(item["template_id"]), name=str(item["name"]), terms=_terms_from(item["terms"]),
                    validity=Validity(starts_at=item.get("starts_at"), ends_at=item.get("ends_at"),
                                      days=int(days) if days is not None else None),
                    total_quantity=int(item["total_quantity"]), per_user_limit=int(item["per_user_limit"]),
                    enabled=bool(item.get("enabled", True)), auto_issue=AutoIssue(item.get("auto_issue", "none")),
                    promoter_bound=bool(item.get("promoter_bound", False)), issued=int(item.get("issued", 0)),
                    version=int(item.get("version", 1)), created_at=str(item.get("created_at", "")),
                    updated_at=str(item.get("updated_at", "")))


def coupon_from_item(item: Item) -> Coupon:
    return Coupon(coupon_id=str(item["coupon_id"]), user_id=str(item["user_id"]),
                  template_id=str(item["template_id"]), name=str(item.get("name", "")),
                  terms=_terms_from(item["terms"]), valid_from=str(item["valid_from"]),
                  valid_until=str(item["valid_until"]), status=CouponStatus(item["status"]),
                  claimed_at=str(item.get("claimed_at", "")), order_id=item.get("order_id"),
                  used_at=item.get("used_at"), sharer_code=item.get("sharer_code"))


@dataclass(frozen=True, slots=True)
class ClaimResult:
    outcome: ClaimOutcome
    coupon: Coupon | None = None


class CouponRepository:
    def __init__(self, table: Table) -> None:
        self._table = table

    # ---- templates ------------------------------------------------------------------------------

    def get_template(self, template_id: str, *, consistent: bool = False) -> Template | None:
        item = self._table.get(coupon_template_key(template_id), consistent=consistent)
        return template_from_item(item) if item else None

    def template_read_key(self, template_id: str) -> Key:
        """The template's key, for a use case that reads it in its own BatchGetItem (``template_among``)."""
        return coupon_template_key(template_id)

    @staticmethod
    def template_among(items: Sequence[Item], template_id: str) -> Template | None:
        key = coupon_template_key(template_id)
        found = next((i for i in items if i.get("pk") == key["pk"] and i.get("sk") == key["sk"]), None)
        return template_from_item(found) if found else None

    def templates(self) -> list[Template]:
        found: list[Template] = []
        start = None
        while True:
            page = self._table.query(partition=("pk", COUPON_TEMPLATES_PARTITION), sort_prefix=("sk", "TEMPLATE#"),
                                     limit=200, start_key=start)
            found += [template_from_item(i) for i in page.items]
            if page.last_key is None:
                return found
            start = page.last_key

    def create_template(self, template: Template, *, audit: AuditEntry, now: datetime) -> None:
        item = {**coupon_template_key(template.template_id), "entity": "coupon_template",
                "template_id": template.template_id, **_template_fields(template), "issued": 0, "version": 1,
                "created_at": iso(now), "updated_at": iso(now)}
        self._table.transact([Write.put(self._table.name, item, condition="attribute_not_exists(pk)"),
                              AuditLog(self._table).write(audit, now)])

    def update_template(self, template: Template, *, expected_version: int, audit: AuditEntry,
                        now: datetime) -> Template:
        """The editable fields, if nobody changed the template since ``expected_version`` and the new
        total still covers what was issued (409 otherwise, with the current state)."""
        every = _template_fields(template)
        fields = {k: v for k, v in every.items() if v is not None}
        cleared = [f"#{k}" for k, v in every.items() if v is None]
        sets = ", ".join(f"#{k} = :{k}" for k in fields)
        values: dict[str, Any] = {f":{k}": v for k, v in fields.items()}
        values.update({":expected": expected_version, ":one": 1, ":now": iso(now)})
        try:
            self._table.transact([
                Write.update(self._table.name, coupon_template_key(template.template_id),
                             f"SET {sets}, updated_at = :now ADD version :one"
                             + (f" REMOVE {', '.join(cleared)}" if cleared else ""),
                             condition="version = :expected AND issued <= :total_quantity",
                             names={f"#{k}": k for k in every}, values=values),
                AuditLog(self._table).write(audit, now)])
        except TransactionCancelled as exc:
            current = self.get_template(template.template_id, consistent=True)
            if current is None:
                raise NotFound("no such coupon template", code="coupon_template_not_found") from exc
            if current.version != expected_version:
                raise Conflict("the template changed since you read it", code="version_conflict",
                               details={"current_version": current.version}) from exc
            raise Conflict("the total is below what was already issued", code="total_below_issued",
                           details={"issued": current.issued}) from exc
        written = self.get_template(template.template_id, consistent=True)
        if written is None:  # pragma: no cover - templates are never deleted
            raise NotFound("no such coupon template", code="coupon_template_not_found")
        return written

    # ---- claiming -------------------------------------------------------------------------------

    def claimed_count(self, user_id: str, template_id: str) -> int:
        item = self._table.get(coupon_claims_key(user_id, template_id), consistent=True)
        return int((item or {}).get("n", 0))

    def claim(self, template: Template, coupon: Coupon, *, source: str, extra: Sequence[Write] = ()) -> ClaimResult:
        """Issue ``coupon`` of ``template`` to its user in ONE transaction (see the module's docstring)."""
        writes = [*self.claim_writes(template, coupon, source=source), *extra]
        try:
            retry_conflicts(lambda: self._table.transact(writes), attempts=_CLAIM_ATTEMPTS)
        except TransactionCancelled as exc:
            failed = exc.conditional_failures
            if not failed:
                return ClaimResult(ClaimOutcome.CONTENTION)
            if not set(failed) & {0, 1, 2}:
                raise
            return ClaimResult(self.claim_refusal(frozenset(failed)))
        return ClaimResult(ClaimOutcome.CLAIMED, coupon)

    def claim_writes(self, template: Template, coupon: Coupon, *, source: str) -> list[Write]:
        """The claim's three writes (the template's count, the user's count, the coupon), first in
        ``claim``'s transaction or riding in another use case's (a share visit's)."""
        name = self._table.name
        item: Item = {**user_coupon_key(coupon.user_id, coupon.coupon_id), "entity": "coupon",
                      **_coupon_fields(coupon), "source": source}
        return [
            Write.update(name, coupon_template_key(template.template_id), "ADD issued :one",
                         condition="attribute_exists(pk) AND enabled = :yes AND issued < total_quantity",
                         values={":one": 1, ":yes": True}),
            Write.update(name, coupon_claims_key(coupon.user_id, template.template_id),
                         "SET entity = :e, template_id = :t ADD n :one",
                         condition="attribute_not_exists(n) OR n < :limit",
                         values={":one": 1, ":e": "coupon_claims", ":t": template.template_id,
                                 ":limit": template.per_user_limit}),
            Write.put(name, item, condition="attribute_not_exists(pk)"),
        ]

    @staticmethod
    def claim_refusal(failed: frozenset[int]) -> ClaimOutcome:
        """Why a claim was refused, from the indexes of ``claim_writes`` whose conditions failed."""
        if 2 in failed:
            return ClaimOutcome.ALREADY
        if 0 in failed:
            return ClaimOutcome.SOLD_OUT
        if 1 in failed:
            return ClaimOutcome.LIMIT
        return ClaimOutcome.CONTENTION

    # ---- a user's coupons -----------------------------------------------------------------------

    def coupons_of(self, user_id: str) -> list[Coupon]:
        found: list[Coupon] = []
        start = None
        while True:
            page = self._table.query(partition=("pk", user_partition(user_id)), sort_prefix=("sk", USER_COUPON_PREFIX),
                                     limit=200, start_key=start)
            found += [coupon_from_item(i) for i in page.items]
            if page.last_key is None:
                return found
            start = page.last_key

    def get_coupon(self, user_id: str, coupon_id: str, *, consistent: bool = False) -> Coupon | None:
        item = self._table.get(user_coupon_key(user_id, coupon_id), consistent=consistent)
        return coupon_from_item(item) if item else None

    def use_write(self, coupon: Coupon, *, order_id: str, now: datetime) -> Write:
        """For the order's transaction: unused → used by ``order_id``, only while unused and valid
        (two orders can never both use one coupon: the second's transaction is cancelled)."""
        return Write.update(self._table.name, user_coupon_key(coupon.user_id, coupon.coupon_id),
                            "SET #s = :used, order_id = :oid, used_at = :now",
                            condition="#s = :unused AND valid_until > :now", names={"#s": "status"},
                            values={":used": CouponStatus.USED.value, ":unused": CouponStatus.UNUSED.value,
                                    ":oid": order_id, ":now": iso(now)})

    def give_back_write(self, user_id: str, coupon_id: str, *, order_id: str) -> Write:
        """For the transaction that ends ``order_id`` (expiry, a full refund): used by it → unused. It
        rides in that transaction, whose own condition makes it happen once."""
        return Write.update(self._table.name, user_coupon_key(user_id, coupon_id),
                            "SET #s = :unused REMOVE order_id, used_at",
                            condition="#s = :used AND order_id = :oid", names={"#s": "status"},
                            values={":used": CouponStatus.USED.value, ":unused": CouponStatus.UNUSED.value,
                                    ":oid": order_id})


def _coupon_fields(c: Coupon) -> dict[str, Any]:
    return {"coupon_id": c.coupon_id, "user_id": c.user_id, "template_id": c.template_id, "name": c.name,
            "terms": _terms_item(c.terms), "valid_from": c.valid_from, "valid_until": c.valid_until,
            "status": c.status.value, "claimed_at": c.claimed_at, "sharer_code": c.sharer_code}
