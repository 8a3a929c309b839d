"""CloudFormation's intrinsic functions, resolved with local stand-ins:

- ``AWS::Region`` is ``us-east-1``, ``AWS::AccountId`` ``000000000000``,
  ``AWS::StackName`` ``mall-local``;
- parameters take the override given, else their ``Default``;
- ``!Ref`` of a table is its local name, which is the logical ID; of a queue, its URL on
  the local SQS (moto); of a bucket, the logical ID in lower case; of anything else, the
  logical ID;
- ``!GetAtt X.Arn`` (and ``StreamArn``, ``QueueName``, ...) is a plausible local value.
"""

from __future__ import annotations

import json
import logging
import re
from collections.abc import Mapping
from typing import Any

from local.template_model import (
    ACCOUNT_ID,
    BUCKET_TYPE,
    FUNCTION_TYPES,
    LAYER_TYPES,
    QUEUE_TYPE,
    REGION,
    STACK_NAME,
    TABLE_TYPES,
    TemplateError,
)

log = logging.getLogger("local.template")


class _NoValue:
    """``AWS::NoValue``: the enclosing property is removed."""

    def __repr__(self) -> str:
        return "AWS::NoValue"


NO_VALUE = _NoValue()
_SUB_RE = re.compile(r"\$\{([^}]*)\}")


def _as_bool(value: Any) -> bool:
    if isinstance(value, bool):
        return value
    if isinstance(value, str):
        return value.strip().lower() == "true"
    return bool(value)


