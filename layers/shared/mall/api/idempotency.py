"""``Idempotency-Key`` for writes that create things, with Powertools Idempotency.

A handler that creates something runs its use case through ``once``: the first request's
result is stored (in the single table, under ``IDEMPOTENCY#<function>``) and a retry with
the same key from the same caller gets the same result back without running it again. The
same key with a different body is refused (422), and a retry while the first request is
still running gets 409.

    @app.post("/orders", **secured(Role.CUSTOMER))
    def place(body: PlaceOrder, key: IdempotencyKeyHeader) -> OrderView:
        principal = current_principal(app)
        return once(key, principal.subject, body, OrderView, lambda: place_order(...),
                    lambda_context=app.lambda_context)
"""

from __future__ import annotations

from collections.abc import Callable
from functools import lru_cache
from typing import Any

from aws_lambda_powertools.utilities.idempotency import (
    DynamoDBPersistenceLayer,
    IdempotencyConfig,
    idempotent_function,
)
from aws_lambda_powertools.utilities.idempotency.exceptions import (
    IdempotencyAlreadyInProgressError,
    IdempotencyValidationError,
)
from aws_lambda_powertools.utilities.idempotency.serialization.pydantic import PydanticSerializer
from aws_lambda_powertools.utilities.typing import LambdaContext
from pydantic import BaseModel

from mall.api.request_key import IdempotencyKeyHeader
from mall.config import function_environment, get_settings
from mall.dal.keys import idempotency_partition
from mall.dal.table import dynamodb_client
from mall.errors import Conflict, FieldProblem, InvalidInput

__all__ = ["IdempotencyKeyHeader", "once"]  # the header (mall.api.request_key) for the routes that use ``once``


@lru_cache(maxsize=1)
def _persistence() -> DynamoDBPersistenceLayer:
    settings = get_settings()
    function = function_environment().function_name or "local"
    return DynamoDBPersistenceLayer(
        table_name=settings.table_name,
        key_attr="pk",
        sort_key_attr="sk",
        static_pk_value=idempotency_partition(function),
        expiry_attr="expires_at",
        boto3_client=dynamodb_client(),
    )


@lru_cache(maxsize=1)
def _config() -> IdempotencyConfig:
    return IdempotencyConfig(
        event_key_jmespath="[caller, key]",
        payload_validation_jmespath="payload",
        raise_on_no_idempotency_key=True,
        expires_after_seconds=get_settings().idempotency_ttl_seconds,
    )


def once[ModelT: BaseModel](key: str, caller: str, payload: BaseModel, output: type[ModelT],
                            action: Callable[[], ModelT], *, lambda_context: LambdaContext | None = None) -> ModelT:
    """Run ``action`` once per (caller, key); replay its stored result on a retry.
    With the Lambda context, a record left "in progress" by a timed-out run expires with it."""
    if lambda_context is not None:
        _config().register_lambda_context(lambda_context)

    @idempotent_function(  # type: ignore[untyped-decorator]
        data_keyword_argument="request", config=_config(), persistence_store=_persistence(),
        output_serializer=PydanticSerializer(output),
    )
    def run(request: dict[str, Any]) -> ModelT:
        return action()

    try:
        result: ModelT = run(request={"caller": caller, "key": key, "payload": payload.model_dump(mode="json")})
    except IdempotencyValidationError as exc:
        raise InvalidInput("this Idempotency-Key was already used for a different request",
                           code="idempotency_key_reused",
                           fields=[FieldProblem("header:idempotency-key", "already used with another body")]) from exc
    except IdempotencyAlreadyInProgressError as exc:
        raise Conflict("a request with this Idempotency-Key is still being processed; retry shortly",
                       code="idempotency_in_progress") from exc
    return result
