"""What a retried ``Idempotency-Key`` gets when its marker rides in the business transaction
(``mall.dal.request_markers``): the same answers as ``mall.api.idempotency.once`` — the first
response again, 422 ``idempotency_key_reused`` for another body, 409 ``idempotency_in_progress``
while the first request is still running."""

from __future__ import annotations

from pydantic import BaseModel

from mall.dal.request_markers import IN_PROGRESS, MarkedRequest, MarkerState, TransactionCancelled
from mall.errors import Conflict, FieldProblem, InvalidInput


def replay[ModelT: BaseModel](state: MarkerState | None, request: MarkedRequest,
                              output: type[ModelT]) -> ModelT | None:
    """The stored answer for a repeated key (None when the key is new)."""
    if state is None:
        return None
    if state.payload_hash != request.marker.payload_hash:
        raise InvalidInput("this Idempotency-Key was already used for a different request",
                           code="idempotency_key_reused",
                           fields=[FieldProblem("header:idempotency-key", "already used with another body")])
    if state.status == IN_PROGRESS and state.in_progress_until is not None \
            and request.now < state.in_progress_until:
        raise Conflict("a request with this Idempotency-Key is still being processed; retry shortly",
                       code="idempotency_in_progress")
    return output.model_validate_json(state.response)


def replay_refused[ModelT: BaseModel](exc: TransactionCancelled, index: int, request: MarkedRequest,
                                      output: type[ModelT]) -> ModelT | None:
    """The stored answer when the transaction was cancelled by its marker put at ``index`` (a
    concurrent request with the same key committed first); None when something else cancelled it."""
    if len(exc.reasons) <= index or exc.reasons[index] != "ConditionalCheckFailed":
        return None
    return replay(request.state(exc.items[index]), request, output)
