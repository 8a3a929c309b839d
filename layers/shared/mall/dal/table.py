"""A thin typed wrapper over the low-level DynamoDB client for the single table.

The low-level client (not ``boto3.resource``) keeps cold starts short; items cross this
boundary as plain Python values (``int`` for numbers: money is integer fen)."""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from functools import lru_cache
from typing import TYPE_CHECKING, Any, Literal

import boto3
from boto3.dynamodb.types import TypeDeserializer, TypeSerializer
from botocore.config import Config
from botocore.exceptions import ClientError

from mall.config import get_settings

if TYPE_CHECKING:
    from mypy_boto3_dynamodb.client import DynamoDBClient

Item = dict[str, Any]
Key = dict[str, Any]

BATCH_GET_LIMIT = 100  # keys per BatchGetItem call (DynamoDB's limit)
BATCH_GET_ATTEMPTS = 6

_serializer = TypeSerializer()
_deserializer = TypeDeserializer()


def key_of(item: Mapping[str, Any]) -> Key:
    """The table key of a stored item (to write back to the item a query returned)."""
    return {"pk": item["pk"], "sk": item["sk"]}


def key_pair(key: Mapping[str, Any]) -> tuple[str, str]:
    """A key as a hashable pair (to deduplicate, group or pack keys); ``key_from_pair`` undoes it."""
    return str(key["pk"]), str(key["sk"])


def key_from_pair(pair: tuple[str, str]) -> Key:
    return {"pk": pair[0], "sk": pair[1]}


def _plain(value: Any) -> Any:
    """DynamoDB numbers arrive as Decimal; the domain uses int (fen) and never floats."""
    if isinstance(value, Decimal):
        if value == value.to_integral_value():
            return int(value)
        raise TypeError(f"non-integral number {value} read from DynamoDB")
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_plain(v) for v in value]
    if isinstance(value, set):
        return {_plain(v) for v in value}
    return value


def serialize(item: Mapping[str, Any]) -> dict[str, Any]:
    return {k: _serializer.serialize(v) for k, v in item.items() if v is not None}


def deserialize(raw: Mapping[str, Any]) -> Item:
    return {k: _plain(_deserializer.deserialize(v)) for k, v in raw.items()}


@lru_cache(maxsize=1)
def dynamodb_client() -> DynamoDBClient:
    settings = get_settings()
    endpoint = str(settings.dynamodb_endpoint) if settings.dynamodb_endpoint else None
    config = Config(retries={"max_attempts": 4, "mode": "standard"}, connect_timeout=2, read_timeout=5,
                    tcp_keepalive=True)
    return boto3.client("dynamodb", endpoint_url=endpoint, config=config)


class ConditionFailed(Exception):
    """A conditional write found the item in another state than expected."""

    def __init__(self, item: Item | None = None) -> None:
        super().__init__("condition check failed")
        self.item = item


class TransactionCancelled(Exception):
    """A transaction was cancelled; ``reasons`` has one code per operation ('None' if fine)."""

    def __init__(self, reasons: list[str], items: list[Item | None]) -> None:
        super().__init__(f"transaction cancelled: {reasons}")
        self.reasons = reasons
        self.items = items

    @property
    def conditional_failures(self) -> list[int]:
        return [i for i, r in enumerate(self.reasons) if r == "ConditionalCheckFailed"]


class BatchIncomplete(Exception):
    """BatchGetItem still left keys unprocessed after every retry (sustained throttling)."""

    def __init__(self, unprocessed: int) -> None:
        super().__init__(f"{unprocessed} keys still unprocessed after {BATCH_GET_ATTEMPTS} attempts")
        self.unprocessed = unprocessed


