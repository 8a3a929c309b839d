"""Every function has sample events, and each one runs through its handler without a 5xx."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from local.hooks import expand_event
from local.template import load_template
from tests.conftest import ROOT, TEMPLATE

FUNCTIONS = load_template(TEMPLATE).functions
#: Parameters that keep a function for one staged release (docs/runbook.md): its sample events run
#: on a stack deployed with them, since the default stack no longer has it.
STAGED = {"TrackingQueueKept": "1"}
STAGED_FUNCTIONS = load_template(TEMPLATE, parameters=STAGED).functions


@pytest.fixture(scope="module")
def staged_stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    from local.testing import local_stack

    with local_stack(TEMPLATE, data_dir=Path(tmp_path_factory.mktemp("staged")), parameters=STAGED) as running:
        yield running


@pytest.mark.parametrize("logical_id", sorted(FUNCTIONS))
def test_every_function_has_a_sample_event(logical_id: str) -> None:
    code_dir = FUNCTIONS[logical_id].code_dir.name
    assert sorted((ROOT / "events").glob(f"{code_dir}*.json")), f"add events/{code_dir}.json"


def _owner(event_file: Any) -> Any:
    """The function whose directory name is the longest prefix of the event's file name
    (``order_refund_request_list.json`` belongs to ``order_refund_request``, not ``order``)."""
    owners = [spec for spec in STAGED_FUNCTIONS.values() if event_file.name.startswith(spec.code_dir.name)]
    assert owners, f"{event_file.name} names no function directory"
    return max(owners, key=lambda spec: len(spec.code_dir.name))


@pytest.mark.parametrize("event_file", sorted((ROOT / "events").glob("*.json")), ids=lambda p: p.name)
def test_sample_event_runs_without_a_server_error(stack: Any, event_file: Any, request: pytest.FixtureRequest) -> None:
    owner = _owner(event_file)
    if owner.logical_id not in FUNCTIONS:
        stack = request.getfixturevalue("staged_stack")
    event = json.loads(expand_event(event_file.read_text(encoding="utf-8"), dict(stack.env)))
    result = stack.invoke(owner.logical_id, event)  # a handler exception fails here
    if isinstance(result, dict) and "statusCode" in result:
        assert result["statusCode"] < 500, result
    if isinstance(result, dict) and "batchItemFailures" in result:
        # Stream / queue workers report records they could not process; a sample must process.
        assert result["batchItemFailures"] == [], result
