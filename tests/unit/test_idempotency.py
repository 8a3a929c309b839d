"""Idempotency-Key: a retry replays the first result; a reused key with another body is refused."""

from __future__ import annotations

import itertools
import json
from typing import Any

import pytest
from aws_lambda_powertools.event_handler import APIGatewayHttpResolver
from pydantic import BaseModel

from mall.api.auth import public
from mall.api.http import make_resolver
from mall.api.idempotency import IdempotencyKeyHeader, once
from tests.unit.conftest import FakeContext, http_event

pytestmark = pytest.mark.usefixtures("moto_table")


class CreateThing(BaseModel):
    name: str


class Thing(BaseModel):
    thing_id: int
    name: str


def make_app() -> tuple[APIGatewayHttpResolver, list[int]]:
    app = make_resolver()
    counter = itertools.count(1)
    created: list[int] = []

    @app.post("/things", **public())
    def create(body: CreateThing, key: IdempotencyKeyHeader) -> Thing:
        def action() -> Thing:
            created.append(next(counter))
            return Thing(thing_id=created[-1], name=body.name)

        return once(key, "u_caller", body, Thing, action, lambda_context=app.lambda_context)

    return app, created


def post(app: APIGatewayHttpResolver, body: dict[str, Any], key: str | None) -> tuple[int, dict[str, Any]]:
    headers = {"idempotency-key": key} if key else {}
    result = app.resolve(http_event("POST", "/things", body=body, headers=headers), FakeContext())  # type: ignore[arg-type]
    return result["statusCode"], json.loads(result["body"])


def test_retry_with_the_same_key_replays_the_first_result() -> None:
    app, created = make_app()
    first = post(app, {"name": "a"}, "key-00000001")
    again = post(app, {"name": "a"}, "key-00000001")
    assert first == again == (200, {"thing_id": 1, "name": "a"})
    assert created == [1]
    assert post(app, {"name": "a"}, "key-00000002")[1]["thing_id"] == 2


def test_same_key_with_another_body_is_refused() -> None:
    app, created = make_app()
    post(app, {"name": "a"}, "key-00000001")
    status, body = post(app, {"name": "b"}, "key-00000001")
    assert status == 422 and body["error"]["code"] == "idempotency_key_reused"
    assert created == [1]


@pytest.mark.parametrize("key", [None, "short", "has spaces in it"])
def test_missing_or_malformed_key_is_a_4xx_naming_the_header(key: str | None) -> None:
    app, created = make_app()
    status, body = post(app, {"name": "a"}, key)
    assert status == 422
    assert body["error"]["fields"][0]["field"] == "header:idempotency-key"
    assert created == []
