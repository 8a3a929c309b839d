"""Product image uploads (``MEDIA_UPLOAD#<upload id>`` / ``UPLOAD``; docs/data-model.md): the key the
server chose, the declared type, and whether the stored object was checked (``VERIFIED``) or
refused (``REJECTED``). A product may refer only to the key of a ``VERIFIED`` upload. A pending
upload expires (TTL) a day after its form; a verified one is kept."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime, timedelta
from typing import Any

from mall.clock import epoch, iso
from mall.dal.keys import upload_key
from mall.dal.table import ConditionFailed, Item, Table

PENDING, VERIFIED, REJECTED = "PENDING", "VERIFIED", "REJECTED"
PENDING_TTL = timedelta(days=1)


class MediaUploadRepository:
    def __init__(self, table: Table) -> None:
        self._table = table

    def create(self, *, upload_id: str, key: str, content_type: str, by: str, now: datetime) -> None:
        self._table.put({**upload_key(upload_id), "entity": "media_upload", "upload_id": upload_id, "key": key,
                         "content_type": content_type, "status": PENDING, "created_by": by, "created_at": iso(now),
                         "expires_at": epoch(now + PENDING_TTL)}, condition="attribute_not_exists(pk)")

    def get(self, upload_id: str) -> Item | None:
        return self._table.get(upload_key(upload_id), consistent=True)

    def settle(self, upload_id: str, *, status: str, now: datetime, facts: dict[str, Any]) -> bool:
        """PENDING → ``status`` (a verified upload loses its expiry); False when it was not pending."""
        update = "SET #s = :s, checked_at = :at, facts = :f" + (" REMOVE expires_at" if status == VERIFIED else "")
        try:
            self._table.update(upload_key(upload_id), update, condition="#s = :pending",
                               names={"#s": "status"},
                               values={":s": status, ":at": iso(now), ":f": facts, ":pending": PENDING})
        except ConditionFailed:
            return False
        return True

    def verified(self, upload_ids: Iterable[str]) -> set[str]:
        """The ids among ``upload_ids`` whose upload is VERIFIED."""
        wanted = list(dict.fromkeys(upload_ids))
        if not wanted:
            return set()
        found = self._table.batch_get([upload_key(u) for u in wanted], consistent=True)
        return {str(i["upload_id"]) for i in found if i.get("status") == VERIFIED}

    def record_thumbnails(self, upload_id: str, widths: list[int]) -> bool:
        """Note that a verified upload's thumbnails exist (an upload verified before they were made);
        False when it is not verified or already noted."""
        try:
            self._table.update(upload_key(upload_id), "SET facts.thumbnails = :w",
                               condition="#s = :verified AND attribute_not_exists(facts.thumbnails)",
                               names={"#s": "status"}, values={":w": widths, ":verified": VERIFIED})
        except ConditionFailed:
            return False
        return True

    def import_verified(self, *, upload_id: str, key: str, content_type: str, by: str, now: datetime,
                        facts: dict[str, Any]) -> None:
        """Record an image the operator's import stored and checked itself (no form was issued)."""
        self._table.put({**upload_key(upload_id), "entity": "media_upload", "upload_id": upload_id, "key": key,
                         "content_type": content_type, "status": VERIFIED, "created_by": by, "created_at": iso(now),
                         "checked_at": iso(now), "facts": facts}, condition="attribute_not_exists(pk)")
