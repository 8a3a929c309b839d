"""What a retried ``Idempotency-Key`` gets when its marker rides in the business transaction
(``mall.dal.request_markers``): as with ``mall.api.idempotency.once``, the first response again,
and 422 ``idempotency_key_reused`` for another body. (``once``'s 409 ``idempotency_in_progress``
has no counterpart: a retry racing the first request waits for nothing, it loses the
transaction to it and answers with its response.)"""

from __future__ import annotations

from pydantic import BaseModel

from mall.dal.request_markers import MarkedRequest, MarkerState, TransactionCancelled
from mall.errors import FieldProblem, InvalidInput


def replay[ModelT: BaseModel](state: MarkerState | None, request: MarkedRequest,
                              output: type[ModelT]) -> ModelT | None:
    """The stored answer for a repeated key (None when the key is new)."""
    if state is None:
        return None
    if state.payload_hash != request.marker.payload_hash:
        raise InvalidInput("this Idempotency-Key was already used for a different request",
                           code="idempotency_key_reused",
                           fields=[FieldProblem("header:idempotency-key", "already used with another body")])
    return output.model_validate_json(state.response)


def replay_refused[ModelT: BaseModel](exc: TransactionCancelled, index: int, request: MarkedRequest,
                                      output: type[ModelT]) -> ModelT | None:
    """The stored answer when the transaction was cancelled by its marker put at ``index`` (a
    concurrent request with the same key committed first); None when something else cancelled it."""
    if len(exc.reasons) <= index or exc.reasons[index] != "ConditionalCheckFailed":
        return None
    return replay(request.state(exc.items[index]), request, output)
