"""Template loading and intrinsic resolution (no servers)."""

from __future__ import annotations

from pathlib import Path

import pytest

from local.cfn_yaml import CfnLoader, load_yaml
from local.intrinsics import Resolver
from local.template import load_template
from local.template_model import TemplateError

FIXTURES = Path(__file__).resolve().parent / "fixtures"
TEMPLATE = FIXTURES / "template.yaml"


@pytest.fixture(scope="module")
def model():
    return load_template(TEMPLATE, sqs_endpoint="http://127.0.0.1:4566")


def test_short_form_tags_become_long_form() -> None:
    import yaml

    text = "a: !Ref X\nb: !GetAtt T.StreamArn\nc: !Sub 'x-${Y}'\nd: !If [C, 1, 2]\ne: !Join ['', [a, !Ref Z]]\n"
    data = yaml.load(text, Loader=CfnLoader)  # noqa: S506
    assert data == {
        "a": {"Ref": "X"},
        "b": {"Fn::GetAtt": ["T", "StreamArn"]},
        "c": {"Fn::Sub": "x-${Y}"},
        "d": {"Fn::If": ["C", 1, 2]},
        "e": {"Fn::Join": ["", ["a", {"Ref": "Z"}]]},
    }


def test_globals_and_intrinsics_resolve_to_local_values(model) -> None:
    env = model.functions["EchoFunction"].environment
    assert env["TABLE_NAME"] == "Table"
    assert env["STAGE"] == "test"
    assert env["QUEUE_URL"] == "http://127.0.0.1:4566/000000000000/WorkQueue"
    assert env["QUEUE_ARN"] == "arn:aws:sqs:us-east-1:000000000000:WorkQueue"
    assert env["BUCKET"] == "mediabucket"
    assert env["TABLE_ARN"] == "arn:aws:dynamodb:us-east-1:000000000000:table/Table"
    assert env["STREAM_ARN"].startswith("arn:aws:dynamodb:us-east-1:000000000000:table/Table/stream/")
    assert env["MODE"] == "sandbox"
    assert env["NOT_PROD"] == "yes"
    assert env["JOINED"] == "a-test-m"
    assert (
        env["SUBBED"]
        == "mall-local/test/us-east-1/000000000000/arn:aws:sqs:us-east-1:000000000000:WorkQueue/${Literal}"
    )
    assert env["SUB_VARS"] == "hello-aws"
    assert env["LEVEL"] == "DEBUG"
    assert env["ECHO_ONLY"] == "echo"  # function variables merge over Globals
    assert env["API_HINT"] == "http://127.0.0.1:${API_PORT}"  # expanded later by the runner


def test_parameter_overrides_and_conditions() -> None:
    model = load_template(TEMPLATE, parameters={"Stage": "prod"})
    env = model.functions["EchoFunction"].environment
    assert env["STAGE"] == "prod"
    assert env["MODE"] == "live"
    assert env["NOT_PROD"] == "no"
    assert "ProdOnlyTable" in model.tables
    assert "ProdOnlyTable" not in load_template(TEMPLATE).tables


def test_functions(model) -> None:
    echo = model.functions["EchoFunction"]
    assert echo.code_dir == FIXTURES / "functions" / "echo"
    assert echo.handler == "app.handler"
    assert echo.runtime == "python3.13"
    assert echo.timeout_s == 7  # the function's own Timeout beats Globals
    assert echo.memory_mb == 256
    assert echo.layer_dirs == ((FIXTURES / "layer").resolve(),)
    assert echo.arn == "arn:aws:lambda:us-east-1:000000000000:function:EchoFunction"
    assert model.function("echo") is echo  # by functions/ directory name
    assert model.function("functions/echo/") is echo
    with pytest.raises(KeyError):
        model.function("nope")


def test_routes(model) -> None:
    keys = {(r.route_key, r.function_id) for r in model.routes}
    assert ("GET /echo", "EchoFunction") in keys
    assert ("ANY /items/{id}", "EchoFunction") in keys
    assert ("GET /files/{proxy+}", "EchoFunction") in keys
    assert ("$default", "FallbackFunction") in keys
    assert all(r.api_id == "HttpApi" for r in model.routes)


def test_schedules_and_triggers(model) -> None:
    schedules = {s.event_name: s for s in model.schedules}
    assert schedules["Nightly"].expression == "cron(0 2 * * ? *)"
    assert schedules["Nightly"].enabled and schedules["Nightly"].input is None
    assert schedules["Nightly"].resource_arn.startswith("arn:aws:events:us-east-1:000000000000:rule/")
    assert schedules["Hourly"].kind == "ScheduleV2" and not schedules["Hourly"].enabled
    assert schedules["Hourly"].input == '{"job": "hourly"}'

    (stream,) = model.stream_triggers
    assert stream.table_id == "Table" and stream.batch_size == 10 and stream.max_retry_attempts == 2
    assert stream.report_batch_item_failures
    assert stream.filters == (
        {"eventName": ["INSERT", "MODIFY"], "dynamodb": {"NewImage": {"status": {"S": ["PAID"]}}}},
    )

    (queue,) = model.queue_triggers
    assert queue.queue_id == "WorkQueue" and queue.batch_size == 5 and queue.report_batch_item_failures


def test_tables_queues_buckets(model) -> None:
    table = model.tables["Table"]
    assert table.name == "Table"
    assert table.properties["GlobalSecondaryIndexes"][0]["IndexName"] == "gsi1"
    queue = model.queues["WorkQueue"]
    assert queue.properties["RedrivePolicy"] == {
        "deadLetterTargetArn": "arn:aws:sqs:us-east-1:000000000000:DeadLetterQueue",
        "maxReceiveCount": 2,
    }
    assert model.buckets["MediaBucket"].name == "mediabucket"


def test_resolver_errors() -> None:
    resolver = Resolver({"Resources": {}})
    with pytest.raises(TemplateError):
        resolver.resolve({"Ref": "Missing"})
    with pytest.raises(TemplateError):
        resolver.resolve({"Fn::Cidr": ["10.0.0.0/16", 1, 8]})
    assert resolver.resolve({"A": {"Ref": "AWS::NoValue"}, "B": 1}) == {"B": 1}
    assert resolver.resolve({"Fn::Split": [",", "a,b"]}) == ["a", "b"]


def test_project_template_loads_if_present() -> None:
    path = Path(__file__).resolve().parents[2] / "template.yaml"
    if not path.is_file():
        pytest.skip("no template.yaml yet")
    model = load_template(path)
    assert model.functions, "the project template declares functions"
    assert load_yaml(path)["Resources"]
