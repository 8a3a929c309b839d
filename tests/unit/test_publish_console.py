"""Publishing the console to a stack, against moto's S3 and CloudFront: config.json points at the
stack's API, caching is what the distribution relies on, and index.html is invalidated."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import boto3
import pytest
from moto import mock_aws

from tools.publish_console import IMMUTABLE, NO_CACHE, Target, publish


def _dist(root: Path) -> Path:
    (root / "assets").mkdir(parents=True)
    (root / "index.html").write_text("<!doctype html>", encoding="utf-8")
    (root / "config.json").write_text('{"apiBaseUrl": ""}', encoding="utf-8")
    (root / "assets" / "index-abc.js").write_text("x", encoding="utf-8")
    return root


def _distribution(cloudfront: Any) -> str:
    created = cloudfront.create_distribution(DistributionConfig={
        "CallerReference": "t", "Comment": "", "Enabled": True,
        "Origins": {"Quantity": 1, "Items": [{"Id": "o", "DomainName": "b.s3.amazonaws.com",
                                              "S3OriginConfig": {"OriginAccessIdentity": ""}}]},
        "DefaultCacheBehavior": {"TargetOriginId": "o", "ViewerProtocolPolicy": "redirect-to-https",
                                 "CachePolicyId": "658327ea-f89d-4fab-a63d-7e88639e58f6"}})
    return str(created["Distribution"]["Id"])


@mock_aws
def test_a_build_is_published_for_the_stacks_api(tmp_path: Path) -> None:
    s3, cloudfront = boto3.client("s3", region_name="us-east-1"), boto3.client("cloudfront", region_name="us-east-1")
    s3.create_bucket(Bucket="console-bucket")
    target = Target("https://api.example.com/", "console-bucket", _distribution(cloudfront))

    assert publish(target, s3=s3, cloudfront=cloudfront, dist=_dist(tmp_path / "dist")) == {"uploaded": 3,
                                                                                               "removed": 0}
    config = s3.get_object(Bucket="console-bucket", Key="console/config.json")
    assert json.loads(config["Body"].read()) == {"apiBaseUrl": "https://api.example.com"}
    assert config["CacheControl"] == NO_CACHE
    assert s3.head_object(Bucket="console-bucket", Key="console/index.html")["CacheControl"] == NO_CACHE
    asset = s3.head_object(Bucket="console-bucket", Key="console/assets/index-abc.js")
    assert asset["CacheControl"] == IMMUTABLE and asset["ContentType"].startswith("text/javascript")
    invalidations = cloudfront.list_invalidations(DistributionId=target.distribution_id)["InvalidationList"]
    assert invalidations["Quantity"] == 1


def test_an_unbuilt_console_is_refused(tmp_path: Path) -> None:
    with pytest.raises(SystemExit, match="console-build"):
        publish(Target("https://a", "b", "d"), s3=None, cloudfront=None, dist=tmp_path)
