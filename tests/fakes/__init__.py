"""In-memory fakes of repositories, for service tests whose point is logic (validation, rules,
listing): no moto, no DynamoDB Local. Each fake has the public methods and the refusals of the
DynamoDB repository it stands for, for what the services use; a contract test runs the same
assertions on both (tests/integration/test_catalog_fakes_contract.py). See docs/architecture.md,
"Testing with fakes"."""

from __future__ import annotations

from typing import Any

from mall.services.catalog.common import CatalogRepositories
from tests.fakes.catalog import CatalogMemory, FakeCategoryRepository, FakeProductPageReads, FakeProductRepository
from tests.fakes.collaborators import FakeMediaUploadRepository, FakePromoterRepository, FakeSettingsRepository


def fake_catalog(memory: CatalogMemory | None = None, **overrides: Any) -> CatalogRepositories:
    """The catalog's repositories, all in memory (sharing ``memory``); pass any to replace it."""
    memory = memory or CatalogMemory()
    parts: dict[str, Any] = {"categories": FakeCategoryRepository(memory), "products": FakeProductRepository(memory),
                             "promoters": FakePromoterRepository(), "settings": FakeSettingsRepository(),
                             "uploads": FakeMediaUploadRepository(), **overrides}
    parts.setdefault("pages", FakeProductPageReads(parts["products"], parts["categories"], parts["promoters"],
                                                   parts["settings"]))
    built_on_first_use = {name: parts.pop(name) for name in ("promoters", "pages", "campaigns", "rates")
                          if name in parts}
    return CatalogRepositories(**parts, **{f"{name}_of": _returning(repository)
                                           for name, repository in built_on_first_use.items()})


def _returning(repository: Any) -> Any:
    return lambda: repository


__all__ = ["CatalogMemory", "FakeCategoryRepository", "FakeMediaUploadRepository", "FakeProductRepository",
           "FakePromoterRepository", "FakeSettingsRepository", "fake_catalog"]
