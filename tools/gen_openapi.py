"""Generate the OpenAPI 3.1 document from the handlers' own code (Powertools OpenAPI merge).

    python -m tools.gen_openapi           # write docs/openapi.json and functions/api_meta/openapi.json
    python -m tools.gen_openapi --check   # exit 1 if either copy is stale, or an operation is undocumented
                                          # or shows no example of its success body

The copy beside the api_meta handler is what ``GET /openapi.json`` serves in AWS (a Lambda
only ships its own folder); docs/openapi.json is the contract the mini-program team reads."""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import sys
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
OUTPUTS = [ROOT / "docs" / "openapi.json", ROOT / "functions" / "api_meta" / "openapi.json"]
DESCRIPTION = """\
HTTP API of the distribution mall (分销商城): the WeChat mini-program (customers and promoters)
and the merchant console (admins) call it. Money is integer fen in fields ending `_fen`; times
are ISO-8601 UTC; errors have the shape `{"error": {"code", "message", "fields": [{"field", "reason"}]}}`;
lists are paginated with an opaque `cursor`. Each operation's `x-mall-roles` lists who may call it."""

# Importing a handler validates configuration at import, as a cold start does.
_PLACEHOLDER_ENV = {"TABLE_NAME": "openapi-generation", "AWS_DEFAULT_REGION": "us-east-1",
                    "POWERTOOLS_TRACE_DISABLED": "true", "POWERTOOLS_METRICS_NAMESPACE": "Mall"}


def build() -> str:
    for key, value in _PLACEHOLDER_ENV.items():
        os.environ.setdefault(key, value)
    sys.path.insert(0, str(ROOT / "layers" / "shared"))
    from aws_lambda_powertools.event_handler.openapi.merge import OpenAPIMerge
    from aws_lambda_powertools.event_handler.openapi.models import HTTPBearer

    from mall.api.auth import BEARER_AUTH

    merge = OpenAPIMerge(
        title="Distribution mall API",
        version="1.0.0",
        description=DESCRIPTION,
        security_schemes={"bearerAuth": HTTPBearer(bearerFormat="JWT",
                                                    description="token from POST /auth/login or /admin/auth/login")},
        on_conflict="error",
    )
    bearer = {BEARER_AUTH: HTTPBearer(bearerFormat="JWT",
                                      description="token from POST /auth/login or POST /admin/auth/login")}
    components: dict[str, tuple[str, str]] = {}  # schema name -> (its JSON, the first handler defining it)
    for handler_file in sorted((ROOT / "functions").glob("*/app.py")):
        spec = importlib.util.spec_from_file_location(f"openapi_{handler_file.parent.name}", handler_file)
        if spec is None or spec.loader is None:
            raise RuntimeError(f"cannot load {handler_file}")
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
        if not hasattr(module, "app"):
            continue  # a scheduled, stream or queue worker: it serves no route
        module.app.configure_openapi(title="Distribution mall API", security_schemes=bearer)
        handler_schema = json.loads(module.app.get_openapi_json_schema())
        _check_component_names(components, handler_schema, handler_file.parent.name)
        merge.add_schema(handler_schema)
    # The merged JSON is Powertools' own serialisation (models → JSON); re-indent it stably.
    schema = _with_error_responses(json.loads(merge.get_openapi_json_schema()))
    return json.dumps(schema, indent=2, ensure_ascii=False, sort_keys=True) + "\n"


def _check_component_names(seen: dict[str, tuple[str, str]], schema: dict[str, Any], handler: str) -> None:
    """Two different models with one name would merge into one component, silently giving one
    operation the other's body: refuse it and name both handlers."""
    for name, body in schema.get("components", {}).get("schemas", {}).items():
        text = json.dumps(body, sort_keys=True)
        first = seen.setdefault(name, (text, handler))
        if first[0] != text:
            raise SystemExit(f"two different models are both named {name!r} (in {first[1]} and {handler}): "
                             "rename one")


