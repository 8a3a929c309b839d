"""Benchmarks that print their figures (``make bench`` → ``python -m bench``).

Each benchmark is a module ``bench/<name>.py`` with a ``run(...) -> dict`` function, listed
in ``bench.__main__.BENCHMARKS``. ``run`` prints its own table and returns the figures; the
runner adds machine information and writes them to ``bench/results/<name>.json``.
"""

from __future__ import annotations

from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
RESULTS_DIR = ROOT / "bench" / "results"
