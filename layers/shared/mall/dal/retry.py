"""Retrying a write that lost to a concurrent transaction or was throttled.

Only for a write that is still right as it stands: a failed condition means the state moved, and
deciding again needs a fresh read, so it is never retried here (callers that re-read and decide
again keep their own rounds). The waits are "full jitter" (a random wait up to a doubling bound),
so writers that collided once do not collide again in step.
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable

from botocore.exceptions import ClientError

from mall.dal.table import TransactionCancelled

#: Cancellation reasons of a transaction that may succeed as it is on another try.
TRANSIENT_REASONS = frozenset({"TransactionConflict", "ThrottlingError"})
#: Error codes of a call that may succeed as it is on another try (``TransactionInProgressException``:
#: the same client token is still being applied; ``TransactionConflictException``: a single write
#: met a transaction in progress on its item).
TRANSIENT_CODES = frozenset({"TransactionInProgressException", "TransactionConflictException", "ThrottlingException",
                             "ProvisionedThroughputExceededException", "RequestLimitExceeded"})


def is_transient(exc: Exception) -> bool:
    """A conflict or throttling, with no failed condition: the same write may succeed later."""
    if isinstance(exc, TransactionCancelled):
        return not exc.conditional_failures and bool(TRANSIENT_REASONS.intersection(exc.reasons))
    if isinstance(exc, ClientError):
        return exc.response.get("Error", {}).get("Code") in TRANSIENT_CODES
    return False


def jitter(attempt: int) -> float:
    """Seconds to wait after failed attempt ``attempt`` (0-based): up to 20 ms doubling, at most 0.5 s."""
    return random.uniform(0, min(0.02 * 2**attempt, 0.5))  # noqa: S311 (jitter, not security)


def retry_conflicts[T](fn: Callable[[], T], *, attempts: int, backoff: Callable[[int], float] = jitter,
                    sleep: Callable[[float], None] | None = None) -> T:
    """``fn()``, tried up to ``attempts`` times while it fails with a transient error (``is_transient``);
    any other error, or the last attempt's, is raised as it is."""
    if attempts < 1:
        raise ValueError("attempts must be at least 1")
    wait = sleep or time.sleep
    for attempt in range(attempts - 1):
        try:
            return fn()
        except (TransactionCancelled, ClientError) as exc:
            if not is_transient(exc):
                raise
        wait(backoff(attempt))
    return fn()
