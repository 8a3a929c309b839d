"""SnapStart in template.yaml: by default only on the hot customer-facing function whose own init is over
the target, and on the other hot ones by a parameter (docs/performance.md, "SnapStart where it pays"); each
on a published version behind an alias that the API invokes, a new version whenever the shared layer
changes, and nothing SnapStart cannot run with."""

from __future__ import annotations

import json
import subprocess
from typing import Any

from bench._restore import apply_on
from local.cfn_yaml import load_yaml
from tests.conftest import ROOT, TEMPLATE

#: The buying path's hot functions: what every order's customer waits on, most often or at the moment of
#: paying. A function outside it pays the snapshot cache (about USD 1 a month at 256 MB) for little.
SNAPSTART_FUNCTIONS = {"ProductsFunction", "OrdersReadFunction", "PlaceOrderFunction", "WeChatPayWebhookFunction"}
#: Of those, the one whose own init is over 1.25 times the baseline: SnapStart by default.
SNAPSTART_BY_DEFAULT = {"PlaceOrderFunction"}
#: The parameter that turns it on for the others, whose init is within the target without it.
BROWSING_PARAMETER = "BrowsingSnapStart"

RAW = load_yaml(TEMPLATE)
RESOURCES: dict[str, Any] = RAW["Resources"]
GLOBALS: dict[str, Any] = RAW["Globals"]["Function"]
FUNCTIONS = {name: r["Properties"] for name, r in RESOURCES.items() if r["Type"] == "AWS::Serverless::Function"}


def _snapstart(props: dict[str, Any], raw: dict[str, Any] = RAW) -> bool:
    setting = props.get("SnapStart") or GLOBALS.get("SnapStart") or {}
    return bool(apply_on(setting.get("ApplyOn"), raw) == "PublishedVersions")


def _with_default(parameter: str, value: str) -> dict[str, Any]:
    parameters = {**RAW["Parameters"], parameter: {**RAW["Parameters"][parameter], "Default": value}}
    return {**RAW, "Parameters": parameters}


def test_snapstart_is_on_by_default_only_where_init_is_over_the_target() -> None:
    assert {name for name, props in FUNCTIONS.items() if _snapstart(props)} == SNAPSTART_BY_DEFAULT


def test_the_browsing_parameter_turns_it_on_for_the_other_hot_functions_and_nothing_else() -> None:
    assert RAW["Parameters"][BROWSING_PARAMETER]["AllowedValues"] == ["PublishedVersions", "None"]
    switched = _with_default(BROWSING_PARAMETER, "PublishedVersions")
    assert {name for name, props in FUNCTIONS.items() if _snapstart(props, switched)} == SNAPSTART_FUNCTIONS
    off = _with_default("HotPathSnapStart", "None")
    assert {name for name, props in FUNCTIONS.items() if _snapstart(props, off)} == set()


def test_each_snapstart_function_runs_a_published_version_behind_an_alias() -> None:
    for name in SNAPSTART_FUNCTIONS:
        props = FUNCTIONS[name]
        assert props.get("AutoPublishAlias"), f"{name}: SnapStart snapshots published versions only"
        assert props.get("AutoPublishAliasAllProperties") is True, f"{name}: a layer change must publish"
        assert props.get("VersionDeletionPolicy") == "Delete", f"{name}: a retained version's cache is billed"
        # The HTTP API's integration follows AutoPublishAlias; other event sources would need checking.
        assert {e["Type"] for e in props["Events"].values()} == {"HttpApi"}, name
    assert RESOURCES["SharedLayer"]["Properties"].get("PublishLambdaVersion") is True


def test_snapstart_functions_use_nothing_snapstart_refuses() -> None:
    runtime = GLOBALS["Runtime"]
    assert runtime.startswith("python3.") and int(runtime.split(".")[1]) >= 12  # SnapStart: Python 3.12+
    for name in SNAPSTART_FUNCTIONS:
        props = {**GLOBALS, **FUNCTIONS[name]}
        assert "FileSystemConfigs" not in props, name  # no EFS
        assert "ProvisionedConcurrencyConfig" not in props, name
        assert int(props.get("EphemeralStorage", {}).get("Size", 512)) <= 512, name


def test_snapstart_functions_install_the_hooks_through_the_http_entrypoint() -> None:
    for name in SNAPSTART_FUNCTIONS:
        code = (ROOT / FUNCTIONS[name]["CodeUri"] / "app.py").read_text(encoding="utf-8")
        assert "entrypoint(app" in code, f"{name}: its handler must come from mall.api.http.entrypoint"


_TRANSLATE = r"""
import json, os, sys
os.environ.setdefault("AWS_DEFAULT_REGION", "us-east-1")
from samtranslator.translator.transform import transform
from samtranslator.yaml_helper import yaml_parse
from tools.stack_resources import PARAMETERS, TEMPLATE, _NoManagedPolicies

def resources(layer_uri):
    document = yaml_parse(TEMPLATE.read_text(encoding="utf-8"))
    for resource in document["Resources"].values():
        properties = resource.get("Properties", {})
        for uri in ("CodeUri", "ContentUri"):
            if isinstance(properties.get(uri), str):
                properties[uri] = "s3://deployment-bucket/artifact.zip"
    document["Resources"]["SharedLayer"]["Properties"]["ContentUri"] = layer_uri
    return transform(document, PARAMETERS, _NoManagedPolicies())["Resources"]

before, after = resources("s3://deployment-bucket/layer-1.zip"), resources("s3://deployment-bucket/layer-2.zip")
versions = lambda r: sorted(k for k, v in r.items() if v["Type"] == "AWS::Lambda::Version")
api = next(v for v in before.values() if v["Type"] == "AWS::ApiGatewayV2::Api")["Properties"]["Body"]
uris = {path + " " + method: op["x-amazon-apigateway-integration"]["uri"]["Fn::Sub"]
        for path, ops in api["paths"].items() for method, op in ops.items() if "x-amazon-apigateway-integration" in op}
print(json.dumps({"before": versions(before), "after": versions(after), "uris": uris,
                  "deletion": {k: v.get("DeletionPolicy") for k, v in before.items()
                               if v["Type"] == "AWS::Lambda::Version"}}))
"""


def test_a_new_layer_publishes_new_versions_and_the_api_invokes_the_alias() -> None:
    python = ROOT / ".venv-sam" / "bin" / "python"
    assert python.exists(), "the SAM venv (make .venv-sam/.installed) translates the template"
    done = subprocess.run([str(python), "-c", _TRANSLATE], cwd=ROOT, capture_output=True, text=True, timeout=300,
                          check=False)
    assert done.returncode == 0, done.stderr
    result = json.loads(done.stdout.strip().splitlines()[-1])
    assert {v.split("Version")[0] for v in result["before"]} == SNAPSTART_FUNCTIONS
    assert not set(result["before"]) & set(result["after"]), "a layer change left a SnapStart version as it was"
    assert set(result["deletion"].values()) == {"Delete"}
    for name in SNAPSTART_FUNCTIONS:
        routes = [uri for uri in result["uris"].values() if "${" + name + "}" in uri or "${" + name + "Alias" in uri]
        assert routes and all("${" + name + "Aliaslive}" in uri for uri in routes), (name, routes)

