"""Regular expressions compiled when the layer is built, not at every cold start.

``re.compile`` parses a pattern and translates it to the regular expression engine's code in pure
Python (``re._compiler.compile``), then hands that code to the engine (``_sre.compile``). A function's
init compiles about 120 patterns that way, 108 of them while importing boto3 (botocore, urllib3,
email, http), about 16 ms of CPU (docs/performance.md, "Cold start: dataclass methods and regular
expressions compiled when the layer is built").

The layer's build (layers/shared/Makefile, ``layer-dataclass-code``) records, for each pattern compiled
while every ``mall`` module is imported, what ``re._compiler.compile`` handed to ``_sre.compile`` (the
final flags, the code, the group count and names) and writes them to ``mall/__pattern_code__.marshal``.
At run time ``install`` puts a stand-in for ``re._compiler.compile`` (the one function ``re`` calls to
compile, looked up at each call): a pattern and flags found in the file go straight to
``_sre.compile`` with the recorded arguments; anything else is compiled as before. The engine's pattern
object is then the same: CPython's ``Pattern.__eq__`` compares the pattern, flags and the engine's code,
and tests/unit/test_dataclass_code.py compares every recorded pattern both ways. ``re``'s own cache of
compiled patterns is untouched (it sits above this function).
"""

import marshal
import os
import re
import sys
from importlib.util import MAGIC_NUMBER
from typing import Any

from mall.runtime.dataclass_code import read_built

FILE_NAME = "__pattern_code__.marshal"
FILE = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), FILE_NAME)

_compiler: Any = sys.modules["re._compiler"]
_real_compile = _compiler.compile
#: The file's header: the interpreter's bytecode magic and the regular expression engine's own (its
#: opcodes' version and code word size). The engine's code is only meaningful to the engine that wrote
#: it, and its magic can change without the interpreter's, so a file from any other engine is ignored.
HEADER = MAGIC_NUMBER + f"sre{_compiler._sre.MAGIC}/{_compiler._sre.CODESIZE};".encode()
_known: dict[tuple[str | bytes, int], tuple[Any, ...]] = {}


def _read() -> dict[tuple[str | bytes, int], tuple[Any, ...]]:
    return read_built(FILE, HEADER)


def _compile(p: Any, flags: Any = 0) -> Any:
    if type(p) is str or type(p) is bytes:
        recorded = _known.get((p, flags))
        if recorded is not None:
            final_flags, code, groups, groupindex, indexgroup = recorded
            # Each pattern object gets its own copies, as a compilation makes its own.
            return _compiler._sre.compile(p, final_flags, list(code), groups, dict(groupindex), indexgroup)
    return _real_compile(p, flags)


def install() -> bool:
    """Use the layer's compiled patterns, if it has them (a layer as built; not a source tree)."""
    if _compiler.compile is not _real_compile or _known:
        return False
    known = _read()
    if not known:
        return False
    _known.update(known)
    _compiler.compile = _compile
    return True


def installed() -> bool:
    return _compiler.compile is _compile


def recording() -> tuple[dict[tuple[str | bytes, int], tuple[Any, ...]], Any]:
    """For the build: a dict that fills with every pattern compiled until ``stop()`` is called, and
    ``stop``. What is recorded is what ``re._compiler.compile`` passes to ``_sre.compile``; a pattern
    whose compilation warns (a deprecated escape, say) is left out, so it still warns at run time."""
    import warnings

    recorded: dict[tuple[str | bytes, int], tuple[Any, ...]] = {}
    sre = _compiler._sre
    engine_calls: list[tuple[Any, tuple[Any, ...]]] = []

    class Engine:
        def __getattr__(self, name: str) -> Any:
            return getattr(sre, name)

        @staticmethod
        def compile(pattern: Any, flags: int, code: list[int], groups: int,  # noqa: PLR0917  # _sre's signature
                    groupindex: dict[str, int], indexgroup: tuple[str | None, ...]) -> Any:
            # The code holds the opcodes' named int constants: plain ints have the same values.
            engine_calls.append((pattern, (int(flags), tuple(int(c) for c in code), int(groups), dict(groupindex),
                                           indexgroup)))
            return sre.compile(pattern, flags, code, groups, groupindex, indexgroup)

    def compile_recorded(p: Any, flags: Any = 0) -> Any:
        if not (type(p) is str or type(p) is bytes) or int(flags) & re.DEBUG:
            return _real_compile(p, flags)
        engine_calls.clear()
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            compiled = _real_compile(p, flags)
        for warning in caught:
            warnings.warn_explicit(warning.message, warning.category, warning.filename, warning.lineno)
        if not caught and len(engine_calls) == 1 and engine_calls[0][0] is p:
            recorded.setdefault((p, int(flags)), engine_calls[0][1])
        return compiled

    def stop() -> None:
        _compiler._sre = sre
        _compiler.compile = _real_compile

    _compiler._sre = Engine()
    _compiler.compile = compile_recorded
    return recorded, stop


def write(recorded: dict[tuple[str | bytes, int], tuple[Any, ...]], path: str) -> int:
    with open(path, "wb") as file:
        file.write(HEADER + marshal.dumps(recorded))
    return len(recorded)
