"""template.yaml keeps room to grow: a resource budget after the SAM transform, and the shared roles
give every function what its event sources need."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path
from typing import Any

from local.cfn_yaml import load_yaml
from local.template import load_template
from tests.conftest import TEMPLATE

ROOT = Path(__file__).resolve().parents[2]
#: CloudFormation allows 500; the merchant console's hosting takes 5 (bucket, policy, origin access, headers,
#: distribution); the catalog, shipping, operations and incentive functions still to come
#: need the rest. A new function shares a role, so it costs itself and one permission per route; a route
#: added to an existing function costs its permission (an admin's view of a promoter's team: +1; the
#: customer's cart, a function with four routes: +5; the catalog schedule, its schedule and the batch
#: edit's permission: +3; the customer's address book and phone, one function with six routes:
#: +7; the caller's subscribe-message grants, one function with two routes: +3; a promoter's orders,
#: downline and manual adjustments, six routes on existing functions: +6; shipping information to
#: WeChat: its queue, the upload worker and its queue trigger, the reconciler and its schedule, the
#: admin's shipping function with three routes: +9; the mini-program's message push, one function with
#: two routes, the receipt reminder's function and schedule, and the admin's list of pushed events: +7;
#: parcel tracking: its queue, worker and event source, its webhook function and permission, and four
#: routes on the order functions: +9; the promoter funnel's route and the reports' two routes: +3, the
#: weekly report function, its schedule and its own role (it writes only its record and its files): +3;
#: staff accounts and roles, one function with six routes: +7; the merchant's customers, one function with
#: nine routes, and the promoter agreement's route: +11; a 5xx alarm on each of the message push and the
#: tracking webhook: +2; the month's leaderboard prizes, a route on the bonuses' function: +1; the
#: materials center, five routes on the media functions: +5; coupons: the admin's templates function with
#: four routes and the customers' coupons function with three routes: +9; commission campaigns, four
#: admin routes and the promoter's boosted products: +5; wake-up boosts: the daily function and its schedule,
#: three admin routes: +5; SnapStart on four hot customer-facing functions: a published version and its alias
#: each, +8; the parcels subscribed by the shipping upload worker: parcel tracking's queue, worker and
#: event source go, -3, kept one release by TrackingQueueKept; the stats' hourly fold of each day into its
#: month and the running totals, a schedule on the stats worker: +1; the console's campaigns and wake-up rule
#: in a function of their own, apart from the distribution settings, their seven routes moved: +1).
STACK_RESOURCE_BUDGET = 337

RAW = load_yaml(TEMPLATE)
RESOURCES: dict[str, Any] = RAW["Resources"]
FUNCTIONS = {name: r for name, r in RESOURCES.items() if r.get("Type") == "AWS::Serverless::Function"}


def _sam_python() -> Path:
    python = ROOT / ".venv-sam" / "bin" / "python"
    assert python.exists(), "the SAM venv (make .venv-sam/.installed) translates the template"
    return python


def _statements(role: dict[str, Any]) -> list[dict[str, Any]]:
    statements: list[dict[str, Any]] = []
    for policy in role["Properties"].get("Policies", []):
        for statement in policy["PolicyDocument"]["Statement"]:
            if "Fn::If" in statement:  # kept while a deploy parameter holds: either branch may be in force
                statements += [s for s in statement["Fn::If"][1:] if s != {"Ref": "AWS::NoValue"}]
            else:
                statements.append(statement)
    return statements


def _role(function: dict[str, Any]) -> dict[str, Any] | None:
    role = function["Properties"].get("Role")
    return RESOURCES[role["Fn::GetAtt"][0]] if role else None


def test_the_stack_stays_within_its_resource_budget() -> None:
    result = subprocess.run([str(_sam_python()), "-m", "tools.stack_resources", "--json"], cwd=ROOT,
                            capture_output=True, text=True, timeout=120, check=False)
    assert result.returncode == 0, result.stderr
    counts = json.loads(result.stdout)
    print(f"\nstack resources after the SAM transform: {counts['total']}")
    assert counts["by_type"]["AWS::Lambda::Function"] == len(FUNCTIONS)
    assert counts["total"] <= STACK_RESOURCE_BUDGET, counts["by_type"]


def test_functions_share_roles() -> None:
    generated = [name for name, f in FUNCTIONS.items() if "Role" not in f["Properties"]]
    # What is left with a generated role has a policy of its own (a queue it alone sends to, a
    # narrowed key range, a bucket prefix): sharing would widen someone's rights.
    assert len(generated) <= 12, generated
    for name in generated:
        assert FUNCTIONS[name]["Properties"].get("Policies"), f"{name}: no policies of its own; share a role"


def test_every_scheduled_function_is_invoked_through_the_scheduler_role() -> None:
    scheduler = RESOURCES["SchedulerRole"]
    invokable = {r["Fn::GetAtt"][0] for s in _statements(scheduler) for r in s["Resource"]}
    for name, function in FUNCTIONS.items():
        for event in function["Properties"].get("Events", {}).values():
            if event["Type"] == "ScheduleV2":
                assert event["Properties"].get("RoleArn") == {"Fn::GetAtt": ["SchedulerRole", "Arn"]}, name
                assert name in invokable, f"SchedulerRole cannot invoke {name}"


def _allows(role: dict[str, Any], action: str, resource: Any) -> bool:
    def listed(value: Any) -> list[Any]:
        return value if isinstance(value, list) else [value]
    return any(action in listed(s["Action"]) and resource in listed(s["Resource"]) for s in _statements(role))


def test_a_shared_role_reads_the_stream_or_polls_the_queues_its_functions_consume() -> None:
    """SAM adds these rights only to the roles it generates."""
    for name, function in FUNCTIONS.items():
        role = _role(function)
        for event in function["Properties"].get("Events", {}).values():
            if role is None:
                continue
            if event["Type"] == "DynamoDB":
                for action in ("dynamodb:GetRecords", "dynamodb:GetShardIterator", "dynamodb:DescribeStream",
                               "dynamodb:ListStreams"):
                    assert _allows(role, action, event["Properties"]["Stream"]), f"{name}: {action} on the stream"
                on_failure = event["Properties"].get("DestinationConfig", {}).get("OnFailure")
                if on_failure:
                    assert _allows(role, "sqs:SendMessage", on_failure["Destination"]), f"{name}: its on-failure queue"
            if event["Type"] == "SQS":
                queue = event["Properties"]["Queue"]["Fn::GetAtt"][0]
                assert _allows(role, "sqs:ReceiveMessage", {"Fn::GetAtt": [queue, "Arn"]}), \
                    f"{name}: its role cannot receive from {queue}"




def test_a_role_that_writes_in_transactions_may_also_check_conditions() -> None:
    """A TransactWriteItems with a ConditionCheck needs dynamodb:ConditionCheckItem: without it the
    whole transaction is refused in AWS (and nothing local notices)."""
    for name, resource in RESOURCES.items():
        if resource["Type"] != "AWS::IAM::Role":
            continue
        table_wide = [s for s in _statements(resource) if not s.get("Condition")
                      and {"Fn::GetAtt": ["MallTable", "Arn"]} in (s["Resource"] if isinstance(s["Resource"], list)
                                                                    else [s["Resource"]])]
        actions = {a for s in table_wide for a in (s["Action"] if isinstance(s["Action"], list) else [s["Action"]])}
        if actions & {"dynamodb:PutItem", "dynamodb:UpdateItem"}:
            assert "dynamodb:ConditionCheckItem" in actions, f"{name} writes the table but cannot ConditionCheck"


def test_a_new_stack_subscribes_parcels_in_the_shipping_upload_worker_alone() -> None:
    """The shipment's one message carries its upload and its parcels' subscription: a new stack has no
    TrackingQueue (nor its worker, its idle polling, the stream's messages to it); TrackingQueueKept=1
    keeps them one release, so what a stack had in flight is still handled."""
    new = load_template(TEMPLATE)
    assert "TrackingQueue" not in new.queues and "TrackingSubscribeFunction" not in new.functions
    assert {t.queue_id for t in new.queue_triggers} >= {"ShippingUploadQueue"}
    assert "TrackingQueue" not in {t.queue_id for t in new.queue_triggers}
    assert "TRACKING_QUEUE_URL" not in new.function("OrderStatusStreamFunction").environment
    kept = load_template(TEMPLATE, parameters={"TrackingQueueKept": "1"})
    assert "TrackingQueue" in kept.queues and "TrackingSubscribeFunction" in kept.functions
    assert "TrackingQueue" in {t.queue_id for t in kept.queue_triggers}
    assert kept.function("OrderStatusStreamFunction").environment.get("TRACKING_QUEUE_URL")
