"""Table changes as queue messages: the stream router (``functions/order_status_stream``) forwards
each change of the entities in ``ROUTED_ENTITIES`` to ``StatsQueue`` (aggregates, leaderboards,
team sales) and ``NotificationQueue`` (subscribe messages), so the table stream keeps two readers
(AWS's limit without throttling) however many consumers there are.

A message is ``{"event_id": <stream eventID>, "event_name": "INSERT"|"MODIFY"|"REMOVE",
"sequence": <SequenceNumber>, "old": <image or null>, "new": <image or null>}`` with images as
plain JSON (numbers as int, or as str when not integral). ``event_id`` is unique per change and
the same on every redelivery, so consumers dedupe on it."""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from mall.dal.keys import PROFILE_SK, applied_group
from mall.dal.orders import is_order_item
from mall.dal.table import Item, deserialize
from mall.domain.changes import RecordChange

#: Entities whose changes consumers may care about (the router's filter in template.yaml matches).
ROUTED_ENTITIES: frozenset[str] = frozenset({
    "order", "commission", "withdrawal", "binding", "customer", "promoter", "share_visit", "refund",
})


@dataclass(frozen=True, slots=True)
class Change:
    event_id: str
    event_name: str
    sequence: str
    old: Item | None
    new: Item | None

    @property
    def entity(self) -> str | None:
        image = self.new or self.old or {}
        value = image.get("entity")
        return str(value) if value is not None else None


def _json_safe(value: Any) -> Any:
    if isinstance(value, Decimal):
        return int(value) if value == value.to_integral_value() else str(value)
    if isinstance(value, Mapping):
        return {str(k): _json_safe(v) for k, v in value.items()}
    if isinstance(value, (list, tuple, set, frozenset)):
        return [_json_safe(v) for v in value]
    if isinstance(value, (bytes, bytearray)):
        return None  # binary attributes (none today) are not forwarded
    return value


def change_from_stream(record: Mapping[str, Any]) -> Change:
    body = record.get("dynamodb") or {}
    old, new = body.get("OldImage"), body.get("NewImage")
    return Change(event_id=str(record.get("eventID", "")), event_name=str(record.get("eventName", "")),
                  sequence=str(body.get("SequenceNumber", "")),
                  old=deserialize(old) if old else None, new=deserialize(new) if new else None)


def change_message(change: Change) -> dict[str, Any]:
    return {"event_id": change.event_id, "event_name": change.event_name, "sequence": change.sequence,
            "old": _json_safe(change.old) if change.old is not None else None,
            "new": _json_safe(change.new) if change.new is not None else None}


def parse_change(body: str) -> Change | None:
    """The change in a queue message body; None when malformed (drop it: redelivery cannot fix it)."""
    try:
        message = json.loads(body)
    except ValueError:
        return None
    if not isinstance(message, dict) or not isinstance(message.get("event_id"), str) or not message["event_id"]:
        return None
    old, new = message.get("old"), message.get("new")
    if (old is not None and not isinstance(old, dict)) or (new is not None and not isinstance(new, dict)):
        return None
    return Change(event_id=message["event_id"], event_name=str(message.get("event_name", "")),
                  sequence=str(message.get("sequence", "")), old=old, new=new)


def routed(change: Change) -> bool:
    return change.entity in ROUTED_ENTITIES


#: The attributes of an item that are its storage keys (table and index keys), not business data.
_KEY_ATTRIBUTES = re.compile(r"^(pk|sk|gsi\d+pk|gsi\d+sk)$")


def _is_record(image: Mapping[str, Any]) -> bool:
    """Whether the item is the record its ``entity`` names, not a companion item of its partition
    carrying the same ``entity`` (an order's other items; a customer's items beside the profile)."""
    entity = image.get("entity")
    if entity == "order":
        return is_order_item(image)
    if entity == "customer":
        return image.get("sk") == PROFILE_SK
    return True


def _attributes(image: Item | None) -> dict[str, Any] | None:
    if image is None:
        return None
    return {name: value for name, value in image.items() if not _KEY_ATTRIBUTES.match(name)}


def record_change(change: Change) -> RecordChange:
    """The change as the domain reads it (``mall.domain.changes``): which record changed (None when
    the item is not one) and its attributes before and after, storage keys left out."""
    image = change.new or change.old or {}
    entity = change.entity if _is_record(image) else None
    return RecordChange(event_id=change.event_id, entity=entity, old=_attributes(change.old),
                        new=_attributes(change.new))


def marker_group(change: Change) -> str | None:
    """The partition whose one applied-marker item the stats worker lists this change in (an order's
    partition: the order and its commission records), or None: marked per part."""
    image = change.new or change.old or {}
    partition = image.get("pk")
    return applied_group(partition) if isinstance(partition, str) else None
