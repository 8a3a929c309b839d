"""An in-memory ``SettingsRepository``: the same public methods and behaviour as the DynamoDB one for
what the services use (the version in force, saved versions newest first with a resumable position,
one version by number, and a save that only wins from the version in force), so a service test
whose point is its logic runs without moto or DynamoDB Local. The contract test
(tests/integration/test_settings_repository_contract.py) runs the same assertions on both."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from mall.dal.audit import AuditEntry
from mall.dal.keys import SETTINGS_HISTORY_PARTITION
from mall.dal.settings import DEFAULT_VERSION, SettingsRepository, SettingsVersion
from mall.domain.settings import DistributionSettings
from mall.errors import Conflict


def _position(version: int) -> dict[str, Any]:
    # Shaped like the real last key: the cursor codec checks it belongs to the history's partition.
    attribute, partition = SETTINGS_HISTORY_PARTITION
    return {attribute: partition, "sk": f"V#{version:010d}"}


@dataclass
class InMemorySettingsRepository(SettingsRepository):
    """Saved versions by number; ``audits`` holds the entries saved with them (in save order)."""

    versions: dict[int, SettingsVersion] = field(default_factory=dict)
    audits: list[AuditEntry] = field(default_factory=list)

    def current(self, *, consistent: bool = False) -> SettingsVersion:
        return self.versions[max(self.versions)] if self.versions else DEFAULT_VERSION

    def get(self, version: int) -> SettingsVersion | None:
        if version == 0:
            return DEFAULT_VERSION
        return self.versions.get(version)

    def history(self, *, limit: int, start_key: dict[str, Any] | None = None) -> tuple[list[SettingsVersion], Any]:
        newest_first = sorted(self.versions, reverse=True)
        if start_key is not None:
            after = int(str(start_key["sk"]).removeprefix("V#"))
            newest_first = [v for v in newest_first if v < after]
        page = newest_first[:limit]
        # Like a DynamoDB Query with a Limit: a full page has a next position (it may be empty).
        return [self.versions[v] for v in page], _position(page[-1]) if page and len(page) == limit else None

    def save(self, settings: DistributionSettings, *, based_on: int, saved_by: str, now: datetime,
             note: str | None = None, audit: AuditEntry | None = None) -> SettingsVersion:
        current = self.current()
        if current.version != based_on:
            raise Conflict(
                f"the settings changed since version {based_on}; reload version {current.version} and retry",
                code="settings_version_conflict", details={"current_version": current.version},
            )
        saved = SettingsVersion(version=based_on + 1, settings=settings, saved_by=saved_by, saved_at=now, note=note)
        self.versions[saved.version] = saved
        if audit is not None:
            self.audits.append(audit)
        return saved
