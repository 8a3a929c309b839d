"""The admin lists' range of China days created: the orders' list (``mall.services.fulfilment``) and the
customers' search, which needs nothing else of the orders' use cases."""

from __future__ import annotations

from datetime import datetime, timedelta

from mall.clock import CHINA
from mall.errors import FieldProblem, InvalidInput


def created_range(date_from: str | None, date_to: str | None) -> tuple[datetime | None, datetime | None]:
    """China days ``from``..``to`` (inclusive; either may be open) as instants ``[start, end)``,
    refused as the dashboard refuses its range (``invalid_date``, ``invalid_date_range``, naming the
    field). No length limit: the range is a key condition, so a page costs the same for any range."""
    # Imported here: the statistics' use cases (with their schemas and the team bonus's rules) are the
    # admin's lists' concern, not the customer's orders served from this module.
    from mall.services.stats import query_day

    start = query_day(date_from, "from") if date_from is not None else None
    end = query_day(date_to, "to") if date_to is not None else None
    if start is not None and end is not None and start > end:
        raise InvalidInput("from is after to", code="invalid_date_range",
                           fields=[FieldProblem("query:from", f"after to ({end.isoformat()})")])
    return (datetime(start.year, start.month, start.day, tzinfo=CHINA) if start is not None else None,
            datetime(end.year, end.month, end.day, tzinfo=CHINA) + timedelta(days=1) if end is not None else None)
