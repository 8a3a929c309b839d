"""Publish a build of the merchant console to a deployed stack.

    make console-publish STACK=mall-prod        # = python -m tools.publish_console --stack mall-prod

Reads the stack's outputs (ApiUrl, ConsoleBucketName, ConsoleDistributionId), writes the build's
``config.json`` with the API's URL (one build serves any stack), uploads ``console/dist`` under the
bucket's ``console/`` prefix with the caching the distribution relies on (hashed assets a year and
immutable; ``index.html`` and ``config.json`` no-cache), removes the files an older build left, and
invalidates the two no-cache paths at CloudFront. AWS credentials come from the environment."""

from __future__ import annotations

import argparse
import json
import mimetypes
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import boto3

ROOT = Path(__file__).resolve().parent.parent
DIST = ROOT / "console" / "dist"
PREFIX = "console/"
IMMUTABLE = "public, max-age=31536000, immutable"
NO_CACHE = "no-cache"


@dataclass(frozen=True)
class Target:
    api_url: str
    bucket: str
    distribution_id: str


def stack_target(cloudformation: Any, stack: str) -> Target:
    outputs = {o["OutputKey"]: o["OutputValue"]
               for o in cloudformation.describe_stacks(StackName=stack)["Stacks"][0].get("Outputs", [])}
    missing = [k for k in ("ApiUrl", "ConsoleBucketName", "ConsoleDistributionId") if k not in outputs]
    if missing:
        raise SystemExit(f"stack {stack} has no output {', '.join(missing)}: deploy the current template first")
    return Target(outputs["ApiUrl"], outputs["ConsoleBucketName"], outputs["ConsoleDistributionId"])


def _cache_control(relative: str) -> str:
    return IMMUTABLE if relative.startswith("assets/") else NO_CACHE


def _content_type(path: Path) -> str:
    kind = mimetypes.guess_type(path.name)[0] or "application/octet-stream"
    return f"{kind}; charset=utf-8" if kind.startswith("text/") or kind in (
        "application/javascript", "application/json") else kind


def publish(target: Target, *, s3: Any, cloudfront: Any, dist: Path = DIST) -> dict[str, int]:
    """Upload ``dist`` (config.json rewritten for ``target``); returns what was uploaded and removed."""
    if not (dist / "index.html").is_file():
        raise SystemExit(f"{dist} has no build: run `make console-build` first")
    files = sorted(p for p in dist.rglob("*") if p.is_file())
    uploaded: set[str] = set()
    # Assets first and index.html last: a browser that loads the new index finds its assets there.
    for path in sorted(files, key=lambda p: p.name == "index.html"):
        relative = path.relative_to(dist).as_posix()
        body = path.read_bytes()
        if relative == "config.json":
            body = json.dumps({"apiBaseUrl": target.api_url.rstrip("/")}).encode()
        s3.put_object(Bucket=target.bucket, Key=PREFIX + relative, Body=body, ContentType=_content_type(path),
                      CacheControl=_cache_control(relative))
        uploaded.add(PREFIX + relative)
    # Hashed assets of older builds stay a day for pages still open on them, then go.
    removed = 0
    cutoff = time.time() - 86_400
    for page in s3.get_paginator("list_objects_v2").paginate(Bucket=target.bucket, Prefix=PREFIX):
        for item in page.get("Contents", []):
            if item["Key"] not in uploaded and item["LastModified"].timestamp() < cutoff:
                s3.delete_object(Bucket=target.bucket, Key=item["Key"])
                removed += 1
    cloudfront.create_invalidation(DistributionId=target.distribution_id, InvalidationBatch={
        "Paths": {"Quantity": 2, "Items": [f"/{PREFIX}index.html", f"/{PREFIX}config.json"]},
        "CallerReference": f"console-{int(time.time() * 1000)}"})
    return {"uploaded": len(uploaded), "removed": removed}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--stack", required=True, help="the deployed stack's name (samconfig.toml stack_name)")
    args = parser.parse_args(argv)
    target = stack_target(boto3.client("cloudformation"), args.stack)
    result = publish(target, s3=boto3.client("s3"), cloudfront=boto3.client("cloudfront"))
    print(f"published {result['uploaded']} files to s3://{target.bucket}/{PREFIX} "
          f"(removed {result['removed']} old); the console calls {target.api_url}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
