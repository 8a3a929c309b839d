"""Running a benchmark's workers on real threads at once."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable


def run_threads(worker: Callable[[], None], count: int, errors: list[BaseException]) -> float:
    """``count`` threads running ``worker`` at once; the seconds they took. The workers record what
    they raise in ``errors``, and the first is raised here: a benchmark that fails must say so."""
    started = time.perf_counter()
    threads = [threading.Thread(target=worker) for _ in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    if errors:
        raise errors[0]
    return time.perf_counter() - started
