"""Lambda event filtering (``FilterCriteria``) for event source mappings.

A record is delivered if it matches ANY of the filters; a filter matches if every key
in it matches (recursively for nested objects). A key's value is a list of matchers, of
which one must match: literal strings, numbers, booleans and ``null`` (exact match), or
``{"prefix": s}``, ``{"suffix": s}``, ``{"equals-ignore-case": s}``,
``{"anything-but": value | [values] | {"prefix": s} | {"suffix": s}}``,
``{"numeric": [">", 0, "<=", 5]}``, ``{"exists": true | false}``, ``{"wildcard": "a*b"}``.
``"$or": [pattern, ...]`` at any level matches if any of its patterns does. When the
record's value is a list, the matcher matches if any element does.

For DynamoDB streams the pattern applies to the stream record as the function receives
it (``{"eventName": ["INSERT"], "dynamodb": {"NewImage": {"status": {"S": ["PAID"]}}}}``);
for SQS to the record with ``body`` parsed when it is JSON.
"""

from __future__ import annotations

import fnmatch
import re
from collections.abc import Iterable, Mapping
from typing import Any

_MISSING = object()


def matches_any(record: Mapping[str, Any], patterns: Iterable[Mapping[str, Any]]) -> bool:
    """True if there are no patterns, or if the record matches at least one of them."""
    patterns = list(patterns)
    return not patterns or any(matches(record, p) for p in patterns)


def matches(record: Any, pattern: Mapping[str, Any]) -> bool:
    for key, rule in pattern.items():
        if key == "$or":
            if not any(matches(record, sub) for sub in rule):
                return False
            continue
        value = record.get(key, _MISSING) if isinstance(record, Mapping) else _MISSING
        if isinstance(rule, Mapping):
            if value is _MISSING or not _object_matches(value, rule):
                return False
        elif isinstance(rule, list):
            if not _value_matches(value, rule):
                return False
        else:
            raise ValueError(f"filter value for {key!r} must be an object or a list, got {rule!r}")
    return True


def _object_matches(value: Any, rule: Mapping[str, Any]) -> bool:
    if isinstance(value, list):
        return any(isinstance(v, Mapping) and matches(v, rule) for v in value)
    return isinstance(value, Mapping) and matches(value, rule)


def _value_matches(value: Any, matchers: list[Any]) -> bool:
    for matcher in matchers:
        if isinstance(matcher, Mapping) and "exists" in matcher:
            if bool(matcher["exists"]) == (value is not _MISSING):
                return True
            continue
        if value is _MISSING:
            continue
        candidates = value if isinstance(value, list) else [value]
        if any(_one(candidate, matcher) for candidate in candidates):
            return True
    return False


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _one(value: Any, matcher: Any) -> bool:  # noqa: PLR0911 - one return per operator
    if not isinstance(matcher, Mapping):
        if _is_number(matcher) and _is_number(value):
            return float(value) == float(matcher)
        return type(value) is type(matcher) and value == matcher
    if "prefix" in matcher:
        return _prefix(value, matcher["prefix"])
    if "suffix" in matcher:
        return _suffix(value, matcher["suffix"])
    if "equals-ignore-case" in matcher:
        return isinstance(value, str) and value.casefold() == str(matcher["equals-ignore-case"]).casefold()
    if "anything-but" in matcher:
        return _anything_but(value, matcher["anything-but"])
    if "numeric" in matcher:
        return _is_number(value) and _numeric(float(value), matcher["numeric"])
    if "wildcard" in matcher:
        return isinstance(value, str) and fnmatch.fnmatchcase(value, str(matcher["wildcard"]).replace("[", "[[]"))
    if "cidr" in matcher:
        return False
    raise ValueError(f"unsupported filter operator: {dict(matcher)!r}")


def _prefix(value: Any, rule: Any) -> bool:
    if isinstance(rule, Mapping) and "equals-ignore-case" in rule:
        return isinstance(value, str) and value.casefold().startswith(str(rule["equals-ignore-case"]).casefold())
    return isinstance(value, str) and value.startswith(str(rule))


def _suffix(value: Any, rule: Any) -> bool:
    if isinstance(rule, Mapping) and "equals-ignore-case" in rule:
        return isinstance(value, str) and value.casefold().endswith(str(rule["equals-ignore-case"]).casefold())
    return isinstance(value, str) and value.endswith(str(rule))


def _anything_but(value: Any, rule: Any) -> bool:
    if isinstance(rule, Mapping):
        if "prefix" in rule:
            return isinstance(value, str) and not value.startswith(str(rule["prefix"]))
        if "suffix" in rule:
            return isinstance(value, str) and not value.endswith(str(rule["suffix"]))
        if "equals-ignore-case" in rule:
            banned = rule["equals-ignore-case"]
            banned_list = banned if isinstance(banned, list) else [banned]
            return isinstance(value, str) and value.casefold() not in {str(b).casefold() for b in banned_list}
        raise ValueError(f"unsupported anything-but rule: {dict(rule)!r}")
    banned = rule if isinstance(rule, list) else [rule]
    return not any(_one(value, b) for b in banned)


_OPS = {
    "=": lambda a, b: a == b,
    "<": lambda a, b: a < b,
    "<=": lambda a, b: a <= b,
    ">": lambda a, b: a > b,
    ">=": lambda a, b: a >= b,
}
_NUMERIC_TOKEN = re.compile(r"^(=|<|<=|>|>=)$")


def _numeric(value: float, spec: list[Any]) -> bool:
    if len(spec) % 2:
        raise ValueError(f"numeric filter needs operator/value pairs: {spec!r}")
    for op, bound in zip(spec[::2], spec[1::2], strict=True):
        if not isinstance(op, str) or not _NUMERIC_TOKEN.match(op):
            raise ValueError(f"bad numeric operator {op!r}")
        if not _OPS[op](value, float(bound)):
            return False
    return True
