"""The examples of the API contract are answers the API could really give, so they cannot rot.

Each example lives on its pydantic model (``json_schema_extra``) and reaches docs/openapi.json from
there. Here every example is validated by its model and must come back unchanged from it: no field
the model does not have, no value it would coerce, and for a success body every field the API
returns (it returns them all, nulls included). Money (``*_fen``) is integer fen, never a float or
a string."""

from __future__ import annotations

import csv
import importlib
import io
import json
import pkgutil
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import pytest
from pydantic import BaseModel

import mall.schemas
from tests.conftest import ROOT

DOCUMENT = json.loads((ROOT / "docs" / "openapi.json").read_text(encoding="utf-8"))


def schema_models() -> dict[str, type[BaseModel]]:
    """Every model defined in a ``mall.schemas`` module, by name (the component name in the document)."""
    found: dict[str, type[BaseModel]] = {}
    for info in pkgutil.iter_modules(mall.schemas.__path__):
        module = importlib.import_module(f"mall.schemas.{info.name}")
        for value in vars(module).values():
            if isinstance(value, type) and issubclass(value, BaseModel) and value.__module__ == module.__name__:
                found[value.__name__] = value
    return found


MODELS = schema_models()


def examples_of(model: type[BaseModel]) -> list[Any]:
    """The examples the model's JSON schema shows: its own or inherited (a subclass inherits its
    parent's config, examples included: they must then fit the subclass too), given as a dict or
    built by a function when the schema is generated."""
    return list(model.model_json_schema(ref_template="#/components/schemas/{model}").get("examples", []))


def success_bodies() -> set[str]:
    """Component names of the 2xx JSON bodies: these examples show the whole answer."""
    names = set()
    for operations in DOCUMENT["paths"].values():
        for operation in operations.values():
            for status, response in operation["responses"].items():
                ref = (response.get("content") or {}).get("application/json", {}).get("schema", {}).get("$ref", "")
                if status.startswith("2") and ref:
                    names.add(ref.rsplit("/", 1)[-1])
    return names


SUCCESS_BODIES = success_bodies()
WITH_EXAMPLES = sorted(name for name, model in MODELS.items() if examples_of(model))


def money_fields(value: Any, path: str = "") -> Iterator[tuple[str, Any]]:
    if isinstance(value, dict):
        for key, item in value.items():
            if key.endswith("_fen"):
                yield f"{path}.{key}", item
            yield from money_fields(item, f"{path}.{key}")
    elif isinstance(value, list):
        for index, item in enumerate(value):
            yield from money_fields(item, f"{path}.{index}")


@pytest.mark.parametrize("name", WITH_EXAMPLES)
def test_each_example_is_a_valid_instance_of_its_model_unchanged(name: str) -> None:
    model = MODELS[name]
    for example in examples_of(model):
        parsed = model.model_validate(example)
        if name in SUCCESS_BODIES:
            assert parsed.model_dump(mode="json", by_alias=True) == example, f"{name}: not the whole answer as sent"
        else:
            assert parsed.model_dump(mode="json", by_alias=True, exclude_unset=True) == example, (
                f"{name}: a field the model does not have or a value it changes")


@pytest.mark.parametrize("name", WITH_EXAMPLES)
def test_money_in_examples_is_integer_fen(name: str) -> None:
    for example in examples_of(MODELS[name]):
        wrong = [(path, value) for path, value in money_fields(example)
                 if value is not None and type(value) is not int]
        assert wrong == [], f"{name}: money must be integer fen"


def test_every_success_body_and_request_body_has_an_example() -> None:
    requests = {operation["requestBody"]["content"]["application/json"]["schema"]["$ref"].rsplit("/", 1)[-1]
                for operations in DOCUMENT["paths"].values() for operation in operations.values()
                if "requestBody" in operation}
    assert sorted((SUCCESS_BODIES | requests) - set(WITH_EXAMPLES)) == []


def test_every_example_in_the_document_comes_from_a_model_checked_here() -> None:
    shown = {name for name, component in DOCUMENT["components"]["schemas"].items() if "examples" in component}
    assert shown, "the document shows no example at all"
    for name in shown:
        assert name in MODELS, f"{name} has examples but is not a model of mall.schemas"
        assert DOCUMENT["components"]["schemas"][name]["examples"] == examples_of(MODELS[name]), (
            f"{name}: docs/openapi.json is stale, run `make openapi`")


def test_the_rules_example_is_what_get_rules_says_for_the_example_settings() -> None:
    """The rules texts are generated; the example shows some of them, word for word."""
    from mall.domain import rules_disclosure
    from mall.domain.settings import DistributionSettings
    from mall.schemas.rules import RulesDisclosure
    from mall.schemas.settings import SettingsVersionView
    from mall.services.rules import to_view

    version = examples_of(SettingsVersionView)[0]
    example = examples_of(RulesDisclosure)[0]
    real = to_view(rules_disclosure.render(
        DistributionSettings.model_validate(version["settings"]), version=version["version"],
        effective_at=datetime.fromisoformat(version["saved_at"]).astimezone(UTC))).model_dump(mode="json")
    assert {key: value for key, value in real.items() if key != "sections"} == {
        key: value for key, value in example.items() if key != "sections"}
    sections = {section["key"]: section for section in real["sections"]}
    for section in example["sections"]:
        assert section["title"] == sections[section["key"]]["title"]
        items = {item["key"]: item for item in sections[section["key"]]["items"]}
        assert [items[item["key"]] for item in section["items"]] == section["items"]


def test_the_withdrawal_csv_example_has_the_export_columns_and_the_json_examples_values() -> None:
    from mall.schemas.withdrawals import WithdrawalPage
    from mall.services.withdrawals.admin import CSV_COLUMNS, EXAMPLE_CSV

    media = DOCUMENT["paths"]["/admin/withdrawals/export"]["get"]["responses"]["200"]["content"]["text/csv"]
    assert [example["value"] for example in media["examples"].values()] == [EXAMPLE_CSV]
    header, *rows = list(csv.reader(io.StringIO(EXAMPLE_CSV)))
    assert header == list(CSV_COLUMNS)
    shown = {item["withdrawal_id"]: item for item in examples_of(WithdrawalPage)[0]["items"]}
    assert [row[0] for row in rows] == list(shown)
    for row in rows:
        cells = dict(zip(CSV_COLUMNS, row, strict=True))
        item = shown[cells["withdrawal_id"]]
        for column in set(CSV_COLUMNS) & set(item):
            assert cells[column] == ("" if item[column] is None else str(item[column])), column
