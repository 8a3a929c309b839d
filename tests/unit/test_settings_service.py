"""The settings use cases on the in-memory settings repository (no moto): versions, who and when,
history, the 409 of a save based on an old version."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest

from mall.domain.tokens import Role
from mall.errors import Conflict, NotFound
from mall.schemas.settings import SaveSettingsRequest
from mall.services import settings as service
from tests.fakes.settings import InMemorySettingsRepository

NOW = datetime(2026, 11, 22, 8, tzinfo=UTC)


class NoOwnRates:
    """The catalog and promoters when no category, product or promoter has a rate of its own."""

    def list_all(self) -> list[Any]:
        return []

    def with_own_commission(self) -> list[Any]:
        return []

    def with_overrides(self) -> list[Any]:
        return []


def save(versions: InMemorySettingsRepository, body: dict[str, Any], by: str = "admin:alice") -> Any:
    rates: Any = NoOwnRates()
    return service.save(versions=versions, categories=rates, products=rates, promoters=rates,
                        body=SaveSettingsRequest.model_validate(body), saved_by=by, now=NOW, roles={Role.OWNER})


def test_defaults_then_a_saved_version_with_who_and_when() -> None:
    versions = InMemorySettingsRepository()
    current = service.current(versions=versions)
    assert current.version == 0 and current.saved_by is None
    document = {**current.settings.model_dump(mode="json"), "promoter_review": "auto", "promoter_title": "推客"}
    saved = save(versions, {**document, "based_on_version": 0, "note": "auto review"})
    assert saved.version == 1 and saved.saved_by == "admin:alice" and saved.saved_at.endswith("Z")
    assert saved.settings.promoter_title == "推客" and saved.note == "auto review"
    again = save(versions, {**document, "promoter_title": "合伙人", "based_on_version": 1})
    assert again.version == 2
    history = service.history(versions=versions, limit=20, cursor=None)
    assert [v.version for v in history.items] == [2, 1]
    assert service.get_version(versions=versions, version=1).settings.promoter_title == "推客"
    with pytest.raises(NotFound) as missing:
        service.get_version(versions=versions, version=9)
    assert missing.value.code == "settings_version_not_found"
    assert [(a.action, a.details["version"]) for a in versions.audits] == [("settings.save", 1), ("settings.save", 2)]


def test_a_save_based_on_an_old_version_is_a_409_with_the_current_version() -> None:
    versions = InMemorySettingsRepository()
    assert save(versions, {"based_on_version": 0}).version == 1
    with pytest.raises(Conflict) as conflict:
        save(versions, {"based_on_version": 0, "promoter_title": "推客"})
    assert conflict.value.code == "settings_version_conflict" and conflict.value.details == {"current_version": 1}
    assert service.current(versions=versions).version == 1 and len(versions.audits) == 1  # the loser wrote nothing


def test_history_pages_go_on_from_the_cursor() -> None:
    versions = InMemorySettingsRepository()
    for based_on in range(3):
        save(versions, {"based_on_version": based_on})
    first = service.history(versions=versions, limit=2, cursor=None)
    assert [v.version for v in first.items] == [3, 2] and first.next_cursor
    rest = service.history(versions=versions, limit=2, cursor=first.next_cursor)
    assert [v.version for v in rest.items] == [1]
