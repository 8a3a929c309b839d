"""Table.batch_get (used by ProductRepository.get_many): chunks of 100, unprocessed keys retried."""

from __future__ import annotations

from typing import Any

import pytest

from mall.dal import table as table_module
from mall.dal.table import BatchIncomplete, Table, serialize


class FlakyClient:
    """Answers each call with the first key unprocessed ``stubborn`` times, then everything."""

    def __init__(self, stubborn: int) -> None:
        self.calls: list[int] = []
        self.stubborn = stubborn

    def batch_get_item(self, RequestItems: dict[str, Any]) -> dict[str, Any]:
        keys = RequestItems["t"]["Keys"]
        self.calls.append(len(keys))
        if self.stubborn > 0:
            self.stubborn -= 1
            done, left = keys[1:], keys[:1]
        else:
            done, left = keys, []
        items = [{**k, "name": {"S": "x"}} for k in done]
        return {"Responses": {"t": items}, "UnprocessedKeys": {"t": {"Keys": left}} if left else {}}


@pytest.fixture(autouse=True)
def _no_sleep(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(table_module.time, "sleep", lambda _: None)


def keys(n: int) -> list[dict[str, str]]:
    return [{"pk": f"PRODUCT#p_{i:03d}", "sk": "PRODUCT"} for i in range(n)]


def test_unprocessed_keys_are_asked_again_and_duplicates_once() -> None:
    client = FlakyClient(stubborn=2)
    found = Table("t", client).batch_get(keys(3) + keys(1))  # type: ignore[arg-type]
    assert sorted(i["pk"] for i in found) == [k["pk"] for k in keys(3)]
    assert client.calls == [3, 1, 1]
    assert serialize(keys(1)[0])["pk"] == {"S": "PRODUCT#p_000"}


def test_more_than_100_keys_take_several_calls() -> None:
    client = FlakyClient(stubborn=0)
    assert len(Table("t", client).batch_get(keys(250))) == 250  # type: ignore[arg-type]
    assert client.calls == [100, 100, 50]


def test_giving_up_after_every_attempt_is_an_error_not_a_silent_gap() -> None:
    with pytest.raises(BatchIncomplete):
        Table("t", FlakyClient(stubborn=100)).batch_get(keys(2))  # type: ignore[arg-type]
