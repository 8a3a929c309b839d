"""Concurrency in tests: runs started at the same moment on their own threads, so a race the rules
forbid has every chance to happen against DynamoDB Local."""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor

import pytest


def run_at_once[T](runs: Sequence[Callable[[], T]]) -> list[T]:
    """Each run on its own thread, all released by one barrier; their results in the runs' order."""
    barrier = threading.Barrier(len(runs))

    def work(run: Callable[[], T]) -> T:
        barrier.wait()
        return run()

    with ThreadPoolExecutor(max_workers=len(runs)) as pool:
        return list(pool.map(work, runs))


def after_first_read[T](monkeypatch: pytest.MonkeyPatch, owner: type, method: str, other: Callable[[], T], *,
                        when: Callable[..., bool] = lambda *args, **kwargs: True) -> list[T]:
    """Patch ``owner.method`` (a use case's read) so that the first time it returns, where ``when`` holds
    for its arguments, ``other`` runs to its end on another thread: a change committed between the
    read and the use case's commit. The list the result of ``other`` is appended to."""
    real = getattr(owner, method)
    done: list[T] = []

    def read_then_other(self: object, *args: object, **kwargs: object) -> object:
        found = real(self, *args, **kwargs)
        if not done and when(*args, **kwargs):
            worker = threading.Thread(target=lambda: done.append(other()))
            worker.start()
            worker.join()
        return found

    monkeypatch.setattr(owner, method, read_then_other)
    return done
