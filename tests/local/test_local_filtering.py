"""Lambda event filtering patterns (FilterCriteria)."""

from __future__ import annotations

import pytest

from local.filtering import matches, matches_any

RECORD = {
    "eventName": "MODIFY",
    "dynamodb": {
        "Keys": {"pk": {"S": "order#1"}},
        "NewImage": {"status": {"S": "PAID"}, "total": {"N": "120"}, "tags": {"SS": ["a", "b"]}},
    },
    "amount": 42,
    "flag": True,
    "nothing": None,
    "empty": "",
    "list": ["x", "y"],
}


@pytest.mark.parametrize(
    ("pattern", "expected"),
    [
        ({"eventName": ["MODIFY"]}, True),
        ({"eventName": ["INSERT", "MODIFY"]}, True),
        ({"eventName": ["INSERT"]}, False),
        ({"dynamodb": {"NewImage": {"status": {"S": ["PAID"]}}}}, True),
        ({"dynamodb": {"NewImage": {"status": {"S": ["PENDING"]}}}}, False),
        ({"dynamodb": {"OldImage": {"status": {"S": ["PAID"]}}}}, False),  # missing object
        ({"dynamodb": {"Keys": {"pk": {"S": [{"prefix": "order#"}]}}}}, True),
        ({"dynamodb": {"Keys": {"pk": {"S": [{"prefix": "user#"}]}}}}, False),
        ({"dynamodb": {"Keys": {"pk": {"S": [{"suffix": "#1"}]}}}}, True),
        ({"eventName": [{"anything-but": ["REMOVE"]}]}, True),
        ({"eventName": [{"anything-but": "MODIFY"}]}, False),
        ({"eventName": [{"anything-but": {"prefix": "MOD"}}]}, False),
        ({"eventName": [{"equals-ignore-case": "modify"}]}, True),
        ({"amount": [{"numeric": [">", 40, "<=", 42]}]}, True),
        ({"amount": [{"numeric": ["<", 40]}]}, False),
        ({"amount": [{"numeric": ["=", 42]}]}, True),
        ({"amount": [42]}, True),
        ({"amount": ["42"]}, False),  # a string is not a number
        ({"dynamodb": {"NewImage": {"total": {"N": [{"numeric": [">", 100]}]}}}}, False),  # N is a string
        ({"flag": [True]}, True),
        ({"nothing": [None]}, True),
        ({"empty": [""]}, True),
        ({"dynamodb": {"NewImage": {"status": [{"exists": True}]}}}, True),
        ({"dynamodb": {"NewImage": {"gone": [{"exists": False}]}}}, True),
        ({"dynamodb": {"NewImage": {"status": [{"exists": False}]}}}, False),
        ({"list": ["y"]}, True),  # any element of a list
        ({"dynamodb": {"NewImage": {"tags": {"SS": ["b"]}}}}, True),
        ({"eventName": [{"wildcard": "MOD*"}]}, True),
        ({"eventName": ["MODIFY"], "amount": [1]}, False),  # every key must match
        ({"$or": [{"eventName": ["INSERT"]}, {"amount": [42]}]}, True),
        ({"$or": [{"eventName": ["INSERT"]}, {"amount": [1]}]}, False),
    ],
)
def test_patterns(pattern: dict, expected: bool) -> None:
    assert matches(RECORD, pattern) is expected


def test_matches_any() -> None:
    assert matches_any(RECORD, [])  # no filter: everything passes
    assert matches_any(RECORD, [{"eventName": ["INSERT"]}, {"eventName": ["MODIFY"]}])
    assert not matches_any(RECORD, [{"eventName": ["INSERT"]}, {"eventName": ["REMOVE"]}])


def test_bad_patterns_raise() -> None:
    with pytest.raises(ValueError, match="object or a list"):
        matches(RECORD, {"eventName": "MODIFY"})
    with pytest.raises(ValueError, match="unsupported"):
        matches(RECORD, {"eventName": [{"regex": "M.*"}]})