def _with_error_responses(schema: dict[str, Any]) -> dict[str, Any]:
    """Document our one error shape instead of Powertools' default validation error, and the
    responses every operation can give: 400/422 for bad input, 401/403 on secured routes, 429."""
    from mall.schemas.common import ErrorBody

    components = schema.setdefault("components", {}).setdefault("schemas", {})
    body_schema = ErrorBody.model_json_schema(ref_template="#/components/schemas/{model}")
    components.update(body_schema.pop("$defs", {}))
    components["ErrorBody"] = body_schema
    for name in ("HTTPValidationError", "ValidationError", "ResponseValidationError"):
        components.pop(name, None)
    error = {"content": {"application/json": {"schema": {"$ref": "#/components/schemas/ErrorBody"}}}}
    standard = {"422": "a field is missing or invalid (each named in `error.fields`)",
                "429": "too many requests; see the Retry-After header"}
    for operations in schema.get("paths", {}).values():
        for operation in operations.values():
            responses = operation.setdefault("responses", {})
            wanted = dict(standard)
            if "requestBody" in operation:
                wanted["400"] = "the body is not valid JSON"
            if operation.get("security"):
                wanted["401"] = "missing, invalid or expired access token"
                wanted["403"] = "the caller's role may not use this operation"
            for status, description in wanted.items():
                documented = responses.get(status, {}).get("description")
                if documented in (None, "Validation Error"):  # Powertools' generic text
                    documented = description
                responses[status] = {**error, "description": documented}
    return schema


def undocumented_operations(schema: dict[str, Any]) -> list[str]:
    """``METHOD /path`` of each operation whose success answer is not documented: a 2xx with a named
    model (a ``$ref`` to a component), a 204 (nothing returned), or a non-JSON body with its schema
    (a CSV download). Clients are generated from this document; an anonymous body gives them nothing."""
    missing: list[str] = []
    for path, operations in sorted(schema.get("paths", {}).items()):
        for method, operation in sorted(operations.items()):
            documented = False
            for status, response in operation.get("responses", {}).items():
                if not str(status).startswith("2"):
                    continue
                content = response.get("content") or {}
                json_schema = content.get("application/json", {}).get("schema") or {}
                other = [c for t, c in content.items() if t != "application/json" and c.get("schema")]
                if str(status) == "204" or "$ref" in json.dumps(json_schema) or other:
                    documented = True
            if not documented:
                missing.append(f"{method.upper()} {path}")
    return missing


def operations_without_example(schema: dict[str, Any]) -> list[str]:
    """``METHOD /path`` of each operation whose success body has no example: every media type of a
    2xx response (204 returns nothing) carries ``example``/``examples`` itself or on its schema, a
    ``$ref`` followed into the components. The examples live on the response models
    (``json_schema_extra``), so a client author sees a real answer beside every field list."""
    components = schema.get("components", {}).get("schemas", {})

    def shown(node: dict[str, Any]) -> bool:
        return "example" in node or "examples" in node

    def has_example(media: dict[str, Any]) -> bool:
        body = media.get("schema") or {}
        ref = body.get("$ref", "")
        target = components.get(ref.rsplit("/", 1)[-1], {}) if ref.startswith("#/components/schemas/") else {}
        return shown(media) or shown(body) or shown(target)

    missing: list[str] = []
    for path, operations in sorted(schema.get("paths", {}).items()):
        for method, operation in sorted(operations.items()):
            bodies = [media for status, response in operation.get("responses", {}).items()
                      if str(status).startswith("2") and str(status) != "204"
                      for media in (response.get("content") or {}).values()]
            if not all(has_example(media) for media in bodies):
                missing.append(f"{method.upper()} {path}")
    return missing


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--check", action="store_true", help="fail if the committed copies are stale")
    args = parser.parse_args(argv)
    text = build()
    stale = [p for p in OUTPUTS if not p.exists() or p.read_text(encoding="utf-8") != text]
    undocumented = undocumented_operations(json.loads(text))
    for operation in undocumented:
        print(f"{operation} documents no success body: give its route a return model "
              "(or a 204 status when it returns nothing)", file=sys.stderr)
    without_example = operations_without_example(json.loads(text))
    for operation in without_example:
        print(f"{operation} shows no example of its success body: give its response model "
              "`model_config = ConfigDict(json_schema_extra={\"examples\": [...]})` "
              "(a non-JSON body: `examples` on its content type)", file=sys.stderr)
    if args.check:
        for path in stale:
            print(f"{path.relative_to(ROOT)} is stale: run `make openapi`", file=sys.stderr)
        return 1 if stale or undocumented or without_example else 0
    for path in stale:
        path.write_text(text, encoding="utf-8")
        print(f"wrote {path.relative_to(ROOT)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
