"""Request parameters and response documentation every handler shares, written once so that two
routes taking the same kind of value validate it and document it the same way.

Use them in the handler signature: ``def get_order(order_id: IdPath)``,
``def list_orders(limit: Limit = 20, cursor: Cursor = None)``, and
``responses={404: error_response("`order_not_found`")}`` on the route."""

from __future__ import annotations

from typing import Annotated

from aws_lambda_powertools.event_handler.openapi.params import Path, Query
from aws_lambda_powertools.event_handler.openapi.types import OpenAPIResponse

from mall.api.client_info import source_ip
from mall.schemas.common import ErrorBody

# Powertools' parameter and response types are re-exported: a handler importing them from here loads
# the event handler's package lean (mall.api.lean_powertools).
__all__ = ["CURSOR_MAX_LENGTH", "ID_PATTERN", "CatalogIdPath", "Cursor", "DayPath", "IdPath", "Limit",
           "OpenAPIResponse", "Path", "Query", "error_response", "limit_query", "source_ip"]

#: Every identifier the service generates (``mall.ids.new_id``) and every merchant-chosen catalog id.
ID_PATTERN = r"^[A-Za-z0-9_-]+$"
#: The longest ``next_cursor`` a list accepts back; the lists that page over several sources at once
#: (audit, team, history) carry the most state, and a cursor this service issued must never be refused.
CURSOR_MAX_LENGTH = 4096

#: An id the service generated: orders, users, withdrawals, refunds, risk cases, export jobs.
IdPath = Annotated[str, Path(min_length=3, max_length=64, pattern=ID_PATTERN)]
#: A product or category id, which the merchant may choose (one character is enough).
CatalogIdPath = Annotated[str, Path(min_length=1, max_length=64, pattern=ID_PATTERN)]
#: A China calendar day in the path.
DayPath = Annotated[str, Path(pattern=r"^\d{4}-\d{2}-\d{2}$", description="a China day, YYYY-MM-DD")]


def limit_query(most: int = 100) -> Query:
    """The page size, 1 to ``most``; the default page size goes in the signature."""
    return Query(ge=1, le=most, description="page size")


#: The page size of an ordinary list (at most 100).
Limit = Annotated[int, limit_query()]
#: The ``next_cursor`` of the previous page, as the list returned it.
Cursor = Annotated[str | None, Query(max_length=CURSOR_MAX_LENGTH, description="`next_cursor` of the previous page")]


def error_response(description: str) -> OpenAPIResponse:
    """An error answer in the OpenAPI document: the common error body, with the codes it may carry."""
    return {"description": description, "content": {"application/json": {"model": ErrorBody}}}
