"""Two Powertools packages made lean: their submodules without their ``__init__``.

``aws_lambda_powertools.event_handler`` imports every resolver it offers from its ``__init__``
(AppSync's brings asyncio; Bedrock's, VPC Lattice's, the function URL's), and
``aws_lambda_powertools.utilities.data_classes`` some forty event classes (one brings zipfile,
tempfile and lzma). An HTTP function uses one resolver and one event class; the rest cost about a
tenth of the cold-start baseline (docs/performance.md, "Cold start").

``install`` registers each package as a module whose ``__init__`` has not run: its submodules import
as usual (the package's path is set), and a name the ``__init__`` defines is imported from the
submodule that defines it, on first use. Which submodule that is comes from the ``__init__``'s own
``from ... import`` lines; any other name runs the real ``__init__`` first, so nothing the package
offers goes missing. ``mall.api`` installs it, so it takes effect when a handler's first import of
the event handler goes through ``mall.api``.

Powertools offers no lighter way in: importing a submodule (``event_handler.api_gateway``, as its
docs show) runs its package's ``__init__`` first, so the whole saving (about 0.13x of the baseline's
CPU time, docs/performance.md) depends on this module. Skipping an ``__init__`` is safe only while it
does nothing but import its own submodules: tests/unit/test_cold_start_imports.py pins that on the
Powertools version the layer ships, so an upgrade that changes it fails there, not in production.
"""

from __future__ import annotations

import ast
import importlib
import importlib.util
import sys
from importlib.machinery import ModuleSpec
from pathlib import Path
from typing import Any

LEAN_PACKAGES = ("aws_lambda_powertools.event_handler", "aws_lambda_powertools.utilities.data_classes")


def install() -> None:
    """Register the lean packages; a package already imported (in full) is left as it is."""
    for name in LEAN_PACKAGES:
        if name not in sys.modules:
            _install(name)


def exported_names(spec: ModuleSpec) -> dict[str, tuple[str, str]]:
    """Each name the package's ``__init__`` imports from one of its submodules: name → (submodule, attribute)."""
    names: dict[str, tuple[str, str]] = {}
    if spec.origin is None:
        return names
    for node in ast.parse(Path(spec.origin).read_text(encoding="utf-8")).body:
        if not isinstance(node, ast.ImportFrom) or not node.module:
            continue
        module = f"{spec.name}.{node.module}" if node.level == 1 else node.module
        if module.startswith(f"{spec.name}."):
            for alias in node.names:
                names[alias.asname or alias.name] = (module, alias.name)
    return names


def _install(name: str) -> None:
    spec = importlib.util.find_spec(name)
    if spec is None or spec.loader is None or spec.origin is None or spec.submodule_search_locations is None:
        return
    loader = spec.loader
    module = importlib.util.module_from_spec(spec)
    exported = exported_names(spec)
    initialised = False

    def __getattr__(attr: str) -> Any:  # the module-level hook of PEP 562
        nonlocal initialised
        if attr in exported:
            source, real = exported[attr]
            value = getattr(importlib.import_module(source), real)
            setattr(module, attr, value)
            return value
        # A submodule not imported yet: ``from package import submodule`` asks this first, and the
        # import system imports the submodule when the answer is no.
        if attr.startswith("__") or initialised or importlib.util.find_spec(f"{name}.{attr}") is not None:
            raise AttributeError(f"module {name!r} has no attribute {attr!r}")
        initialised = True
        loader.exec_module(module)
        return getattr(module, attr)

    module.__dict__["__getattr__"] = __getattr__
    sys.modules[name] = module
    parent, _, child = name.rpartition(".")
    setattr(sys.modules[parent], child, module)
