"""Wrapped data keys of personal-data encryption (docs/data-model.md, "rules and personal data").

``PII_KEY#<key_ref>`` / ``KEY``: the KMS-encrypted (wrapped) AES-256 data key that tokens
``v2:<key_ref>:...`` were sealed with, the KMS key that wrapped it and when it was made. Written
once per data key with ``attribute_not_exists`` and never changed or deleted: a token outlives
every container, so its key must too (no ``expires_at``)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from mall.clock import iso
from mall.dal.keys import key_item_key
from mall.dal.table import ConditionFailed, Table


@dataclass(frozen=True)
class WrappedKey:
    key_ref: str
    wrapped: bytes  # KMS CiphertextBlob
    kms_key_id: str


class PiiKeyRepository:
    def __init__(self, table: Table) -> None:
        self._table = table

    def put(self, key: WrappedKey, now: datetime) -> None:
        """Store the wrapped key before the first token that names it exists. The ref is derived
        from the wrapped bytes, so a repeat (a retried cold start) finds the same item: fine."""
        try:
            self._table.put({**key_item_key(key.key_ref), "entity": "pii_key", "key_ref": key.key_ref,
                             "wrapped": key.wrapped, "kms_key_id": key.kms_key_id, "created_at": iso(now)},
                            condition="attribute_not_exists(pk)")
        except ConditionFailed as exc:
            if exc.item is None or bytes(exc.item.get("wrapped", b"")) != key.wrapped:
                raise

    def get(self, key_ref: str) -> WrappedKey | None:
        item = self._table.get(key_item_key(key_ref), consistent=True)
        if item is None:
            return None
        return WrappedKey(key_ref=key_ref, wrapped=bytes(item["wrapped"]), kms_key_id=str(item["kms_key_id"]))
