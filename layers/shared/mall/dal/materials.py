"""Materials (素材): ``MATERIAL#<id>`` / ``MATERIAL``, listed on gsi1 ``MATERIALS`` /
``<scope><kind>#<id>`` (``mall.dal.keys.materials``). Every change is conditional on the version
the admin read and writes its audit entry in the same transaction."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from mall.clock import iso
from mall.dal.audit import AuditEntry, AuditLog
from mall.dal.catalog.common import instant_or_none
from mall.dal.catalog.product_items import product_from_item
from mall.dal.keys import MATERIALS_PARTITION, material_key, material_scope, material_sort_key, product_key
from mall.dal.table import Item, Key, Page, Table, TransactionCancelled, Write
from mall.domain.catalog import Product
from mall.domain.materials import Material, TemplateLayout
from mall.domain.posters import Box
from mall.errors import Conflict, NotFound

#: Materials offered per scope (a product's, or the general ones): a promoter's list reads at most this many of each.
MAX_PER_SCOPE = 100
#: The admin list's index partition (a cursor is checked to belong to it).
MATERIALS_LIST = ("gsi1pk", MATERIALS_PARTITION)


def _box(raw: Any) -> Box | None:
    if not raw:
        return None
    return Box(int(raw["x"]), int(raw["y"]), int(raw["width"]), int(raw["height"]))


def _box_item(box: Box) -> dict[str, int]:
    return {"x": box.x, "y": box.y, "width": box.width, "height": box.height}


def layout_from_item(raw: Any) -> TemplateLayout | None:
    if not raw:
        return None
    qr, title, price = _box(raw["qr"]), _box(raw["title"]), _box(raw["price"])
    if qr is None or title is None or price is None:  # pragma: no cover - written whole by layout_item
        return None
    return TemplateLayout(qr=qr, title=title, price=price, nickname=_box(raw.get("nickname")),
                          text_color=str(raw.get("text_color", "#222222")))


def layout_item(layout: TemplateLayout) -> dict[str, Any]:
    item: dict[str, Any] = {"qr": _box_item(layout.qr), "title": _box_item(layout.title),
                            "price": _box_item(layout.price), "text_color": layout.text_color}
    if layout.nickname is not None:
        item["nickname"] = _box_item(layout.nickname)
    return item


def material_from_item(item: Item) -> Material:
    return Material(material_id=item["material_id"], kind=item["kind"], title=item["title"],
                    product_id=item.get("product_id"), text=item.get("text"), image_key=item.get("image_key"),
                    background_id=item.get("background_id"), layout=layout_from_item(item.get("layout")),
                    enabled=bool(item.get("enabled", True)), version=int(item.get("version", 1)),
                    created_at=instant_or_none(item.get("created_at")),
                    updated_at=instant_or_none(item.get("updated_at")), created_by=item.get("created_by"))


def material_state(material: Material) -> dict[str, Any]:
    """The editable fields as JSON-safe values (audit before/after, a 409's ``details.current``)."""
    return {"material_id": material.material_id, "kind": material.kind, "title": material.title,
            "product_id": material.product_id, "text": material.text, "image_key": material.image_key,
            "background_id": material.background_id,
            "layout": layout_item(material.layout) if material.layout else None, "enabled": material.enabled,
            "version": material.version}


def _item(material: Material, *, version: int, now: datetime) -> Item:
    item: Item = {**material_key(material.material_id), "entity": "material", "gsi1pk": MATERIALS_PARTITION,
                  "gsi1sk": material_sort_key(material.product_id, material.kind, material.material_id),
                  "material_id": material.material_id, "kind": material.kind, "title": material.title,
                  "enabled": material.enabled, "version": version,
                  "created_at": iso(material.created_at or now), "updated_at": iso(now)}
    optional: dict[str, Any] = {"product_id": material.product_id, "text": material.text,
                                "image_key": material.image_key, "background_id": material.background_id,
                                "layout": layout_item(material.layout) if material.layout else None,
                                "created_by": material.created_by}
    item.update({k: v for k, v in optional.items() if v is not None})
    return item


class MaterialRepository:
    def __init__(self, table: Table) -> None:
        self._table = table

    def get(self, material_id: str, *, consistent: bool = True) -> Material | None:
        item = self._table.get(material_key(material_id), consistent=consistent)
        return material_from_item(item) if item else None

    def create(self, material: Material, *, audit: AuditEntry, now: datetime) -> Material:
        """Put a new material with its audit entry (one transaction)."""
        item = _item(material, version=1, now=now)
        try:
            self._table.transact([Write.put(self._table.name, item, condition="attribute_not_exists(pk)"),
                                  AuditLog(self._table).write(audit, now)])
        except TransactionCancelled as exc:
            raise Conflict(f"material {material.material_id} already exists", code="material_exists") from exc
        return material_from_item(item)

    def update(self, material: Material, *, expected_version: int, audit: AuditEntry, now: datetime) -> Material:
        """Replace the material if nobody changed it since ``expected_version`` (409 with the current
        state otherwise), with its audit entry, in one transaction."""
        item = _item(material, version=expected_version + 1, now=now)
        try:
            self._table.transact([
                Write.put(self._table.name, item, condition="attribute_exists(pk) AND version = :expected",
                          values={":expected": expected_version}),
                AuditLog(self._table).write(audit, now)])
        except TransactionCancelled as exc:
            current = exc.items[0] if exc.items else None
            if current is None:
                raise NotFound(f"no material {material.material_id}", code="material_not_found") from exc
            raise Conflict("the material was changed since you read it", code="version_conflict",
                           details={"current": material_state(material_from_item(current))}) from exc
        return material_from_item(item)

    def page(self, *, product_id: str | None, general: bool, kind: str | None, limit: int,
             start_key: Key | None) -> Page:
        """One page of the admin's list: every material, a product's, or the general ones (optionally one kind)."""
        prefix: str | None = None
        if product_id is not None or general:
            prefix = material_scope(None if general else product_id)
            if kind is not None:
                prefix += f"{kind}#"
        return self._table.query(partition=("gsi1pk", MATERIALS_PARTITION),
                                 sort_prefix=("gsi1sk", prefix) if prefix else None, index="gsi1", limit=limit,
                                 start_key=start_key)

    def offered(self, product_id: str | None) -> list[Material]:
        """The enabled materials a promoter may use with ``product_id``: its own, then the general ones
        (two queries; without a product, the general ones only)."""
        scopes = [material_scope(product_id)] if product_id is not None else []
        scopes.append(material_scope(None))
        found: list[Material] = []
        for prefix in scopes:
            page = self._table.query(partition=("gsi1pk", MATERIALS_PARTITION), sort_prefix=("gsi1sk", prefix),
                                     index="gsi1", limit=MAX_PER_SCOPE)
            found.extend(m for m in map(material_from_item, page.items) if m.enabled)
        return found

    def template_and_product(self, template_id: str, product_id: str) -> tuple[Material | None, Product | None]:
        """A template and a product in one round trip (a promoter's poster on a template)."""
        items = self._table.batch_get([material_key(template_id), product_key(product_id)], consistent=False)
        template = next((material_from_item(i) for i in items if i.get("entity") == "material"), None)
        product = next((product_from_item(i) for i in items if i.get("pk") == product_key(product_id)["pk"]), None)
        return template, product
