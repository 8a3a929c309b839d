import json

import pytest
from aws_lambda_powertools.event_handler.openapi.exceptions import RequestValidationError

from mall import errors
from mall.api.cursor import decode_cursor, encode_cursor
from mall.api.errors import from_domain_error, from_validation_error

KEY = b"s" * 32


def test_cursor_round_trip_and_partition_check() -> None:
    last = {"pk": "USER#u1", "sk": "ORDER#2026"}
    cursor = encode_cursor(last, key=KEY)
    assert cursor is not None
    assert decode_cursor(cursor, key=KEY, partition=("pk", "USER#u1")) == last
    with pytest.raises(errors.InvalidInput) as err:
        decode_cursor(cursor, key=KEY, partition=("pk", "USER#someone-else"))
    assert err.value.fields[0].field == "query:cursor"


@pytest.mark.parametrize("cursor", ["", None])
def test_no_cursor_means_first_page(cursor: str | None) -> None:
    assert decode_cursor(cursor, key=KEY) is None


@pytest.mark.parametrize("cursor", ["garbage", "AAAA", "eyJwayI6IlVTRVIjdTEifQ"])
def test_forged_cursor_is_a_4xx_not_a_crash(cursor: str) -> None:
    with pytest.raises(errors.InvalidInput):
        decode_cursor(cursor, key=KEY)


@pytest.mark.parametrize(("exc", "status"), [
    (errors.InvalidInput("x"), 422),
    (errors.Unauthenticated("x"), 401),
    (errors.Forbidden("x"), 403),
    (errors.NotFound("x"), 404),
    (errors.Conflict("x"), 409),
    (errors.TooManyRequests("x", retry_after_seconds=5), 429),
    (errors.UpstreamUnavailable("x"), 503),
])
def test_each_domain_error_maps_to_one_status_with_the_error_shape(exc: errors.DomainError, status: int) -> None:
    response = from_domain_error(exc)
    assert response.status_code == status
    body = json.loads(str(response.body))
    assert set(body["error"]) >= {"code", "message", "fields"}
    if status == 429:
        assert response.headers["Retry-After"] == "5"


def test_validation_errors_name_each_field() -> None:
    exc = RequestValidationError([
        {"loc": ("body", "code"), "msg": "Field required", "type": "missing"},
        {"loc": ("header", "idempotency-key"), "msg": "Field required", "type": "missing"},
    ])
    body = json.loads(str(from_validation_error(exc).body))
    assert [f["field"] for f in body["error"]["fields"]] == ["code", "header:idempotency-key"]


def test_invalid_json_is_a_400() -> None:
    exc = RequestValidationError([{"loc": ("body", 0), "msg": "JSON decode error", "type": "json_invalid"}])
    response = from_validation_error(exc)
    assert response.status_code == 400
    assert json.loads(str(response.body))["error"]["code"] == "malformed_json"
