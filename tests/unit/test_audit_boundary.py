"""template.yaml: every function's role is bounded by the permissions boundary, which denies changing
or removing audit entries (AUDIT# keys) and allows everything the functions' own policies grant."""

from __future__ import annotations

from fnmatch import fnmatch
from typing import Any

import pytest

from local.cfn_yaml import load_yaml
from tests.conftest import TEMPLATE

RAW = load_yaml(TEMPLATE)
RESOURCES: dict[str, Any] = RAW["Resources"]
FUNCTIONS = {name: r for name, r in RESOURCES.items() if r.get("Type") == "AWS::Serverless::Function"}
BOUNDARY_ID = "FunctionPermissionsBoundary"

#: What SAM's policy templates grant, by service (https://docs.aws.amazon.com/serverless-application-model/latest/developerguide/serverless-policy-template-list.html).
TEMPLATE_ACTIONS = {
    "DynamoDBCrudPolicy": ["dynamodb:GetItem", "dynamodb:DeleteItem", "dynamodb:PutItem", "dynamodb:Scan",
                           "dynamodb:Query", "dynamodb:UpdateItem", "dynamodb:BatchWriteItem",
                           "dynamodb:BatchGetItem", "dynamodb:DescribeTable", "dynamodb:ConditionCheckItem"],
    "DynamoDBReadPolicy": ["dynamodb:GetItem", "dynamodb:Scan", "dynamodb:Query", "dynamodb:BatchGetItem",
                           "dynamodb:DescribeTable"],
    "DynamoDBWritePolicy": ["dynamodb:PutItem", "dynamodb:UpdateItem", "dynamodb:BatchWriteItem"],
    "DynamoDBStreamReadPolicy": ["dynamodb:DescribeStream", "dynamodb:GetRecords", "dynamodb:GetShardIterator",
                                 "dynamodb:ListStreams"],
    "SQSSendMessagePolicy": ["sqs:SendMessage*"],
    "SQSPollerPolicy": ["sqs:ChangeMessageVisibility", "sqs:ChangeMessageVisibilityBatch", "sqs:DeleteMessage",
                        "sqs:DeleteMessageBatch", "sqs:GetQueueAttributes", "sqs:ReceiveMessage"],
    "SSMParameterReadPolicy": ["ssm:DescribeParameters", "ssm:GetParameters", "ssm:GetParameter",
                               "ssm:GetParametersByPath"],
    "S3ReadPolicy": ["s3:GetObject", "s3:ListBucket", "s3:GetBucketLocation", "s3:GetObjectVersion",
                     "s3:GetLifecycleConfiguration"],
    "S3WritePolicy": ["s3:PutObject", "s3:PutObjectAcl", "s3:PutLifecycleConfiguration"],
    "S3CrudPolicy": ["s3:GetObject", "s3:ListBucket", "s3:PutObject", "s3:DeleteObject"],
    "KMSDecryptPolicy": ["kms:Decrypt"],
    "KMSEncryptPolicy": ["kms:Encrypt"],
    "AWSSecretsManagerGetSecretValuePolicy": ["secretsmanager:GetSecretValue"],
}
#: What SAM attaches to every generated role itself (logs, tracing) and what event sources need.
IMPLIED_ACTIONS = ["logs:CreateLogGroup", "logs:CreateLogStream", "logs:PutLogEvents", "xray:PutTraceSegments",
                   "xray:PutTelemetryRecords", "sqs:ReceiveMessage", "sqs:DeleteMessage", "sqs:GetQueueAttributes",
                   "sqs:SendMessage", "dynamodb:GetRecords", "dynamodb:GetShardIterator", "dynamodb:DescribeStream",
                   "dynamodb:ListStreams", "cloudwatch:PutMetricData", "kms:Decrypt", "kms:GenerateDataKey"]


def _listed(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value]


