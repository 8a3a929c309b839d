"""Dataclass methods compiled when the layer is built, not at every cold start.

``@dataclass`` writes the source of each class's ``__init__``, ``__repr__``, ``__eq__``, ``__hash__``
(and ``__setattr__``/``__delattr__`` when frozen) as text and compiles it with ``exec`` while the class
is created: about three quarters of the 0.5-0.8 ms a frozen class costs, and a customer-facing function
creates 20 to 110 of them (with pydantic's and annotated_types' own) before its first request
(docs/performance.md, "Cold start: dataclass methods and regular expressions compiled when the layer is
built"; mall.runtime.pattern_code does the same for regular expressions, in the same build step).

The layer's build (layers/shared/Makefile, ``layer-dataclass-code``) imports every ``mall`` module,
records each text the ``dataclasses`` module compiles, and writes the compiled code next to the layer's
bytecode: one marshal file per defining module under ``mall/__dataclass_code__``, a dict from the exact
text to its code object. At run time ``install`` puts a stand-in for ``exec`` in the ``dataclasses``
module's namespace (its one call site, ``_FuncBuilder.add_fns_to_class``, finds the module global
before the builtin): a text found in its module's file runs the stored code; any other text (a class
changed since the build, another Python's ``dataclasses``, a module without a file) is compiled as
before. The stored code is ``compile(text, "<string>", "exec", dont_inherit=True)``, which is what
``exec(text, ...)`` compiles from a caller without ``__future__`` imports, so a class gets the same
methods either way (tests/unit/test_dataclass_code.py compares their code object by object).

No ``from __future__ import annotations`` in this module: ``exec`` of a text inherits the calling frame's
future flags, and ``_exec`` is that frame when a text is not in the cache; with the flag, annotations in
the generated ``__init__`` would become strings.
"""

import builtins
import dataclasses
import marshal
import os
import sys
from importlib.util import MAGIC_NUMBER
from types import CodeType
from typing import Any

# Only what a cold start imports anyway: the build's own needs (importlib, pkgutil, tempfile) are
# imported by the build functions.

#: The directory of the compiled texts, inside the layer's ``mall`` package (absent from a source tree).
DIRECTORY_NAME = "__dataclass_code__"
DIRECTORY = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), DIRECTORY_NAME)
SUFFIX = ".marshal"

_real_exec = builtins.exec
_loaded: dict[str, dict[str, CodeType]] = {}


def read_built(path: str, header: bytes) -> dict[Any, Any]:
    """A dict the layer's build wrote with ``marshal`` after ``header``; empty when the file is absent,
    starts otherwise (another Python's, another engine's) or does not hold a dict."""
    try:
        with open(path, "rb") as file:
            data = file.read()
    except OSError:
        return {}
    if not data.startswith(header):
        return {}
    try:
        found = marshal.loads(data[len(header):])  # noqa: S302  # the layer's own build wrote it
    except (EOFError, ValueError, TypeError):
        return {}
    return found if isinstance(found, dict) else {}


def _read(module: str) -> dict[str, CodeType]:
    """The module's compiled texts; none when it has no file or the file is another Python's."""
    return read_built(os.path.join(DIRECTORY, module + SUFFIX), MAGIC_NUMBER)


def _exec(source: Any, globals: Any = None, locals: Any = None, /) -> None:
    if type(source) is str and type(globals) is dict:
        module = globals.get("__name__")
        if type(module) is str:
            codes = _loaded.get(module)
            if codes is None:
                codes = _loaded[module] = _read(module)
            code = codes.get(source)
            if code is not None:
                return _real_exec(code, globals, locals)
    return _real_exec(source, globals, locals)


def install() -> bool:
    """Use the layer's compiled texts, if it has them (a layer as built; not a source tree).
    Leaves ``dataclasses`` alone when someone already replaced its ``exec`` (the build's recorder)."""
    if "exec" in vars(dataclasses) or not os.path.isdir(DIRECTORY):
        return False
    dataclasses.exec = _exec  # type: ignore[attr-defined]
    return True


