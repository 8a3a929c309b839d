"""The cyclic garbage collector paused while a Lambda environment initialises (docs/performance.md, "Cold
start: the garbage collector paused during init").

A cold start creates a few hundred thousand objects (modules, classes, functions, models, botocore's
service data) that live as long as the environment, and the collector walks them again each time a
generation fills: 18-30 ms of CPU per function, about a tenth of the baseline. ``pause`` (the layer's
first import, in a Lambda environment only) disables the collector; ``resume`` (the entry point, the last
thing a handler module runs) moves everything init created to the permanent generation (``gc.freeze``),
so later collections do not walk it either, and enables the collector again. What init leaves as
cyclic garbage stays allocated for the environment's life (once, bounded by init); reference counting
frees everything else as usual. Outside Lambda (tests, tools, the bench's baseline) nothing changes."""

from __future__ import annotations

import gc
import os

#: Whether ``pause`` disabled the collector (so ``resume`` re-enables only what it disabled).
_state = {"paused": False}


def in_lambda() -> bool:
    """Lambda's runtime (and the local stack and the bench, which stand in for it) names itself here."""
    return os.environ.get("AWS_EXECUTION_ENV", "").startswith("AWS_Lambda_")


def pause() -> None:
    if not _state["paused"] and in_lambda() and gc.isenabled():
        gc.disable()
        _state["paused"] = True


def resume() -> None:
    """End of init: what exists now lives for the environment's life; collect from here on as usual."""
    if _state["paused"]:
        _state["paused"] = False
        gc.freeze()
        gc.enable()
