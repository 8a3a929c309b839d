"""Concurrency in tests: runs started at the same moment on their own threads, so a race the rules
forbid has every chance to happen against DynamoDB Local."""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor


def run_at_once[T](runs: Sequence[Callable[[], T]]) -> list[T]:
    """Each run on its own thread, all released by one barrier; their results in the runs' order."""
    barrier = threading.Barrier(len(runs))

    def work(run: Callable[[], T]) -> T:
        barrier.wait()
        return run()

    with ThreadPoolExecutor(max_workers=len(runs)) as pool:
        return list(pool.map(work, runs))