def installed() -> bool:
    return vars(dataclasses).get("exec") is _exec


# The build ---------------------------------------------------------------------------------------

def record_all(package: str = "mall") -> tuple[dict[str, list[str]], dict[Any, Any]]:
    """Import every module of ``package`` and return, per defining module, each text ``dataclasses``
    compiled meanwhile (the package's own classes and those of what it imports: pydantic, Powertools),
    and the regular expressions compiled meanwhile (``mall.runtime.pattern_code``)."""
    import importlib
    import importlib.util
    import pkgutil
    import re

    texts: dict[str, list[str]] = {}

    def recorder(source: Any, globals: Any = None, locals: Any = None, /) -> None:
        if type(source) is str and type(globals) is dict and type(globals.get("__name__")) is str:
            texts.setdefault(globals["__name__"], []).append(source)
        return _real_exec(source, globals, locals)

    dataclasses.exec = recorder  # type: ignore[attr-defined]
    try:
        root = importlib.import_module(package)
        pattern_code = importlib.import_module(package + ".runtime.pattern_code")
        re.purge()  # a pattern already in re's cache would not be compiled again, so not recorded
        patterns, stop = pattern_code.recording()
        try:
            for info in pkgutil.walk_packages(root.__path__, package + "."):
                importlib.import_module(info.name)
            # The packages mall.api loads without their __init__ (mall.api.lean_powertools) are loaded in
            # full by functions that reach them another way (the workers' event classes): theirs too.
            lean = sys.modules.get(package + ".api.lean_powertools")
            for name in getattr(lean, "LEAN_PACKAGES", ()):
                spec = importlib.util.find_spec(name)
                if spec is not None and spec.loader is not None:
                    spec.loader.exec_module(sys.modules[name])
        finally:
            stop()
    finally:
        del dataclasses.exec  # type: ignore[attr-defined]
    return texts, patterns


def write(texts: dict[str, list[str]], directory: str) -> int:
    """One file per module: ``MAGIC_NUMBER`` then the marshalled dict text → code. Returns the count."""
    os.makedirs(directory, exist_ok=True)
    count = 0
    for module, sources in sorted(texts.items()):
        codes = {text: compile(text, "<string>", "exec", dont_inherit=True) for text in sources}
        with open(os.path.join(directory, module + SUFFIX), "wb") as file:
            file.write(MAGIC_NUMBER + marshal.dumps(codes))
        count += len(codes)
    return count


def build(site: str) -> int:
    """Write ``site/mall/__dataclass_code__`` for the layer under ``site``.

    Run by an interpreter that can import the layer's dependencies on the build machine (the layer's
    own are built for the runtime's platform): ``mall`` is imported from ``site`` through a scratch
    directory that holds only a link to it, so the dependencies come from that interpreter's
    environment (the same pinned versions; a text that differs is only not found at run time)."""
    import tempfile

    package = os.path.join(os.path.abspath(site), "mall")
    with tempfile.TemporaryDirectory(prefix="dataclass-code-") as scratch:
        os.symlink(package, os.path.join(scratch, "mall"))
        sys.path.insert(0, scratch)
        texts, patterns = record_all("mall")
        pattern_code = sys.modules["mall.runtime.pattern_code"]
        pattern_code.write(patterns, os.path.join(package, pattern_code.FILE_NAME))
    print(f"regular expressions: {len(patterns)} compiled")
    return write(texts, os.path.join(package, DIRECTORY_NAME))


if __name__ == "__main__":
    # Run by path (``python -I -B .../mall/runtime/dataclass_code.py SITE``): the script's own
    # directory is not a place to import from.
    here = os.path.dirname(os.path.abspath(__file__))
    sys.path[:] = [p for p in sys.path if os.path.abspath(p or ".") != here]
    written = build(sys.argv[1])
    print(f"dataclass code: {written} class texts compiled")
