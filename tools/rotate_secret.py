"""Rotate one of the stage's secrets in SSM Parameter Store.

    python -m tools.rotate_secret token_signing_key                       # a new random value
    python -m tools.rotate_secret wechatpay_merchant_private_key --from-file new_key.pem
    python -m tools.rotate_secret wechatpay_apiv3_key --from-file v3key.txt

Set SECRETS_PREFIX (``/mall/<Stage>``) and AWS credentials. The value is written as a new version
of the SecureString parameter; the functions read it within SECRETS_MAX_AGE_SECONDS (default 300),
with no redeploy. What each rotation means for users is in docs/operations.md#rotating-a-key."""

from __future__ import annotations

import argparse
import os
import secrets
import sys
from pathlib import Path
from typing import TYPE_CHECKING, get_args

import boto3

from mall.secrets import SecretName

if TYPE_CHECKING:
    from mypy_boto3_ssm.client import SSMClient

#: Secrets the tool may generate itself: random keys only this service uses.
GENERATED = frozenset({"token_signing_key"})
NAMES: tuple[str, ...] = get_args(SecretName)


def rotate(ssm: SSMClient, prefix: str, name: str, value: str) -> int:
    """Write ``value`` as the secret's new version; returns the parameter's version."""
    if name not in NAMES:
        raise ValueError(f"{name} is not a secret of this service ({', '.join(NAMES)})")
    if not value.strip():
        raise ValueError("the new value is empty")
    response = ssm.put_parameter(Name=f"{prefix.rstrip('/')}/{name}", Value=value, Type="SecureString",
                                 Overwrite=True)
    return int(response["Version"])


def main(argv: list[str] | None = None, *, ssm: SSMClient | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("name", choices=NAMES)
    parser.add_argument("--from-file", type=Path, default=None, help="the new value (a PEM key, the APIv3 key)")
    args = parser.parse_args(argv)
    prefix = os.environ.get("SECRETS_PREFIX")
    if not prefix:
        print("set SECRETS_PREFIX (/mall/<Stage>)", file=sys.stderr)
        return 2
    if args.from_file is not None:
        value = args.from_file.read_text(encoding="utf-8")
    elif args.name in GENERATED:
        value = secrets.token_hex(32)  # the README's `openssl rand -hex 32`
    else:
        print(f"{args.name} comes from WeChat: give the new value with --from-file", file=sys.stderr)
        return 2
    version = rotate(ssm or boto3.client("ssm"), prefix, args.name, value)
    print(f"{prefix}/{args.name} is now version {version}; functions read it within SECRETS_MAX_AGE_SECONDS")
    return 0


if __name__ == "__main__":
    sys.exit(main())
