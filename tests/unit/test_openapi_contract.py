"""The OpenAPI document is a contract clients are generated from: every operation documents its
success body by a named model, even where the route also lists its errors, and shows an example of it."""

from __future__ import annotations

import json
from typing import Any

import pytest
from pydantic import BaseModel, ConfigDict

from mall.api.http import make_resolver
from mall.api.params import error_response
from tools.gen_openapi import operations_without_example, undocumented_operations


class Thing(BaseModel):
    thing_id: str


class ShownThing(BaseModel):
    model_config = ConfigDict(json_schema_extra={"examples": [{"thing_id": "t_01"}]})

    thing_id: str


def _document(app: Any) -> dict[str, Any]:
    return json.loads(app.get_openapi_json_schema())


def test_a_route_listing_its_errors_still_documents_its_success_model() -> None:
    app = make_resolver()

    @app.get("/things/<thing_id>", responses={404: error_response("`thing_not_found`")})
    def get_thing(thing_id: str) -> Thing:
        return Thing(thing_id=thing_id)

    @app.post("/things", status_code=201, responses={409: error_response("`duplicate`")})
    def create_thing() -> Thing:
        return Thing(thing_id="t1")

    document = _document(app)
    read = document["paths"]["/things/{thing_id}"]["get"]["responses"]
    created = document["paths"]["/things"]["post"]["responses"]
    assert read["200"]["content"]["application/json"]["schema"] == {"$ref": "#/components/schemas/Thing"}
    assert created["201"]["content"]["application/json"]["schema"] == {"$ref": "#/components/schemas/Thing"}
    assert "200" not in created and "404" in read
    assert undocumented_operations(document) == []


def test_an_operation_with_an_anonymous_body_is_reported() -> None:
    app = make_resolver()

    @app.get("/loose")
    def loose() -> dict[str, Any]:
        return {"anything": 1}

    @app.delete("/gone", status_code=204, responses={204: {"description": "deleted"}})
    def gone() -> None:
        return None

    csv = {"text/csv": {"schema": {"type": "string"}}}

    @app.get("/export", responses={200: {"description": "CSV", "content": csv}})
    def export() -> str:
        return ""

    assert undocumented_operations(_document(app)) == ["GET /loose"]


def test_every_operation_of_the_api_documents_its_success_body() -> None:
    from tools.gen_openapi import OUTPUTS

    assert undocumented_operations(json.loads(OUTPUTS[0].read_text(encoding="utf-8"))) == []


def _routes_with_and_without_examples() -> Any:
    app = make_resolver()

    @app.get("/bare")
    def bare() -> Thing:
        return Thing(thing_id="t1")

    @app.get("/shown")
    def shown() -> ShownThing:
        return ShownThing(thing_id="t1")

    @app.delete("/gone", status_code=204, responses={204: {"description": "deleted"}})
    def gone() -> None:
        return None

    @app.get("/export", responses={200: {"description": "CSV", "content": {
        "text/csv": {"schema": {"type": "string"}, "examples": {"one": {"value": "thing_id\r\nt1\r\n"}}}}}})
    def export() -> str:
        return ""

    @app.get("/bare-export", responses={200: {"description": "CSV", "content": {
        "text/csv": {"schema": {"type": "string"}}}}})
    def bare_export() -> str:
        return ""

    return app


def test_an_operation_without_an_example_of_its_success_body_is_reported() -> None:
    document = _document(_routes_with_and_without_examples())
    assert document["components"]["schemas"]["ShownThing"]["examples"] == [{"thing_id": "t_01"}]
    # The model with an example, the 204 and the CSV with a media-type example pass; the others not.
    assert operations_without_example(document) == ["GET /bare", "GET /bare-export"]


def test_the_check_fails_on_an_operation_without_an_example_and_passes_with_one(
        tmp_path: Any, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    import tools.gen_openapi as gen

    app = make_resolver()

    @app.get("/things/<thing_id>")
    def get_thing(thing_id: str) -> Thing:
        return Thing(thing_id=thing_id)

    without = json.dumps(_document(app), sort_keys=True)
    output = tmp_path / "openapi.json"
    output.write_text(without, encoding="utf-8")
    monkeypatch.setattr(gen, "OUTPUTS", [output])
    monkeypatch.setattr(gen, "ROOT", tmp_path)
    monkeypatch.setattr(gen, "build", lambda: without)
    assert gen.main(["--check"]) == 1
    assert "GET /things/{thing_id} shows no example of its success body" in capsys.readouterr().err

    document = json.loads(without)
    document["components"]["schemas"]["Thing"]["examples"] = [{"thing_id": "t_01"}]
    shown = json.dumps(document, sort_keys=True)
    output.write_text(shown, encoding="utf-8")
    monkeypatch.setattr(gen, "build", lambda: shown)
    assert gen.main(["--check"]) == 0
    assert capsys.readouterr().err == ""


def test_every_operation_of_the_api_shows_an_example_of_its_success_body() -> None:
    from tools.gen_openapi import OUTPUTS

    assert operations_without_example(json.loads(OUTPUTS[0].read_text(encoding="utf-8"))) == []


def test_two_different_models_with_one_name_are_refused() -> None:
    from tools.gen_openapi import _check_component_names

    seen: dict[str, tuple[str, str]] = {}
    first = {"components": {"schemas": {"LineView": {"properties": {"a": {"type": "string"}}}}}}
    same = {"components": {"schemas": {"LineView": {"properties": {"a": {"type": "string"}}}}}}
    other = {"components": {"schemas": {"LineView": {"properties": {"b": {"type": "integer"}}}}}}
    _check_component_names(seen, first, "orders")
    _check_component_names(seen, same, "orders_read")
    with pytest.raises(SystemExit, match=r"LineView.*orders.*admin_orders"):
        _check_component_names(seen, other, "admin_orders")
