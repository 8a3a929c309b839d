"""The ``Idempotency-Key`` header and the request marker a hot use case writes in its own transaction.

Apart from ``mall.api.idempotency`` (``once``, on Powertools' idempotency utility), so the functions that
only mark their requests (placing an order, the cart, a withdrawal, an application, a refund request, the
console's customer and promoter changes) do not load that utility at cold start: about 4 ms of CPU
(docs/performance.md, "Cold start: place order's init")."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from aws_lambda_powertools.event_handler.openapi.params import Header
from pydantic import BaseModel

from mall.dal.request_markers import MarkedRequest, RequestMarkers

IdempotencyKeyHeader = Annotated[
    str,
    Header(alias="idempotency-key", min_length=8, max_length=128, pattern=r"^[A-Za-z0-9_.:-]+$",
           description="a unique value per intended write (e.g. a UUID); a retry with the same key "
                       "returns the first result instead of writing again"),
]


def marked(markers: RequestMarkers, key: str, caller: str, payload: BaseModel, now: datetime) -> MarkedRequest:
    """The request's marker for a use case that writes it inside its own transaction (a hot route
    where ``once``'s two extra writes count): same key scope (caller + key) and body check as ``once``."""
    return MarkedRequest(markers, markers.marker(caller, key, payload.model_dump(mode="json")), now)