class Resolver:
    """Evaluates CloudFormation intrinsic functions with local stand-ins."""

    def __init__(
        self,
        template: Mapping[str, Any],
        parameters: Mapping[str, str] | None = None,
        *,
        sqs_endpoint: str | None = None,
    ) -> None:
        self.template = template
        self.resources: dict[str, Any] = dict(template.get("Resources") or {})
        self.sqs_endpoint = (sqs_endpoint or "http://127.0.0.1:${MOTO_PORT}").rstrip("/")
        self.parameters = self._parameter_values(parameters or {})
        self._conditions: dict[str, bool] = {}
        self._evaluating: set[str] = set()

    # -- names ----------------------------------------------------------------------------

    def _parameter_values(self, overrides: Mapping[str, str]) -> dict[str, Any]:
        values: dict[str, Any] = {}
        declared = self.template.get("Parameters") or {}
        for name, declared_spec in declared.items():
            spec = declared_spec or {}
            if name in overrides:
                raw: Any = overrides[name]
            elif "Default" in spec:
                raw = spec["Default"]
            else:
                log.warning("parameter %s has no Default and no local override; using ''", name)
                raw = ""
            ptype = str(spec.get("Type", "String"))
            if ptype == "CommaDelimitedList" or ptype.startswith("List<"):
                values[name] = raw if isinstance(raw, list) else [s.strip() for s in str(raw).split(",")]
            else:
                values[name] = raw if isinstance(raw, str) else json.dumps(raw) if isinstance(raw, bool) else str(raw)
        for name, value in overrides.items():
            values.setdefault(name, value)
        return values

    def resource_type(self, logical_id: str) -> str:
        resource = self.resources.get(logical_id) or {}
        return str(resource.get("Type", ""))

    def physical_name(self, logical_id: str) -> str:
        """The local name of a resource (what ``!Ref`` gives, for most types)."""
        rtype = self.resource_type(logical_id)
        props = (self.resources.get(logical_id) or {}).get("Properties") or {}
        if rtype == BUCKET_TYPE:
            return logical_id.lower()
        if rtype == QUEUE_TYPE:
            fifo = _as_bool(self.resolve(props.get("FifoQueue", False)))
            return f"{logical_id}.fifo" if fifo else logical_id
        if rtype in FUNCTION_TYPES and isinstance(props.get("FunctionName"), str):
            return str(props["FunctionName"])
        return logical_id

    def queue_url(self, logical_id: str) -> str:
        return f"{self.sqs_endpoint}/{ACCOUNT_ID}/{self.physical_name(logical_id)}"

    def arn(self, logical_id: str) -> str:  # noqa: PLR0911 - one ARN format per type
        rtype = self.resource_type(logical_id)
        name = self.physical_name(logical_id)
        if rtype in TABLE_TYPES:
            return f"arn:aws:dynamodb:{REGION}:{ACCOUNT_ID}:table/{name}"
        if rtype == QUEUE_TYPE:
            return f"arn:aws:sqs:{REGION}:{ACCOUNT_ID}:{name}"
        if rtype == BUCKET_TYPE:
            return f"arn:aws:s3:::{name}"
        if rtype in FUNCTION_TYPES:
            return f"arn:aws:lambda:{REGION}:{ACCOUNT_ID}:function:{name}"
        if rtype in LAYER_TYPES:
            return f"arn:aws:lambda:{REGION}:{ACCOUNT_ID}:layer:{name}:1"
        if rtype == "AWS::IAM::Role":
            return f"arn:aws:iam::{ACCOUNT_ID}:role/{name}"
        if rtype == "AWS::Logs::LogGroup":
            return f"arn:aws:logs:{REGION}:{ACCOUNT_ID}:log-group:{name}:*"
        if rtype == "AWS::SNS::Topic":
            return f"arn:aws:sns:{REGION}:{ACCOUNT_ID}:{name}"
        service = rtype.split("::")[1].lower() if rtype.count("::") >= 2 else "local"
        return f"arn:aws:{service}:{REGION}:{ACCOUNT_ID}:{name}"

    def ref(self, name: str) -> Any:
        pseudo: dict[str, Any] = {
            "AWS::Region": REGION,
            "AWS::AccountId": ACCOUNT_ID,
            "AWS::StackName": STACK_NAME,
            "AWS::StackId": f"arn:aws:cloudformation:{REGION}:{ACCOUNT_ID}:stack/{STACK_NAME}/local",
            "AWS::Partition": "aws",
            "AWS::URLSuffix": "amazonaws.com",
            "AWS::NotificationARNs": [],
            "AWS::NoValue": NO_VALUE,
        }
        if name in pseudo:
            return pseudo[name]
        if name in self.parameters:
            return self.parameters[name]
        if name in self.resources:
            if self.resource_type(name) == QUEUE_TYPE:
                return self.queue_url(name)
            return self.physical_name(name)
        raise TemplateError(f"!Ref {name}: no such parameter or resource")

    def get_att(self, logical_id: str, attribute: str) -> Any:  # noqa: PLR0911 - one value per attribute
        if logical_id not in self.resources:
            raise TemplateError(f"!GetAtt {logical_id}.{attribute}: no such resource")
        name = self.physical_name(logical_id)
        rtype = self.resource_type(logical_id)
        if attribute == "Arn":
            return self.arn(logical_id)
        if attribute in ("StreamArn", "LatestStreamArn"):
            return f"{self.arn(logical_id)}/stream/1970-01-01T00:00:00.000"
        if attribute == "LatestStreamLabel":
            return "1970-01-01T00:00:00.000"
        if rtype == QUEUE_TYPE:
            if attribute == "QueueName":
                return name
            if attribute == "QueueUrl":
                return self.queue_url(logical_id)
        if rtype == BUCKET_TYPE:
            if attribute in ("DomainName", "RegionalDomainName"):
                return f"{name}.s3.amazonaws.com"
            if attribute == "WebsiteURL":
                return f"http://{name}.s3-website-{REGION}.amazonaws.com"
        if attribute in ("Name", "TableName", "FunctionName"):
            return name
        return f"{logical_id}.{attribute}"

    # -- conditions -----------------------------------------------------------------------

    def condition(self, name: str) -> bool:
        if name in self._conditions:
            return self._conditions[name]
        conditions = self.template.get("Conditions") or {}
        if name not in conditions:
            raise TemplateError(f"condition {name} is not declared")
        if name in self._evaluating:
            raise TemplateError(f"condition {name} refers to itself")
        self._evaluating.add(name)
        try:
            value = _as_bool(self.resolve(conditions[name]))
        finally:
            self._evaluating.discard(name)
        self._conditions[name] = value
        return value

    def resource_enabled(self, logical_id: str) -> bool:
        cond = (self.resources.get(logical_id) or {}).get("Condition")
        return True if cond is None else self.condition(str(cond))

    # -- evaluation -----------------------------------------------------------------------

    def resolve(self, value: Any) -> Any:
        """Evaluate every intrinsic function in ``value``; ``AWS::NoValue`` entries vanish."""
        if isinstance(value, list):
            items = [self.resolve(v) for v in value]
            return [v for v in items if v is not NO_VALUE]
        if not isinstance(value, dict):
            return value
        if len(value) == 1:
            key, arg = next(iter(value.items()))
            if key == "Ref":
                return self.ref(str(self.resolve(arg)))
            if key == "Condition" and isinstance(arg, str):
                return self.condition(arg)
            if key.startswith("Fn::"):
                return self._function(key[4:], arg)
        resolved = {k: self.resolve(v) for k, v in value.items()}
        return {k: v for k, v in resolved.items() if v is not NO_VALUE}

    def _function(self, name: str, arg: Any) -> Any:  # noqa: PLR0911, PLR0912 - a dispatch table
        if name == "GetAtt":
            parts = arg.split(".", 1) if isinstance(arg, str) else [self.resolve(a) for a in arg]
            return self.get_att(str(parts[0]), ".".join(str(p) for p in parts[1:]))
        if name == "Sub":
            return self._sub(arg)
        if name == "Join":
            sep, items = arg
            values = self.resolve(items)
            return str(self.resolve(sep)).join(_to_str(v) for v in values)
        if name == "If":
            cond, when_true, when_false = arg
            return self.resolve(when_true if self.condition(str(cond)) else when_false)
        if name == "Equals":
            left, right = self.resolve(arg)
            return _to_str(left) == _to_str(right)
        if name == "Not":
            return not _as_bool(self.resolve(arg)[0])
        if name == "And":
            return all(_as_bool(v) for v in self.resolve(arg))
        if name == "Or":
            return any(_as_bool(v) for v in self.resolve(arg))
        if name == "Select":
            index, items = self.resolve(arg)
            return items[int(index)]
        if name == "Split":
            sep, text = self.resolve(arg)
            return str(text).split(str(sep))
        if name == "FindInMap":
            map_name, top, second, *rest = self.resolve(arg)
            try:
                return (self.template.get("Mappings") or {})[map_name][top][second]
            except (KeyError, TypeError):
                if rest and isinstance(rest[0], dict) and "DefaultValue" in rest[0]:
                    return rest[0]["DefaultValue"]
                raise TemplateError(f"Fn::FindInMap: no {map_name}.{top}.{second}") from None
        if name == "GetAZs":
            return [f"{REGION}{z}" for z in "abc"]
        if name == "Base64":
            import base64

            return base64.b64encode(_to_str(self.resolve(arg)).encode()).decode()
        if name == "ToJsonString":
            return json.dumps(self.resolve(arg), separators=(",", ":"))
        if name == "Length":
            return len(self.resolve(arg))
        if name == "ImportValue":
            export = self.resolve(arg)
            log.warning("Fn::ImportValue %s cannot be resolved locally; using its name", export)
            return f"import:{export}"
        raise TemplateError(f"Fn::{name} is not supported by the local stack")

    def _sub(self, arg: Any) -> str:
        if isinstance(arg, list):
            text, variables = arg[0], {k: self.resolve(v) for k, v in (arg[1] or {}).items()}
        else:
            text, variables = arg, {}

        def replace(match: re.Match[str]) -> str:
            expr = match.group(1)
            if expr.startswith("!"):
                return "${" + expr[1:] + "}"
            if expr in variables:
                return _to_str(variables[expr])
            if "." in expr and not expr.startswith("AWS::"):
                logical, _, attribute = expr.partition(".")
                return _to_str(self.get_att(logical, attribute))
            return _to_str(self.ref(expr))

        return _SUB_RE.sub(replace, str(text))


def _to_str(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, list):
        return ",".join(_to_str(v) for v in value)
    return str(value)
