"""The in-memory settings repository (tests/fakes/settings.py) behaves like the DynamoDB one for what
the services use: the same assertions run on both, the real one on DynamoDB Local."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta

import pytest

from mall.dal.audit import AuditEntry
from mall.dal.settings import SettingsRepository
from mall.dal.table import Table
from mall.domain.settings import DistributionSettings
from mall.errors import Conflict
from tests.fakes.settings import InMemorySettingsRepository

NOW = datetime(2026, 11, 22, 8, tzinfo=UTC)


@pytest.fixture(params=["in_memory", "dynamodb"])
def repository(request: pytest.FixtureRequest) -> SettingsRepository:
    if request.param == "in_memory":
        return InMemorySettingsRepository()
    table: Table = request.getfixturevalue("table")
    return SettingsRepository(table)


def titled(title: str) -> DistributionSettings:
    return DistributionSettings.model_validate({"promoter_title": title})


def audit(version: int) -> AuditEntry:
    return AuditEntry(action="settings.save", actor="admin:alice", entity_type="settings", entity_id="distribution",
                      details={"version": version})


def test_the_defaults_are_version_0_until_a_save(repository: SettingsRepository) -> None:
    current = repository.current(consistent=True)
    assert current.version == 0 and current.saved_by is None and current.saved_at is None
    assert repository.get(0) == current and repository.get(1) is None
    assert repository.history(limit=10) == ([], None)


def test_a_save_becomes_current_and_stays_readable(repository: SettingsRepository) -> None:
    first = repository.save(titled("推客"), based_on=0, saved_by="admin:alice", now=NOW, note="n", audit=audit(1))
    second = repository.save(titled("合伙人"), based_on=1, saved_by="admin:bob", now=NOW + timedelta(minutes=1))
    assert (first.version, second.version) == (1, 2)
    current = repository.current(consistent=True)
    assert (current.version, current.saved_by, current.saved_at, current.settings.promoter_title) == (
        2, "admin:bob", NOW + timedelta(minutes=1), "合伙人")
    one = repository.get(1)
    assert one is not None and (one.saved_by, one.note, one.settings.promoter_title) == ("admin:alice", "n", "推客")


def test_a_save_from_a_version_not_in_force_is_a_conflict_naming_the_current_one(
        repository: SettingsRepository) -> None:
    repository.save(titled("推客"), based_on=0, saved_by="admin:alice", now=NOW)
    attempts: list[Callable[[], object]] = [
        lambda: repository.save(titled("x"), based_on=0, saved_by="admin:bob", now=NOW),
        lambda: repository.save(titled("x"), based_on=5, saved_by="admin:bob", now=NOW),
    ]
    for attempt in attempts:
        with pytest.raises(Conflict) as conflict:
            attempt()
        assert conflict.value.code == "settings_version_conflict"
        assert conflict.value.details == {"current_version": 1}
    assert repository.current(consistent=True).settings.promoter_title == "推客"
    assert repository.get(2) is None and repository.get(6) is None


def test_history_is_newest_first_in_pages(repository: SettingsRepository) -> None:
    for based_on in range(3):
        repository.save(titled(f"t{based_on}"), based_on=based_on, saved_by="admin:alice", now=NOW)
    page, position = repository.history(limit=2)
    assert [v.version for v in page] == [3, 2] and position is not None
    rest, after = repository.history(limit=2, start_key=position)
    assert [v.version for v in rest] == [1]
    assert after is None
