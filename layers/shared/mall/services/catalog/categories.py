"""The merchant's categories (商品分类), each with optional L1/L2 commission rates of its own."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from mall.clock import iso, utc_now
from mall.domain.catalog import Category
from mall.errors import NotFound
from mall.ids import new_id
from mall.schemas.catalog_categories import CategoryCreate, CategoryList, CategoryUpdate, CategoryView
from mall.services.catalog.common import CatalogRepositories, audit_entry, check_category_cap


def _category_fields(category: Category) -> dict[str, Any]:
    return {"name": category.name, "sort": category.sort, "l1_rate_bp": category.l1_rate_bp,
            "l2_rate_bp": category.l2_rate_bp}


def category_view(category: Category) -> CategoryView:
    return CategoryView(category_id=category.category_id, name=category.name, sort=category.sort,
                        l1_rate_bp=category.l1_rate_bp, l2_rate_bp=category.l2_rate_bp,
                        product_count=category.product_count, version=category.version,
                        created_at=iso(category.created_at) if category.created_at else None,
                        updated_at=iso(category.updated_at) if category.updated_at else None)


def create_category(*, repos: CatalogRepositories, body: CategoryCreate, now: datetime,
                    category_id: str | None = None, by: str = "system", source_ip: str | None = None) -> CategoryView:
    category = Category(category_id=category_id or new_id("c"), name=body.name, l1_rate_bp=body.l1_rate_bp,
                        l2_rate_bp=body.l2_rate_bp, sort=body.sort, created_at=now, updated_at=now)
    check_category_cap(repos, category, now=now,
                       rates_changed=category.l1_rate_bp is not None or category.l2_rate_bp is not None)
    audit = audit_entry("category.create", "category", category.category_id, by=by, source_ip=source_ip,
                        before=None, after=_category_fields(category))
    return category_view(repos.categories.create(category, audit=audit))


def get_category(*, repos: CatalogRepositories, category_id: str) -> CategoryView:
    category = repos.categories.get(category_id, consistent=True)
    if category is None:
        raise NotFound(f"no category {category_id}", code="category_not_found")
    return category_view(category)


def list_categories(*, repos: CatalogRepositories) -> CategoryList:
    return CategoryList(items=[category_view(c) for c in repos.categories.list_all()])


def update_category(*, repos: CatalogRepositories, category_id: str, body: CategoryUpdate, now: datetime,
                    by: str = "system", source_ip: str | None = None) -> CategoryView:
    current = repos.categories.get(category_id, consistent=True)
    if current is None:
        raise NotFound(f"no category {category_id}", code="category_not_found")
    sent = body.model_fields_set
    changed = Category(
        category_id=category_id,
        name=body.name if body.name is not None else current.name,
        sort=body.sort if body.sort is not None else current.sort,
        l1_rate_bp=body.l1_rate_bp if "l1_rate_bp" in sent else current.l1_rate_bp,
        l2_rate_bp=body.l2_rate_bp if "l2_rate_bp" in sent else current.l2_rate_bp,
    )
    check_category_cap(repos, changed, now=now, rates_changed=(changed.l1_rate_bp, changed.l2_rate_bp)
                       != (current.l1_rate_bp, current.l2_rate_bp))
    audit = audit_entry("category.update", "category", category_id, by=by, source_ip=source_ip,
                        before=_category_fields(current), after=_category_fields(changed),
                        details={"version": body.version + 1})
    return category_view(repos.categories.update(changed, expected_version=body.version, now=now, audit=audit))


def delete_category(*, repos: CatalogRepositories, category_id: str, version: int, by: str = "system",
                    source_ip: str | None = None, now: datetime | None = None) -> None:
    current = repos.categories.get(category_id, consistent=True)
    audit = audit_entry("category.delete", "category", category_id, by=by, source_ip=source_ip,
                        before=_category_fields(current) if current else None, after=None,
                        details={"version": version})
    repos.categories.delete(category_id, expected_version=version, audit=audit, now=now or utc_now())