def _statements(statements: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """A statement kept while a deploy parameter holds (``!If [condition, statement, AWS::NoValue]``)
    counts as granted: either branch may be in force."""
    out: list[dict[str, Any]] = []
    for statement in statements:
        if "Fn::If" in statement:
            out += [s for s in statement["Fn::If"][1:] if s != {"Ref": "AWS::NoValue"}]
        else:
            out.append(statement)
    return out


def boundary_statements() -> list[dict[str, Any]]:
    policy = RESOURCES[BOUNDARY_ID]
    assert policy["Type"] == "AWS::IAM::ManagedPolicy"
    return list(policy["Properties"]["PolicyDocument"]["Statement"])


def allowed(action: str) -> bool:
    patterns = [p for s in boundary_statements() if s["Effect"] == "Allow" for p in _listed(s["Action"])]
    return any(fnmatch(action.lower(), p.lower()) or fnmatch(p.lower(), action.lower()) for p in patterns)


def role_of(function: dict[str, Any]) -> dict[str, Any] | None:
    """The shared role a function names (``Role: !GetAtt XRole.Arn``), or None for a generated one."""
    role = function.get("Properties", {}).get("Role")
    if role is None:
        return None
    assert isinstance(role, dict) and "Fn::GetAtt" in role, f"role {role}: name a role of this template"
    resource: dict[str, Any] = RESOURCES[role["Fn::GetAtt"][0]]
    assert resource["Type"] == "AWS::IAM::Role"
    return resource


def granted_actions(function: dict[str, Any]) -> list[str]:
    actions: list[str] = []
    role = role_of(function)
    if role is not None:
        for inline in role["Properties"].get("Policies", []):
            for statement in _statements(inline["PolicyDocument"]["Statement"]):
                if statement.get("Effect", "Allow") == "Allow":
                    actions += _listed(statement["Action"])
        return actions
    for policy in function.get("Properties", {}).get("Policies", []) or []:
        if isinstance(policy, str):
            pytest.fail(f"managed policy {policy}: list its actions in this test and the boundary")
        for name, body in policy.items():
            if name == "Statement":
                for statement in body:
                    if statement.get("Effect", "Allow") == "Allow":
                        actions += _listed(statement["Action"])
            elif name in TEMPLATE_ACTIONS:
                actions += TEMPLATE_ACTIONS[name]
            else:
                pytest.fail(f"policy template {name}: add its actions to TEMPLATE_ACTIONS (and the boundary)")
    return actions


def test_every_function_role_is_bounded() -> None:
    """Globals bounds the roles SAM generates; a shared role must carry the boundary itself."""
    assert RAW["Globals"]["Function"]["PermissionsBoundary"] == {"Ref": BOUNDARY_ID}
    for name, function in FUNCTIONS.items():
        props = function.get("Properties", {})
        assert props.get("PermissionsBoundary", {"Ref": BOUNDARY_ID}) == {"Ref": BOUNDARY_ID}, name
        role = role_of(function)
        if role is not None:
            assert role["Properties"].get("PermissionsBoundary") == {"Ref": BOUNDARY_ID}, \
                f"{name}: its role {props['Role']} is not bounded"
            assert "Policies" not in props, f"{name}: Policies beside a shared Role are ignored by SAM"


def test_the_boundary_denies_updating_or_deleting_audit_items() -> None:
    denies = [s for s in boundary_statements() if s["Effect"] == "Deny"
              and s.get("Condition", {}).get("ForAnyValue:StringLike", {}).get("dynamodb:LeadingKeys") == ["AUDIT#*"]]
    assert len(denies) == 1
    deny = denies[0]
    actions = set(_listed(deny["Action"]))
    assert {"dynamodb:UpdateItem", "dynamodb:DeleteItem", "dynamodb:BatchWriteItem"} <= actions
    assert "dynamodb:PutItem" not in actions  # new entries are conditional puts
    assert {"Fn::GetAtt": ["MallTable", "Arn"]} in _listed(deny["Resource"])
    retention = {a for s in boundary_statements() if s["Effect"] == "Deny" for a in _listed(s["Action"])}
    assert {"dynamodb:UpdateTimeToLive", "dynamodb:DeleteTable"} <= retention


@pytest.mark.parametrize("name", sorted(FUNCTIONS))
def test_the_boundary_allows_what_each_function_is_granted(name: str) -> None:
    missing = [a for a in [*granted_actions(FUNCTIONS[name]), *IMPLIED_ACTIONS] if not allowed(a)]
    assert not missing, f"{name}: the boundary would silently remove {missing}; allow them in {BOUNDARY_ID}"
