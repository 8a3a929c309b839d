"""Retrying a write that lost to a concurrent transaction or was throttled (mall.dal.retry)."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from botocore.exceptions import ClientError

from mall.dal.retry import jitter, retry_conflicts
from mall.dal.table import TransactionCancelled


def _cancelled(*reasons: str) -> TransactionCancelled:
    return TransactionCancelled(list(reasons), [None] * len(reasons))


def _client_error(code: str) -> ClientError:
    return ClientError({"Error": {"Code": code, "Message": code}}, "TransactWriteItems")


def _failing(failures: list[Exception]) -> tuple[Callable[[], str], list[int]]:
    calls: list[int] = []

    def write() -> str:
        calls.append(1)
        if failures:
            raise failures.pop(0)
        return "done"

    return write, calls


@pytest.mark.parametrize("failure", [_cancelled("None", "TransactionConflict"), _cancelled("ThrottlingError"),
                                     _client_error("TransactionInProgressException"),
                                     _client_error("TransactionConflictException"),  # a single write
                                     _client_error("ThrottlingException")])
def test_a_conflict_or_throttling_is_tried_again_after_a_wait(failure: Exception) -> None:
    waits: list[float] = []
    write, calls = _failing([failure, failure])
    assert retry_conflicts(write, attempts=5, sleep=waits.append) == "done"
    assert len(calls) == 3 and len(waits) == 2 and all(0 <= w <= 0.5 for w in waits)


@pytest.mark.parametrize("failure", [_cancelled("ConditionalCheckFailed", "TransactionConflict"),
                                     _cancelled("ValidationError"), _client_error("ValidationException"),
                                     ValueError("not a write error")])
def test_a_failed_condition_or_another_error_is_raised_at_once(failure: Exception) -> None:
    waits: list[float] = []
    write, calls = _failing([failure])
    with pytest.raises(type(failure)):
        retry_conflicts(write, attempts=5, sleep=waits.append)
    assert len(calls) == 1 and waits == []


def test_the_last_attempts_conflict_is_raised() -> None:
    waits: list[float] = []
    write, calls = _failing([_cancelled("TransactionConflict") for _ in range(4)])
    with pytest.raises(TransactionCancelled):
        retry_conflicts(write, attempts=3, sleep=waits.append)
    assert len(calls) == 3 and len(waits) == 2


def test_the_wait_doubles_up_to_half_a_second() -> None:
    assert all(0 <= jitter(0) <= 0.02 for _ in range(50))
    assert all(0 <= jitter(20) <= 0.5 for _ in range(50))
    assert retry_conflicts(lambda: 1, attempts=1) == 1
    with pytest.raises(ValueError):
        retry_conflicts(lambda: 1, attempts=0)