@dataclass
class Write:
    """One operation of a transaction (a unit of work). Build with the class methods."""

    op: dict[str, Any]

    @classmethod
    def put(cls, table: str, item: Mapping[str, Any], *, condition: str | None = None,
            names: Mapping[str, str] | None = None, values: Mapping[str, Any] | None = None) -> Write:
        body: dict[str, Any] = {"TableName": table, "Item": serialize(item),
                                "ReturnValuesOnConditionCheckFailure": "ALL_OLD"}
        _add_expr(body, condition, names, values)
        return cls({"Put": body})

    @classmethod
    def update(cls, table: str, key: Key, update: str, *, condition: str | None = None,
               names: Mapping[str, str] | None = None, values: Mapping[str, Any] | None = None) -> Write:
        body: dict[str, Any] = {"TableName": table, "Key": serialize(key), "UpdateExpression": update,
                                "ReturnValuesOnConditionCheckFailure": "ALL_OLD"}
        _add_expr(body, condition, names, values)
        return cls({"Update": body})

    @classmethod
    def check(cls, table: str, key: Key, condition: str, *, names: Mapping[str, str] | None = None,
              values: Mapping[str, Any] | None = None) -> Write:
        body: dict[str, Any] = {"TableName": table, "Key": serialize(key),
                                "ReturnValuesOnConditionCheckFailure": "ALL_OLD"}
        _add_expr(body, condition, names, values)
        return cls({"ConditionCheck": body})

    @classmethod
    def delete(cls, table: str, key: Key, *, condition: str | None = None,
               names: Mapping[str, str] | None = None, values: Mapping[str, Any] | None = None) -> Write:
        body: dict[str, Any] = {"TableName": table, "Key": serialize(key),
                                "ReturnValuesOnConditionCheckFailure": "ALL_OLD"}
        _add_expr(body, condition, names, values)
        return cls({"Delete": body})


def _add_expr(body: dict[str, Any], condition: str | None, names: Mapping[str, str] | None,
              values: Mapping[str, Any] | None) -> None:
    if condition:
        body["ConditionExpression"] = condition
    if names:
        body["ExpressionAttributeNames"] = dict(names)
    if values:
        body["ExpressionAttributeValues"] = serialize(values)


@dataclass
class Page:
    items: list[Item]
    last_key: Key | None = field(default=None)


