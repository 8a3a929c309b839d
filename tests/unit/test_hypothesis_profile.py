"""Property tests carry no per-example deadline (tests/conftest.py): a slow moment of a shared CI
machine must not fail a property that holds."""

from __future__ import annotations

from hypothesis import settings


def test_the_loaded_hypothesis_profile_has_no_deadline() -> None:
    assert settings.default.deadline is None
