"""Specs and SKUs (规格) beyond the entities: what an admin's edit makes of a product's SKUs, whether
specs and SKUs agree, and which SKU each order line buys. Pure; the entities (``Spec``, ``Sku``,
``Product``) are in ``mall.domain.catalog``."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING

from mall.domain.catalog import DEFAULT_SKU_ID, MAX_SKUS, Product, Sku, Spec
from mall.errors import Conflict, FieldProblem, InvalidInput

if TYPE_CHECKING:
    from mall.domain.orders import LineRequest


def merge_skus(current: Product, specs: tuple[Spec, ...], wanted: Sequence[Sku]) -> tuple[Sku, ...]:
    """The SKUs after an edit: an existing combination keeps its id, position, stock and sales and
    takes the new price, commission, limit and enabled flag; a combination no longer sent is disabled
    (kept, so the orders naming it still release and refund); new ones are appended."""
    by_options = {s.options: s for s in wanted}
    merged: list[Sku] = []
    for sku in current.skus:
        new = by_options.pop(sku.options, None)
        if new is None:
            merged.append(replace(sku, enabled=False))
        else:
            merged.append(replace(sku, price_fen=new.price_fen, commission=new.commission, enabled=new.enabled,
                                  per_user_limit=new.per_user_limit))
    merged.extend(by_options.values())
    return tuple(merged)


def sku_problems(specs: Sequence[Spec], skus: Sequence[Sku]) -> list[FieldProblem]:
    """Specs and SKUs agree: distinct names and values, each SKU one value of every spec, no
    combination twice, at least one SKU enabled."""
    problems: list[FieldProblem] = []
    if not specs:
        if skus:
            problems.append(FieldProblem("skus", "a product without specs has no SKU list (use price_fen and stock)"))
        return problems
    if len({s.name for s in specs}) != len(specs):
        problems.append(FieldProblem("specs", "spec names must be distinct"))
    for index, spec in enumerate(specs):
        if len(set(spec.values)) != len(spec.values):
            problems.append(FieldProblem(f"specs.{index}.values", "values must be distinct"))
    seen: set[tuple[str, ...]] = set()
    for index, sku in enumerate(skus):
        if len(sku.options) != len(specs) or any(v not in spec.values for v, spec in zip(sku.options, specs,
                                                                                         strict=False)):
            problems.append(FieldProblem(f"skus.{index}.options", "must name one value of each spec, in order"))
        if sku.options in seen:
            problems.append(FieldProblem(f"skus.{index}.options", "this combination is listed twice"))
        seen.add(sku.options)
        if sku.commission is not None and sku.commission.mode == "inherit" and (sku.commission.l1
                                                                                or sku.commission.l2):
            problems.append(FieldProblem(f"skus.{index}.commission", "l1 and l2 must be 0 when mode is 'inherit'"))
        if sku.per_user_limit is not None and sku.per_user_limit < 1:
            problems.append(FieldProblem(f"skus.{index}.per_user_limit", "must be at least 1, or null for the "
                                                                          "product's limit"))
    if not any(s.enabled for s in skus):
        problems.append(FieldProblem("skus", "at least one SKU must be enabled"))
    if len(skus) > MAX_SKUS:
        problems.append(FieldProblem("skus", f"at most {MAX_SKUS} SKUs"))
    return problems


@dataclass(frozen=True, slots=True)
class ChosenSku:
    """The SKU an order line buys of a product with specs: the product as that SKU sells it (its
    price, stock and commission), and where the SKU sits in the product (its stock is written there).
    ``per_user_limit``: the SKU's own limit (None: only the product's applies)."""

    sku_id: str
    index: int
    label: str
    sells_as: Product
    per_user_limit: int | None = None


def choose_skus(requested: Sequence[LineRequest], products: Mapping[str, Product]) -> dict[int, ChosenSku]:
    """The SKU each order line buys of a product with specs, by line index. A line of a product
    with specs must name an enabled SKU of it (422 ``lines.N.sku_id``; a disabled one is 409
    ``sku_unavailable``); a line of a product without specs names none (or ``default``)."""
    chosen: dict[int, ChosenSku] = {}
    problems: list[FieldProblem] = []
    for index, line in enumerate(requested):
        product = products.get(line.product_id)
        if product is None:
            continue  # pricing names the unknown product
        if not product.has_specs:
            if line.sku_id not in (None, DEFAULT_SKU_ID):
                problems.append(FieldProblem(f"lines.{index}.sku_id", "this product has no specs; omit sku_id"))
            continue
        at = product.sku_index(line.sku_id) if line.sku_id is not None else None
        if at is None:
            problems.append(FieldProblem(f"lines.{index}.sku_id", "required: one of this product's sku_id"
                                         if line.sku_id is None else "no such SKU of this product"))
            continue
        sku = product.skus[at]
        if not sku.enabled:
            raise Conflict(f"{product.name} {sku.label} is no longer sold", code="sku_unavailable",
                           details={"product_id": product.product_id, "sku_id": sku.sku_id})
        chosen[index] = ChosenSku(sku_id=sku.sku_id, index=at, label=sku.label, sells_as=product.for_sku(sku),
                                  per_user_limit=sku.per_user_limit)
    if problems:
        raise InvalidInput("some order lines are invalid", code="invalid_order_lines", fields=problems)
    return chosen
