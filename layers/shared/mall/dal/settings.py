"""The versioned distribution settings document (keys: docs/data-model.md, "settings").

``SETTINGS#distribution / CURRENT`` holds a full copy of the version in force, so every reader
(place order, commission, rules disclosure) pays one ``GetItem``. Each saved version is also an
immutable item ``SETTINGS#distribution / V#<10-digit version>`` with who saved it and when.
Saving is one transaction: put the new version (only if absent) and move ``CURRENT`` from the
version the admin edited (only if still current), so two admins saving at once cannot both win.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from functools import cache
from typing import TYPE_CHECKING, Any

from mall.clock import iso, parse_instant
from mall.dal.audit import AuditEntry, AuditLog
from mall.dal.keys import SETTINGS_CURRENT_KEY, SETTINGS_PK, settings_version_key
from mall.dal.table import Item, Key, Table, TransactionCancelled, Write
from mall.errors import Conflict

if TYPE_CHECKING:
    from mall.domain.settings import DistributionSettings

    #: The built-in defaults (version 0), built on first use: see ``__getattr__``.
    DEFAULT_VERSION: SettingsVersion


@dataclass(frozen=True)
class SettingsVersion:
    """One saved version. Version 0 is the built-in defaults (never stored)."""

    version: int
    settings: DistributionSettings
    saved_by: str | None
    saved_at: datetime | None
    note: str | None = None


def _from_item(item: Item) -> SettingsVersion:
    # Imported on first read: the document's validators are a large share of a cold start, and many
    # functions hold this repository (through the referral reads) for routes that never read settings.
    from mall.domain.notifications import STORED_DOCUMENT
    from mall.domain.settings import DistributionSettings

    return SettingsVersion(
        version=int(item["version"]),
        settings=DistributionSettings.model_validate(item["document"], context=STORED_DOCUMENT),
        saved_by=item.get("saved_by"),
        saved_at=parse_instant(item["saved_at"]) if item.get("saved_at") else None,
        note=item.get("note"),
    )


#: Saved versions read by this container, by (table, version): at most ``SAVED_VERSIONS_KEPT``.
SAVED_VERSIONS_KEPT = 32
_SAVED_VERSIONS: dict[tuple[str, int], SettingsVersion] = {}


@cache
def default_version() -> SettingsVersion:
    """The built-in defaults (checked in full by the tests), built like a stored document (the text
    checks would load the traditional→simplified dictionary) and on first use, not at import."""
    from mall.domain.notifications import STORED_DOCUMENT
    from mall.domain.settings import DistributionSettings

    return SettingsVersion(version=0, settings=DistributionSettings.model_validate({}, context=STORED_DOCUMENT),
                           saved_by=None, saved_at=None)


def __getattr__(name: str) -> object:
    # ``DEFAULT_VERSION`` stays importable from here, built when first asked for.
    if name == "DEFAULT_VERSION":
        return default_version()
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def current_from_item(item: Item | None) -> SettingsVersion:
    """The version in force from the ``SETTINGS_CURRENT_KEY`` item (None: the built-in defaults)."""
    return _from_item(item) if item else default_version()


class SettingsRepository:
    def __init__(self, table: Table) -> None:
        self._table = table

    @property
    def current_key(self) -> Key:
        """The key of the version in force, for a use case that reads it in its own batch
        (``current_from_item`` reads the item)."""
        return SETTINGS_CURRENT_KEY

    def current(self, *, consistent: bool = False) -> SettingsVersion:
        """The version in force; the built-in defaults (version 0) until an admin saves one."""
        item = self._table.get(SETTINGS_CURRENT_KEY, consistent=consistent)
        return _from_item(item) if item else default_version()

    def get(self, version: int) -> SettingsVersion | None:
        """A saved version. Versions are immutable (put once, never updated or deleted), so one found is
        kept for the container's life: the commission sync reads the version an order was priced with
        on every change of the order. A version not found is not kept (it may be too new for this read)."""
        if version == 0:
            return default_version()
        cache_key = (str(self._table.name), version)
        if (kept := _SAVED_VERSIONS.get(cache_key)) is not None:
            return kept
        item = self._table.get(settings_version_key(version))
        if not item:
            return None
        found = _from_item(item)
        if len(_SAVED_VERSIONS) >= SAVED_VERSIONS_KEPT:
            _SAVED_VERSIONS.pop(next(iter(_SAVED_VERSIONS)))  # the oldest kept
        _SAVED_VERSIONS[cache_key] = found
        return found

    def in_force_since(self, moment: datetime, *,
                       current: SettingsVersion | None = None) -> tuple[list[SettingsVersion], bool]:
        """The version in force (``current`` as already read, else read now) and each version it replaced
        that was still in force at ``moment`` or later, newest first; and whether all of them were read
        (False: one was saved a moment ago and not seen yet). Saved versions are read once a container."""
        version = current if current is not None else self.current()
        found = [version]
        while version.version > 0 and version.saved_at is not None and version.saved_at >= moment:
            replaced = self.get(version.version - 1)
            if replaced is None:
                return found, False
            found.append(replaced)
            version = replaced
        return found, True

    def history(self, *, limit: int, start_key: dict[str, Any] | None = None) -> tuple[list[SettingsVersion], Any]:
        """Saved versions, newest first (paginated by DynamoDB's last key)."""
        page = self._table.query(partition=("pk", SETTINGS_PK), sort_prefix=("sk", "V#"), limit=limit,
                                 start_key=start_key, newest_first=True)
        return [_from_item(i) for i in page.items], page.last_key

    def save(self, settings: DistributionSettings, *, based_on: int, saved_by: str, now: datetime,
             note: str | None = None, audit: AuditEntry | None = None) -> SettingsVersion:
        """Store ``settings`` as version ``based_on + 1`` and make it current (with ``audit``, its
        audit entry, in the same transaction).

        Raises ``Conflict`` when another save moved the document past ``based_on`` first."""
        version = based_on + 1
        body: dict[str, Any] = {"entity": "settings_version", "version": version,
                                "document": settings.model_dump(mode="json"), "saved_by": saved_by,
                                "saved_at": iso(now), "note": note}
        current_condition = ("attribute_not_exists(pk)" if based_on == 0 else "version = :based_on")
        values = None if based_on == 0 else {":based_on": based_on}
        try:
            self._table.transact([
                Write.put(self._table.name, {**settings_version_key(version), **body},
                          condition="attribute_not_exists(pk)"),
                Write.put(self._table.name, {**SETTINGS_CURRENT_KEY, **body},
                          condition=current_condition, values=values),
                *([AuditLog(self._table).write(audit, now)] if audit is not None else []),
            ])
        except TransactionCancelled as exc:
            current = self.current(consistent=True)
            raise Conflict(
                f"the settings changed since version {based_on}; reload version {current.version} and retry",
                code="settings_version_conflict", details={"current_version": current.version},
            ) from exc
        return SettingsVersion(version=version, settings=settings, saved_by=saved_by, saved_at=now, note=note)
