"""One cursor codec for the whole process: services page through it and no handler or service
handles the signing key; cursors stay signed and bound to the list that issued them."""

from __future__ import annotations

import importlib
import inspect
import pkgutil
import secrets

import pytest

import mall.services
from mall.api.cursor import CursorCodec, cursors, encode_cursor
from mall.errors import InvalidInput
from tests.conftest import ROOT


def test_no_service_or_handler_takes_the_cursor_signing_key() -> None:
    takers = []
    for info in pkgutil.iter_modules(mall.services.__path__, "mall.services."):
        module = importlib.import_module(info.name)
        for name, function in inspect.getmembers(module, inspect.isfunction):
            if function.__module__ == info.name and "cursor_key" in inspect.signature(function).parameters:
                takers.append(f"{info.name}.{name}")
    takers += [str(path.relative_to(ROOT)) for path in sorted((ROOT / "functions").glob("*/app.py"))
               if "cursor_key" in path.read_text()]
    assert not takers


def test_a_cursor_reads_back_only_in_the_list_it_came_from() -> None:
    position = {"pk": "USER#u1", "sk": "LEDGER#2026-11-20T08:00:00Z"}
    cursor = cursors.encode(position)
    assert cursor is not None
    assert cursors.decode(cursor, partition=("pk", "USER#u1")) == position
    with pytest.raises(InvalidInput) as refused:
        cursors.decode(cursor, partition=("pk", "USER#u2"))
    assert refused.value.code == "invalid_cursor"
    assert cursors.encode(None) is None and cursors.decode(None) is None


def test_a_cursor_signed_with_another_key_is_refused() -> None:
    forged = encode_cursor({"pk": "USER#u1"}, key=secrets.token_bytes(32))
    with pytest.raises(InvalidInput):
        cursors.decode(forged)


def test_the_codec_reads_the_key_on_each_use_so_a_rotated_key_takes_effect() -> None:
    current = [b"first key"]
    codec = CursorCodec(lambda: current[0])
    before = codec.encode({"pk": "X"})
    current[0] = b"rotated key"
    with pytest.raises(InvalidInput):
        codec.decode(before)
    assert codec.decode(codec.encode({"pk": "X"})) == {"pk": "X"}
