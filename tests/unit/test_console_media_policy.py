"""template.yaml lets the deployed console use the media bucket: its Content-Security-Policy allows
posting the presigned upload form (connect-src) and showing the signed image URLs (img-src) in the
form the S3 client really signs them, region by region, and the bucket's CORS lets the console's
origin, and only it, read the answer of that post."""

from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit

import pytest

from local.cfn_yaml import load_yaml
from mall.dal import objects
from tests.conftest import TEMPLATE

RESOURCES: dict[str, Any] = load_yaml(TEMPLATE)["Resources"]
#: A name as CloudFormation generates it for the template's MediaBucket.
BUCKET = "mall-prod-mediabucket-1x2y3z4w5v6u"
#: us-east-1 and most regions sign on the global endpoint (bucket.s3.amazonaws.com); China's
#: partition on the regional one (bucket.s3.cn-north-1.amazonaws.com.cn).
REGIONS = {"us-east-1": "amazonaws.com", "ap-east-1": "amazonaws.com", "eu-west-1": "amazonaws.com",
           "cn-north-1": "amazonaws.com.cn"}


def csp(region: str, suffix: str) -> dict[str, list[str]]:
    config = RESOURCES["ConsoleHeadersPolicy"]["Properties"]["ResponseHeadersPolicyConfig"]
    text = config["SecurityHeadersConfig"]["ContentSecurityPolicy"]["ContentSecurityPolicy"]["Fn::Sub"]
    text = text.replace("${AWS::Region}", region).replace("${AWS::URLSuffix}", suffix)
    assert "${" not in text, "the policy names a value this test does not resolve"
    directives = [d.split() for d in text.split(";") if d.strip()]
    return {d[0]: d[1:] for d in directives}


def allows(sources: list[str], url: str) -> bool:
    """CSP host-source matching, for the forms this policy uses ('self' never matches S3)."""
    parts = urlsplit(url)
    for source in sources:
        if source.startswith("'") or ":" not in source or source.endswith(":"):
            continue
        scheme, _, host = source.partition("://")
        if scheme != parts.scheme or "/" in host:
            continue
        if host == parts.hostname or (host.startswith("*.") and (parts.hostname or "").endswith(host[1:])):
            return True
    return False


@pytest.mark.parametrize(("region", "suffix"), REGIONS.items())
def test_the_console_may_post_uploads_to_and_show_images_from_the_media_bucket(
        region: str, suffix: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("AWS_ENDPOINT_URL_S3", raising=False)
    for name, value in {"AWS_REGION": region, "AWS_DEFAULT_REGION": region, "AWS_ACCESS_KEY_ID": "AKIDEXAMPLE",
                        "AWS_SECRET_ACCESS_KEY": "secret"}.items():
        monkeypatch.setenv(name, value)
    store = objects.ObjectStore(BUCKET, objects.s3_client.__wrapped__())  # the functions' client, this region
    form = store.presigned_post("product-images/" + "a" * 32 + ".png", content_type="image/png", max_bytes=5_000_000,
                                expires_in=600)
    shown = store.presigned_url("product-images/" + "a" * 32 + ".png", expires_in=3600)
    policy = csp(region, suffix)

    assert urlsplit(form["url"]).hostname == f"{BUCKET}.s3.{suffix}" or region.startswith("cn-")
    assert allows(policy["connect-src"], form["url"]), (form["url"], policy["connect-src"])
    assert allows(policy["img-src"], shown), (shown, policy["img-src"])
    assert not allows(policy["connect-src"], f"https://{BUCKET}.example.com/")
    assert policy["default-src"] == ["'self'"] and policy["script-src"] == ["'self'"]


def test_the_media_bucket_answers_the_consoles_upload_posts_only() -> None:
    rules = RESOURCES["MediaBucket"]["Properties"]["CorsConfiguration"]["CorsRules"]
    posting = [r for r in rules if "POST" in r["AllowedMethods"]]
    assert posting, "the console's browser could not read the answer of its upload post"
    for rule in posting:
        assert rule["AllowedOrigins"] == [{"Fn::Sub": "https://${ConsoleDistribution.DomainName}"}]
    assert all(set(r["AllowedMethods"]) <= {"POST"} for r in rules)  # reads go through signed URLs, not CORS
