"""规格 and SKUs of a product: built from the admin's request, checked against the commission cap
one SKU at a time, and shown to the merchant and to customers."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace
from typing import TYPE_CHECKING

from mall.domain.catalog import CommissionSetting, Product, Sku, Spec, with_sku_totals
from mall.domain.commission_cap import Saving, cap_problems
from mall.domain.skus import merge_skus, sku_problems
from mall.errors import FieldProblem
from mall.ids import new_id
from mall.schemas.catalog_public import PublicSkuView, SpecView
from mall.services.catalog.common import CatalogRepositories, refuse

if TYPE_CHECKING:
    # The merchant console's models: the product pages show SKUs (public_sku_views, spec_views) without them.
    from mall.schemas.catalog import CommissionSettingIn, SkuIn, SkuView, SpecIn


def _own(setting: CommissionSettingIn | None) -> CommissionSetting | None:
    # ``inherit`` on a SKU means what null means: the product's own setting.
    if setting is None or setting.mode == "inherit":
        return None
    return CommissionSetting(mode=setting.mode, l1=setting.l1, l2=setting.l2)


def with_skus(product: Product, specs_in: Sequence[SpecIn], skus_in: Sequence[SkuIn]) -> Product:
    """``product`` with the specs and SKUs requested, merged into the ones it has (an existing
    combination keeps its id, position and stock), its price and stock made from the SKUs.
    Refuses (422) specs and SKUs that do not agree."""
    if product.has_specs and not specs_in:
        refuse([FieldProblem("specs", "a product's specs cannot be removed; disable its SKUs instead")],
               "the product has invalid fields", "invalid_product")
    specs = tuple(Spec(s.name, tuple(s.values)) for s in specs_in)
    wanted = [Sku(sku_id=new_id("k"), options=tuple(s.options), price_fen=s.price_fen, stock=s.stock,
                  commission=_own(s.commission), enabled=s.enabled, per_user_limit=s.per_user_limit)
              for s in skus_in]
    refuse(sku_problems(specs, wanted), "the product's specs and SKUs do not agree", "invalid_product")
    if not specs:
        return product
    skus = merge_skus(product, specs, wanted)
    return with_sku_totals(replace(product, specs=specs, skus=skus))


def sku_cap_problems(repos: CatalogRepositories, product: Product) -> list[FieldProblem]:
    """The cap checked at each enabled SKU's price with the commission it pays (its own, named
    ``skus.N.commission``, or the product's, named ``commission``)."""
    if not product.has_specs or not product.distribution_enabled:
        return []
    priced = [(index, sku) for index, sku in enumerate(product.skus) if sku.enabled]
    if not any(sku.commission is not None or product.commission.mode != "inherit" for _, sku in priced):
        return []
    settings, promoters = repos.distribution_settings(), repos.promoters.with_overrides()
    problems: dict[str, FieldProblem] = {}
    for index, sku in priced:
        for problem in cap_problems(settings=settings, products=[product.for_sku(sku)], promoters=promoters,
                                    saving=Saving("product", product.product_id)):
            name = problem.field
            if sku.commission is not None and name.startswith("commission."):
                name = f"skus.{index}.{name}"
            problems.setdefault(name, FieldProblem(name, problem.reason))
    return list(problems.values())


def spec_views(product: Product) -> list[SpecView]:
    return [SpecView(name=s.name, values=list(s.values)) for s in product.specs]


def admin_sku_views(product: Product) -> list[SkuView]:
    from mall.schemas.catalog import CommissionSettingView, SkuView

    return [SkuView(sku_id=s.sku_id, options=list(s.options), label=s.label, price_fen=s.price_fen,
                    stock=s.stock, sales=s.sales, enabled=s.enabled, per_user_limit=s.per_user_limit,
                    commission=None if s.commission is None else CommissionSettingView(
                        mode=s.commission.mode, l1=s.commission.l1, l2=s.commission.l2))
            for s in product.skus] if product.has_specs else []


def public_sku_views(product: Product, earn: dict[str, int | None]) -> list[PublicSkuView]:
    if not product.has_specs:
        return []
    return [PublicSkuView(sku_id=s.sku_id, options=list(s.options), label=s.label, price_fen=s.price_fen,
                          stock=max(s.stock, 0), available=product.on_shelf and s.stock > 0,
                          per_user_limit=s.per_user_limit,
                          promoter_earn_fen=earn.get(s.sku_id)) for s in product.sellable_skus()]
