"""A small S3 object store for generated media (promoter QR codes, posters).

The low-level client keeps cold starts short. Locally the endpoint is moto's
(``AWS_ENDPOINT_URL_S3``, set by the local stack) with path-style addressing, so presigned
URLs point at ``http://127.0.0.1:<port>/<bucket>/<key>`` and work from a test or a browser.
Keys are documented in docs/data-model.md ("QR codes and posters")."""

from __future__ import annotations

import os
from dataclasses import dataclass
from functools import lru_cache
from typing import TYPE_CHECKING, Any

import boto3
from botocore.config import Config
from botocore.exceptions import ClientError

if TYPE_CHECKING:
    from mypy_boto3_s3.client import S3Client

_MISSING = frozenset({"404", "NoSuchKey", "NotFound"})


class ObjectTooLarge(Exception):
    """The stored object is bigger than the caller agreed to read."""


@dataclass(frozen=True)
class StoredObject:
    body: bytes
    content_type: str


@lru_cache(maxsize=1)
def s3_client() -> S3Client:
    endpoint = os.environ.get("AWS_ENDPOINT_URL_S3") or None
    # Path style only against a local endpoint: a bucket name cannot be a subdomain of 127.0.0.1.
    config = Config(signature_version="s3v4", retries={"max_attempts": 4, "mode": "standard"},
                    connect_timeout=2, read_timeout=5, s3={"addressing_style": "path" if endpoint else "auto"})
    return boto3.client("s3", endpoint_url=endpoint, config=config)


class ObjectStore:
    """One bucket. ``put`` overwrites: every key this project writes is derived from its content's
    inputs, so two writers of one key write the same bytes and a repeat is harmless."""

    def __init__(self, bucket: str, client: S3Client | None = None) -> None:
        self.bucket = bucket
        self._client = client

    @property
    def client(self) -> S3Client:
        if self._client is None:
            self._client = s3_client()
        return self._client

    def put(self, key: str, body: bytes, *, content_type: str, cache_control: str | None = None,
            metadata: dict[str, str] | None = None) -> None:
        args: dict[str, Any] = {"Bucket": self.bucket, "Key": key, "Body": body, "ContentType": content_type}
        if cache_control:
            args["CacheControl"] = cache_control
        if metadata:
            args["Metadata"] = metadata
        self.client.put_object(**args)

    def exists(self, key: str) -> bool:
        try:
            self.client.head_object(Bucket=self.bucket, Key=key)
        except ClientError as exc:
            if _error_code(exc) in _MISSING:
                return False
            raise
        return True

    def get(self, key: str, *, max_bytes: int | None = None) -> StoredObject | None:
        """The object, or None when there is no such key. ``max_bytes`` refuses a bigger object
        (``ObjectTooLarge``) without reading it."""
        try:
            response = self.client.get_object(Bucket=self.bucket, Key=key)
        except ClientError as exc:
            if _error_code(exc) in _MISSING:
                return None
            raise
        stream = response["Body"]
        try:
            if max_bytes is not None and int(response.get("ContentLength", 0)) > max_bytes:
                raise ObjectTooLarge(f"{key} is {response.get('ContentLength')} bytes, more than {max_bytes}")
            body = stream.read()
        finally:
            stream.close()
        return StoredObject(body=body, content_type=str(response.get("ContentType") or "application/octet-stream"))

    def presigned_url(self, key: str, *, expires_in: int) -> str:
        """A GET URL for ``key`` valid ``expires_in`` seconds (no S3 call: signed locally)."""
        return self.client.generate_presigned_url("get_object", Params={"Bucket": self.bucket, "Key": key},
                                                  ExpiresIn=expires_in)


def _error_code(exc: ClientError) -> str:
    return str(exc.response.get("Error", {}).get("Code", ""))
