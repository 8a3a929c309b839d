"""In-memory fakes of the other repositories the catalog's use cases read: promoters (for what a
promoter would earn and the cap's overrides), the distribution settings in force, and product
image uploads (a product may use only verified ones)."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import replace
from datetime import datetime
from typing import Any

from mall.clock import iso
from mall.dal.media import PENDING, VERIFIED
from mall.dal.settings import DEFAULT_VERSION, SettingsVersion
from mall.domain.referral import Promoter
from mall.domain.settings import DistributionSettings


class FakePromoterRepository:
    def __init__(self, *promoters: Promoter) -> None:
        self.promoters = {p.user_id: p for p in promoters}

    def add(self, promoter: Promoter) -> None:
        self.promoters[promoter.user_id] = promoter

    def get(self, user_id: str, *, consistent: bool = False) -> Promoter | None:
        return self.promoters.get(user_id)

    def with_overrides(self) -> list[Promoter]:
        return [p for p in self.promoters.values() if p.l1_override_bp is not None or p.l2_override_bp is not None]


class FakeSettingsRepository:
    """The version in force: the built-in defaults until a test saves other settings."""

    def __init__(self, settings: DistributionSettings | None = None) -> None:
        self.version = DEFAULT_VERSION if settings is None else replace(DEFAULT_VERSION, version=1, settings=settings)

    def current(self, *, consistent: bool = False) -> SettingsVersion:
        return self.version


class FakeMediaUploadRepository:
    def __init__(self) -> None:
        self.uploads: dict[str, dict[str, Any]] = {}

    def create(self, *, upload_id: str, key: str, content_type: str, by: str, now: datetime) -> None:
        if upload_id in self.uploads:
            raise RuntimeError(f"upload {upload_id} exists")
        self.uploads[upload_id] = {"upload_id": upload_id, "key": key, "content_type": content_type,
                                   "status": PENDING, "created_by": by, "created_at": iso(now)}

    def get(self, upload_id: str) -> dict[str, Any] | None:
        found = self.uploads.get(upload_id)
        return dict(found) if found else None

    def settle(self, upload_id: str, *, status: str, now: datetime, facts: dict[str, Any]) -> bool:
        upload = self.uploads.get(upload_id)
        if upload is None or upload["status"] != PENDING:
            return False
        upload.update(status=status, checked_at=iso(now), facts=facts)
        return True

    def verified(self, upload_ids: Iterable[str]) -> set[str]:
        return {u for u in upload_ids if self.uploads.get(u, {}).get("status") == VERIFIED}

    def add(self, upload_id: str, key: str, *, status: str = VERIFIED, content_type: str = "image/jpeg") -> str:
        """An upload as POST /admin/media/uploads/{id}/verify leaves it; returns its key."""
        self.uploads[upload_id] = {"upload_id": upload_id, "key": key, "content_type": content_type,
                                   "status": status}
        return key
