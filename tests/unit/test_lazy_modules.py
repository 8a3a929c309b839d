"""``mall.runtime.lazy_modules``: a module imported for code never run is loaded when first used, and is
then the real module, complete (docs/performance.md, "Cold start: place order's init").

Each case runs in a fresh interpreter: pytest's own process has ``asyncio`` loaded already."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap

from tests.conftest import ROOT

_PRELUDE = textwrap.dedent("""
    import json, sys
    sys.path.insert(0, sys.argv[1])
    from mall.runtime.lazy_modules import is_loaded, on_first_use
    assert "asyncio" not in sys.modules
    on_first_use("asyncio")
""")


def _run(body: str) -> dict[str, object]:
    done = subprocess.run([sys.executable, "-I", "-c", _PRELUDE + textwrap.dedent(body), str(ROOT / "layers/shared")],
                          capture_output=True, text=True, timeout=60, check=False)
    assert done.returncode == 0, done.stderr
    result: dict[str, object] = json.loads(done.stdout.strip().splitlines()[-1])
    return result


def test_an_import_costs_nothing_until_the_module_is_used() -> None:
    result = _run("""
        import logging
        import asyncio
        logging.basicConfig(stream=sys.stderr)
        logging.getLogger("t").warning("a record asks asyncio for its task")  # logging.logAsyncioTasks
        try:
            asyncio.current_task()
            answered = "a task"
        except RuntimeError as exc:
            answered = str(exc)
        import importlib.util, inspect
        found = importlib.util.find_spec("asyncio").name
        inspect.getmodule(json.dumps)  # reads every module's __file__
        print(json.dumps({"loaded": is_loaded("asyncio"), "events": "asyncio.events" in sys.modules,
                          "answered": answered, "found": found, "file": asyncio.__file__.endswith("__init__.py")}))
    """)
    assert result == {"loaded": False, "events": False, "answered": "no running event loop", "found": "asyncio",
                      "file": True}


def test_the_first_use_loads_the_real_module_for_every_holder() -> None:
    result = _run("""
        import asyncio as held  # bound before the first use, as wrapt.synchronization binds it

        async def two() -> int:
            return 2

        ran = held.run(two())
        import asyncio
        from asyncio import Lock
        import asyncio.events
        real = sys.modules["asyncio"]
        print(json.dumps({"ran": ran, "loaded": is_loaded("asyncio"), "real_in_modules": type(real).__name__,
                          "same_lock": Lock is real.Lock is held.Lock, "events": asyncio.events is real.events,
                          "current_task_is_real": held.current_task is real.current_task}))
    """)
    assert result == {"ran": 2, "loaded": True, "real_in_modules": "module", "same_lock": True, "events": True,
                      "current_task_is_real": True}


def test_a_submodule_import_first_loads_the_package() -> None:
    result = _run("""
        import asyncio.events
        policy = type(asyncio.events.get_event_loop_policy()).__name__
        print(json.dumps({"loaded": is_loaded("asyncio"), "policy": policy}))
    """)
    assert result["loaded"] is True and str(result["policy"]).endswith("EventLoopPolicy")


def test_a_module_imported_already_unknown_or_first_party_is_left_alone() -> None:
    result = _run("""
        import asyncio
        asyncio.run  # loaded now
        real = sys.modules["asyncio"]
        on_first_use("asyncio")
        on_first_use("no_such_module_here")
        try:
            on_first_use("mall.config")
            refused = False
        except ValueError:
            refused = "mall.config" not in sys.modules
        print(json.dumps({"kept": sys.modules["asyncio"] is real, "unknown": "no_such_module_here" in sys.modules,
                          "first_party_refused": refused}))
    """)
    assert result == {"kept": True, "unknown": False, "first_party_refused": True}
