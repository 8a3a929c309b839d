"""Count the stack's resources as CloudFormation will see them: after the SAM transform.

    .venv-sam/bin/python -m tools.stack_resources [--max N] [--json]

CloudFormation allows 500 resources a stack; every HTTP route costs a Lambda permission and every
function its own role unless it shares one, so the budget is spent quickly. Runs in the SAM venv
(``aws-sam-translator`` comes with the SAM CLI; in the app's venv it would pin another pydantic).
Local code paths stand in for the S3 locations ``sam package`` would upload them to."""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections import Counter
from pathlib import Path
from typing import Any

TEMPLATE = Path(__file__).resolve().parents[1] / "template.yaml"
#: What the HTTP API's notify URL parameter needs to translate; it has no default on purpose.
PARAMETERS = {"WeChatPayNotifyUrl": "https://example.com/webhooks/wechatpay"}


class _NoManagedPolicies:
    """The template names managed policies by ARN, so nothing needs looking up in IAM."""

    def load(self) -> dict[str, str]:
        return {}


def transformed(template: Path = TEMPLATE) -> dict[str, Any]:
    from samtranslator.translator.transform import transform
    from samtranslator.yaml_helper import yaml_parse

    os.environ.setdefault("AWS_DEFAULT_REGION", "us-east-1")
    document = yaml_parse(template.read_text(encoding="utf-8"))
    for resource in document["Resources"].values():
        properties = resource.get("Properties", {})
        for uri in ("CodeUri", "ContentUri"):
            if isinstance(properties.get(uri), str):
                properties[uri] = "s3://deployment-bucket/artifact.zip"
    result: dict[str, Any] = transform(document, PARAMETERS, _NoManagedPolicies())
    return result


def count_by_type(template: Path = TEMPLATE) -> Counter[str]:
    return Counter(resource["Type"] for resource in transformed(template)["Resources"].values())


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--max", type=int, default=None, help="exit 1 when the stack has more resources")
    parser.add_argument("--json", action="store_true", help="print {type: count, ...} as JSON")
    args = parser.parse_args(argv)
    counts = count_by_type()
    total = sum(counts.values())
    if args.json:
        print(json.dumps({"total": total, "by_type": dict(counts.most_common())}))
    else:
        for rtype, n in counts.most_common():
            print(f"{n:5d}  {rtype}")
        print(f"{total:5d}  resources after the SAM transform (CloudFormation allows 500)")
    if args.max is not None and total > args.max:
        print(f"over the budget of {args.max}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
