"""Standard-library modules a dependency imports for code this project never runs, loaded when first used.

The X-Ray SDK (on the traced functions: ``mall.observability.xray_tracer``) imports ``wrapt``, whose
``wrapt.synchronization`` imports ``asyncio`` at module level for its ``synchronized`` decorator's
coroutine support; nothing here runs that code, and neither the SDK's synchronous recorder, Powertools'
Tracer nor the botocore patch touches ``asyncio`` on a request. Importing ``asyncio`` costs about 10 ms of
CPU, half of what the SDK costs a cold start (docs/performance.md, "Cold start: place order's init").

``on_first_use("asyncio")`` puts a stand-in in ``sys.modules``, so the next ``import asyncio`` binds it
without running anything. The first time anything reads one of its attributes (``asyncio.run``, ``from
asyncio import Lock``, ``import asyncio.events``), the real module is imported, takes the stand-in's
place in ``sys.modules``, and answers that read and every later one: a caller that uses it gets the real
module, complete, at that moment; one that only imports it pays nothing. One question is answered
without importing: ``asyncio.current_task()``, which ``logging`` asks for every record, raises as it does
when no event loop runs (none can, before ``asyncio`` is imported). (The standard library's
``importlib.util.LazyLoader`` does not do this here: an ``import`` statement of a module already in
``sys.modules`` reads an attribute, which executes it.)"""

from __future__ import annotations

import importlib
import importlib.util
import sys
import threading
from types import ModuleType
from typing import Any

_lock = threading.RLock()


def _no_running_loop() -> None:
    """``asyncio.current_task()`` before ``asyncio`` was ever imported: no event loop can be running, and
    the real function raises this when none is."""
    raise RuntimeError("no running event loop")


#: What a stand-in answers without importing its module: exactly what the module would answer in a process
#: that never imported it. ``logging`` asks ``asyncio.current_task()`` for every record once ``asyncio`` is
#: in ``sys.modules`` (``logging.logAsyncioTasks``) and takes the ``RuntimeError`` as "no task".
_ANSWERED_UNLOADED: dict[str, dict[str, Any]] = {"asyncio": {"current_task": _no_running_loop}}


class _OnFirstUse(ModuleType):
    """Stands for a module not imported yet; the first attribute read imports it."""

    def _real(self) -> ModuleType:
        name = self.__name__
        with _lock:
            real = self.__dict__.get("_on_first_use_module")
            if real is None:
                if sys.modules.get(name) is self:
                    del sys.modules[name]
                try:
                    real = importlib.import_module(name)
                except BaseException:
                    sys.modules.setdefault(name, self)
                    raise
                self.__dict__["_on_first_use_module"] = real
        return real

    def __getattr__(self, attr: str) -> Any:  # only for what the stand-in itself lacks
        real = self.__dict__.get("_on_first_use_module")
        if real is None and attr in _ANSWERED_UNLOADED.get(self.__name__, {}):
            return _ANSWERED_UNLOADED[self.__name__][attr]
        return getattr(real if real is not None else self._real(), attr)

    def __setattr__(self, attr: str, value: Any) -> None:
        setattr(self._real(), attr, value)

    def __delattr__(self, attr: str) -> None:
        delattr(self._real(), attr)

    def __dir__(self) -> list[str]:
        return dir(self._real())


def on_first_use(name: str) -> None:
    """Make the next ``import name`` cheap: the module is imported when first used. Nothing happens if it
    is imported already, or cannot be found. Not for the project's own modules, which import what they use."""
    if name == "mall" or name.startswith("mall."):
        raise ValueError(f"{name}: a first-party module is imported, not stood in for")
    if name in sys.modules:
        return
    spec = importlib.util.find_spec(name)
    if spec is None:
        return
    stand_in = _OnFirstUse(name, None)
    # Answered by the stand-in itself, as the module would: its spec (``importlib.util.find_spec`` of a
    # module in ``sys.modules`` returns it) and file (``inspect.getmodule`` reads every module's). Written to
    # its namespace directly: its ``__setattr__`` is the real module's. Not ``__path__``: a submodule's
    # import must load the package first.
    stand_in.__dict__.update(__spec__=spec, __file__=spec.origin)
    sys.modules[name] = stand_in


def is_loaded(name: str) -> bool:
    """Whether ``name`` is imported and not a stand-in nothing has used yet."""
    module = sys.modules.get(name)
    return module is not None and not (isinstance(module, _OnFirstUse)
                                       and "_on_first_use_module" not in module.__dict__)
