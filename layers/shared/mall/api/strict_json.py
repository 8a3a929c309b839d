"""Request bodies parsed strictly: what the standard parser lets through or turns into a crash
becomes the client's mistake (400 ``malformed_json`` naming the reason), never a 500.

- nesting deeper than ``MAX_DEPTH`` (the standard parser recurses and raises ``RecursionError``
  somewhere past a thousand levels; nothing this API takes is deeper than a handful);
- integers longer than ``MAX_INTEGER_DIGITS`` (Python refuses past 4300 digits with a bare
  ``ValueError``; no amount in fen, count or version comes near 30 digits);
- an object with the same key twice (the standard parser keeps the last one silently, so two
  readers of the same body could disagree about what was sent);
- ``NaN`` / ``Infinity`` (not JSON)."""

from __future__ import annotations

import json
from typing import Any

MAX_DEPTH = 32
MAX_INTEGER_DIGITS = 30


class BodyRefused(ValueError):
    """The body is not JSON this API reads; ``reason`` says why (shown to the client)."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


def _no_duplicate_keys(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    result: dict[str, Any] = {}
    for key, value in pairs:
        if key in result:
            raise BodyRefused(f"the key {key[:64]!r} appears twice in one object")
        result[key] = value
    return result


def _bounded_int(text: str) -> int:
    if len(text.lstrip("-")) > MAX_INTEGER_DIGITS:
        raise BodyRefused(f"an integer has more than {MAX_INTEGER_DIGITS} digits")
    return int(text)


def _no_constant(name: str) -> Any:
    raise BodyRefused(f"{name} is not a JSON value")


def _depth_below_limit(value: Any) -> None:
    stack: list[tuple[Any, int]] = [(value, 1)]
    while stack:
        item, depth = stack.pop()
        if isinstance(item, dict | list):
            if depth > MAX_DEPTH:
                raise BodyRefused(f"nested deeper than {MAX_DEPTH} levels")
            children = item.values() if isinstance(item, dict) else item
            stack.extend((child, depth + 1) for child in children)


def loads(text: str | bytes) -> Any:
    """The parsed body, or ``BodyRefused`` (malformed JSON included: ``json.JSONDecodeError`` is
    turned into one with the parser's message)."""
    try:
        value = json.loads(text, object_pairs_hook=_no_duplicate_keys, parse_int=_bounded_int,
                           parse_constant=_no_constant)
    except BodyRefused:
        raise
    except RecursionError as exc:
        raise BodyRefused(f"nested deeper than {MAX_DEPTH} levels") from exc
    except json.JSONDecodeError as exc:
        raise BodyRefused(f"not valid JSON: {exc.msg} at position {exc.pos}") from exc
    except ValueError as exc:
        raise BodyRefused("not valid JSON") from exc
    _depth_below_limit(value)
    return value