class Table:
    """The single table. One instance per process (module level in handlers)."""

    def __init__(self, name: str, client: DynamoDBClient | None = None) -> None:
        self.name = name
        self._client = client

    @property
    def client(self) -> DynamoDBClient:
        # The shared client unless one was given, asked for on each call (not kept): after a SnapStart
        # restore the shared one is rebuilt (mall.runtime.snapstart), and a table built at init follows.
        return self._client if self._client is not None else dynamodb_client()

    def get(self, key: Key, *, consistent: bool = False) -> Item | None:
        response = self.client.get_item(TableName=self.name, Key=serialize(key), ConsistentRead=consistent)
        raw = response.get("Item")
        return deserialize(raw) if raw else None

    def get_showing(self, key: Key, shows: Callable[[Item], bool]) -> Item | None:
        """The item, read eventually consistent (half the units) and kept when it is found and ``shows``
        what the caller knows was written; else read again consistently. Writes to one item reach a
        replica in their order, so a read showing a write shows everything written before it too."""
        item = self.get(key)
        if item is None or not shows(item):
            item = self.get(key, consistent=True)
        return item

    def put(self, item: Mapping[str, Any], *, condition: str | None = None,
            names: Mapping[str, str] | None = None, values: Mapping[str, Any] | None = None) -> None:
        body: dict[str, Any] = {"TableName": self.name, "Item": serialize(item),
                                "ReturnValuesOnConditionCheckFailure": "ALL_OLD"}
        _add_expr(body, condition, names, values)
        try:
            self.client.put_item(**body)
        except ClientError as exc:
            _raise_condition_failed(exc)
            raise

    def update(self, key: Key, update: str, *, condition: str | None = None,
               names: Mapping[str, str] | None = None, values: Mapping[str, Any] | None = None,
               returns: Literal["ALL_NEW", "ALL_OLD"] = "ALL_NEW") -> Item:
        """The item as the update left it (``returns="ALL_OLD"``: as it was before); a failed
        condition raises ``ConditionFailed`` with the item as it is."""
        body: dict[str, Any] = {"TableName": self.name, "Key": serialize(key), "UpdateExpression": update,
                                "ReturnValues": returns, "ReturnValuesOnConditionCheckFailure": "ALL_OLD"}
        _add_expr(body, condition, names, values)
        try:
            response = self.client.update_item(**body)
        except ClientError as exc:
            _raise_condition_failed(exc)
            raise
        return deserialize(response.get("Attributes", {}))

    def query(self, *, partition: tuple[str, str], sort_prefix: tuple[str, str] | None = None,
              index: str | None = None, limit: int = 20, start_key: Key | None = None,
              newest_first: bool = False) -> Page:
        pk_name, pk_value = partition
        names = {"#pk": pk_name}
        values: dict[str, Any] = {":pk": pk_value}
        condition = "#pk = :pk"
        if sort_prefix is not None:
            names["#sk"] = sort_prefix[0]
            values[":sk"] = sort_prefix[1]
            condition += " AND begins_with(#sk, :sk)"
        return self.query_where(condition, names=names, values=values, index=index, limit=limit,
                                start_key=start_key, newest_first=newest_first)

    def query_where(self, key_condition: str, *, names: Mapping[str, str], values: Mapping[str, Any],
                    index: str | None = None, limit: int | None = 20, start_key: Key | None = None,
                    newest_first: bool = False, filter_expression: str | None = None,
                    consistent: bool = False) -> Page:
        """One page of a Query with any key condition (ranges too) and an optional filter.
        ``limit=None``: DynamoDB's own page size (1 MB)."""
        body: dict[str, Any] = {"TableName": self.name, "KeyConditionExpression": key_condition,
                                "ExpressionAttributeNames": dict(names), "ExpressionAttributeValues": serialize(values),
                                "ScanIndexForward": not newest_first}
        if limit is not None:
            body["Limit"] = limit
        if index:
            body["IndexName"] = index
        if start_key:
            body["ExclusiveStartKey"] = serialize(start_key)
        if filter_expression:
            body["FilterExpression"] = filter_expression
        if consistent:
            body["ConsistentRead"] = True
        response = self.client.query(**body)
        items = [deserialize(raw) for raw in response.get("Items", [])]
        last = response.get("LastEvaluatedKey")
        return Page(items=items, last_key=deserialize(last) if last else None)

    def batch_get(self, keys: Sequence[Key], *, consistent: bool = False) -> list[Item]:
        """The items that exist for ``keys`` (BatchGetItem, 100 keys per call; order not kept).
        Keys DynamoDB leaves unprocessed (throttling, 16 MB) are asked again with backoff."""
        unique = list({tuple(sorted(k.items())): k for k in keys}.values())
        found: list[Item] = []
        for start in range(0, len(unique), BATCH_GET_LIMIT):
            pending: list[dict[str, Any]] = [serialize(k) for k in unique[start:start + BATCH_GET_LIMIT]]
            for attempt in range(BATCH_GET_ATTEMPTS):
                response = self.client.batch_get_item(
                    RequestItems={self.name: {"Keys": pending, "ConsistentRead": consistent}})
                found.extend(deserialize(raw) for raw in response.get("Responses", {}).get(self.name, []))
                left = response.get("UnprocessedKeys", {}).get(self.name)
                pending = list(left["Keys"]) if left else []
                if not pending or attempt + 1 == BATCH_GET_ATTEMPTS:
                    break
                time.sleep(min(0.05 * 2**attempt, 1.0))
            if pending:
                raise BatchIncomplete(len(pending))
        return found

    def write_one(self, write: Write) -> None:
        """A transaction's Put, Update or Delete done as one conditional write: for a single item
        it is just as atomic, with the same condition, at half the write units of a one-item
        ``TransactWriteItems``. A failed condition raises ``ConditionFailed`` (with the item)."""
        ((action, body),) = write.op.items()
        try:
            if action == "Put":
                self.client.put_item(**body)
            elif action == "Update":
                self.client.update_item(**body)
            elif action == "Delete":
                self.client.delete_item(**body)
            else:
                raise ValueError(f"{action} writes nothing: only a transaction can check an item alone")
        except ClientError as exc:
            _raise_condition_failed(exc)
            raise

    def transact(self, writes: Sequence[Write], *, token: str | None = None) -> None:
        """All or nothing. ``token`` (ClientRequestToken) makes a retried call idempotent for 10 min."""
        body: dict[str, Any] = {"TransactItems": [w.op for w in writes]}
        if token:
            body["ClientRequestToken"] = token
        try:
            self.client.transact_write_items(**body)
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") == "TransactionCanceledException":
                reasons_raw: list[dict[str, Any]] = exc.response.get("CancellationReasons", [])  # type: ignore[assignment]
                reasons = [str(r.get("Code", "None")) for r in reasons_raw]
                items = [deserialize(r["Item"]) if r.get("Item") else None for r in reasons_raw]
                raise TransactionCancelled(reasons, items) from exc
            raise


def _raise_condition_failed(exc: ClientError) -> None:
    """Turn a failed condition into ``ConditionFailed`` (with the current item); leave other errors alone."""
    if exc.response.get("Error", {}).get("Code") == "ConditionalCheckFailedException":
        raw: dict[str, Any] | None = exc.response.get("Item")  # type: ignore[assignment]
        raise ConditionFailed(deserialize(raw) if raw else None) from exc


@lru_cache(maxsize=1)
def main_table() -> Table:
    return Table(get_settings().table_name)
