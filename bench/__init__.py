"""Benchmarks that print their figures (``make bench`` → ``python -m bench``).

Each benchmark is a module ``bench/<name>.py`` with a ``run(...) -> dict`` function, listed
in ``bench.__main__.BENCHMARKS``. ``run`` prints its own table and returns the figures; the
runner adds machine information and writes them to ``bench/results/<name>.json``.
"""

from __future__ import annotations

import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
RESULTS_DIR = ROOT / "bench" / "results"

# The shared layer, as Lambda puts it on the path (/opt/python), for every benchmark module.
if str(ROOT / "layers" / "shared") not in sys.path:
    sys.path.insert(0, str(ROOT / "layers" / "shared"))
