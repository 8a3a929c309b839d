"""Merchandising (商品运营): the shelf schedule (定时上下架) applied when due, and the batch edit
(批量操作) of shelf, category and commission setting over many products, each audited."""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Any

from aws_lambda_powertools import Logger

from mall.dal.catalog import TransactionCancelled, editable_state
from mall.domain.catalog import CommissionSetting, Product, apply_shelf_change, due_shelf_change, product_problems
from mall.domain.commission_cap import Saving, cap_problems
from mall.errors import Conflict, FieldProblem, InvalidInput, NotFound
from mall.schemas.catalog_batch import BatchOutcome, ProductBatchEdit, ProductBatchItem, ProductBatchResult
from mall.schemas.common import FieldError
from mall.services.catalog.common import CatalogRepositories, audit_entry, refuse

logger = Logger(child=True)

#: The actor the audit trail names for changes the schedule makes.
SCHEDULE_ACTOR = "schedule"
#: Attempts on one product when a concurrent transaction (an order, another run) collides with it.
_ATTEMPTS = 3


@dataclass
class ShelfRunReport:
    """What one run of the shelf schedule did: ``applied`` changes written by this run, ``skipped``
    ones another writer had already made (an overlapping run, an admin's edit)."""

    applied: list[str] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)
    retry_later: list[str] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        return {"applied": len(self.applied), "skipped": len(self.skipped), "retry_later": len(self.retry_later)}


def _apply_one(repos: CatalogRepositories, product: Product, now: datetime) -> str:
    """One product's due change as a conditional update from the version read: ``applied``, or
    ``skipped`` when someone else wrote first (then re-read: nothing due is left, or it is applied)."""
    current: Product | None = product
    for _ in range(_ATTEMPTS):
        if current is None:
            return "skipped"
        change = due_shelf_change(current, now)
        if change is None:
            return "skipped"
        after = apply_shelf_change(current, change)
        audit = audit_entry("product.shelf_schedule", "product", current.product_id, by=SCHEDULE_ACTOR,
                            source_ip=None, before=editable_state(current), after=editable_state(after),
                            details={"version": current.version + 1})
        try:
            repos.products.update(after, expected_version=current.version, previous_category_id=current.category_id,
                                  now=now, audit=audit)
        except (Conflict, NotFound, TransactionCancelled):
            current = repos.products.get(product.product_id, consistent=True)
            continue
        return "applied"
    return "retry_later"


def apply_due_shelf_changes(*, repos: CatalogRepositories, now: datetime) -> ShelfRunReport:
    """定时上下架: every product whose planned on/off time has come goes on or off the shelf, the
    consumed time cleared, in one conditional update with its audit entry. Runs may overlap:
    each change is written (and audited) by exactly one of them."""
    report = ShelfRunReport()
    for product in repos.products.due_for_shelf_change(now):
        outcome = _apply_one(repos, product, now)
        getattr(report, outcome).append(product.product_id)
    if report.retry_later:
        logger.warning("shelf changes left for the next run", extra={"products": report.retry_later})
    return report


# ---- 批量操作: one change over many products ------------------------------------------------


@dataclass(frozen=True)
class BatchEdit:
    """Who sends the batch edit, and from where (the audit trail's actor and source)."""

    body: ProductBatchEdit
    by: str
    now: datetime
    source_ip: str | None = None


def _changed(product: Product, body: ProductBatchEdit) -> Product:
    changes: dict[str, Any] = {}
    if body.on_shelf is not None:
        changes["on_shelf"] = body.on_shelf
    if body.category_id is not None:
        changes["category_id"] = body.category_id
    if body.commission is not None:
        changes["commission"] = CommissionSetting(mode=body.commission.mode, l1=body.commission.l1,
                                                  l2=body.commission.l2)
    return replace(product, **changes)


def _refused(product_id: str, version: int | None, exc: InvalidInput | Conflict) -> ProductBatchItem:
    fields = [FieldError(field=p.field, reason=p.reason) for p in exc.fields]
    outcome: BatchOutcome = "refused" if isinstance(exc, InvalidInput) else "conflict"
    return ProductBatchItem(product_id=product_id, outcome=outcome, reason=exc.message, fields=fields,
                            version=version)


def batch_edit_products(command: BatchEdit, *, repos: CatalogRepositories) -> ProductBatchResult:
    """Apply the same shelf, category or commission setting to each product: each its own
    conditional update from the version read, with its own audit entry, checked as a single
    edit is (its invariants and the commission cap at its own price). One product refused
    leaves the others; each is reported. Sent again, what is already so is ``unchanged``."""
    body = command.body
    if body.on_shelf is None and body.category_id is None and body.commission is None:
        refuse([FieldProblem("on_shelf", "send at least one of on_shelf, category_id, commission")],
               "the batch changes nothing", "invalid_batch")
    ids = list(dict.fromkeys(body.product_ids))
    found = repos.products.get_many(ids, consistent=True)
    if body.category_id is not None and repos.categories.get(body.category_id) is None:
        refuse([FieldProblem("category_id", "no such category")], "the category does not exist",
               "category_not_found")
    checks_cap = body.commission is not None and body.commission.mode != "inherit"
    settings = repos.distribution_settings() if checks_cap else None
    overrides = repos.promoters.with_overrides() if checks_cap else []
    items: list[ProductBatchItem] = []
    for product_id in ids:
        current = found.get(product_id)
        if current is None:
            items.append(ProductBatchItem(product_id=product_id, outcome="not_found", reason="no such product"))
            continue
        merged = _changed(current, body)
        if editable_state(merged) == editable_state(current):
            items.append(ProductBatchItem(product_id=product_id, outcome="unchanged", version=current.version))
            continue
        problems = product_problems(merged)
        if settings is not None and merged.distribution_enabled:
            problems += cap_problems(settings=settings, products=[merged], promoters=overrides,
                                     saving=Saving("product", product_id))
        try:
            refuse(problems, "the product has invalid fields", "invalid_product")
            audit = audit_entry("product.batch_update", "product", product_id, by=command.by,
                                source_ip=command.source_ip, before=editable_state(current),
                                after=editable_state(merged), details={"version": current.version + 1})
            updated = repos.products.update(merged, expected_version=current.version,
                                            previous_category_id=current.category_id, now=command.now, audit=audit)
        except (InvalidInput, Conflict) as exc:
            items.append(_refused(product_id, current.version, exc))
            continue
        except TransactionCancelled:  # collided with an order's transaction on the same product
            items.append(ProductBatchItem(product_id=product_id, outcome="conflict", version=current.version,
                                          reason="changed concurrently; send the batch again"))
            continue
        items.append(ProductBatchItem(product_id=product_id, outcome="updated", version=updated.version))
    return ProductBatchResult(items=items, updated=sum(1 for i in items if i.outcome == "updated"))
