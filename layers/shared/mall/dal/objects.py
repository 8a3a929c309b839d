"""A small S3 object store for generated media (promoter QR codes, posters) and exports (CSV files
streamed with a multipart upload, ``MultipartWriter``).

The low-level client keeps cold starts short. Locally the endpoint is moto's
(``AWS_ENDPOINT_URL_S3``, set by the local stack) with path-style addressing, so presigned
URLs point at ``http://127.0.0.1:<port>/<bucket>/<key>`` and work from a test or a browser.
Keys are documented in docs/data-model.md ("QR codes and posters")."""

from __future__ import annotations

import contextlib
from dataclasses import dataclass
from functools import lru_cache
from typing import TYPE_CHECKING, Any

import boto3
from botocore.config import Config
from botocore.exceptions import ClientError

from mall.config import MIN_PART_BYTES, function_environment

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
    endpoint = function_environment().s3_endpoint
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
        # Not kept when shared: rebuilt after a SnapStart restore (mall.runtime.snapstart).
        return self._client if self._client is not None else s3_client()

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

    def presigned_url(self, key: str, *, expires_in: int, download_name: str | None = None) -> str:
        """A GET URL for ``key`` valid ``expires_in`` seconds (no S3 call: signed locally).
        ``download_name``: the browser saves the object under this file name."""
        params: dict[str, Any] = {"Bucket": self.bucket, "Key": key}
        if download_name:
            params["ResponseContentDisposition"] = f'attachment; filename="{download_name}"'
        return self.client.generate_presigned_url("get_object", Params=params, ExpiresIn=expires_in)

    def presigned_post(self, key: str, *, content_type: str, max_bytes: int, expires_in: int) -> dict[str, Any]:
        """A browser upload form (``url`` + ``fields``) for exactly ``key`` with exactly ``content_type``
        and at most ``max_bytes``: S3 refuses any other key, type or size (no S3 call: signed locally)."""
        post = self.client.generate_presigned_post(
            Bucket=self.bucket, Key=key, Fields={"Content-Type": content_type},
            Conditions=[{"Content-Type": content_type}, ["content-length-range", 1, max_bytes]],
            ExpiresIn=expires_in)
        return {"url": str(post["url"]), "fields": {str(k): str(v) for k, v in post["fields"].items()}}

    def delete(self, key: str) -> None:
        self.client.delete_object(Bucket=self.bucket, Key=key)

    # ---- multipart upload (large objects written as they are produced) ---------------------------

    def start_multipart(self, key: str, *, content_type: str, metadata: dict[str, str] | None = None) -> str:
        args: dict[str, Any] = {"Bucket": self.bucket, "Key": key, "ContentType": content_type}
        if metadata:
            args["Metadata"] = metadata
        return str(self.client.create_multipart_upload(**args)["UploadId"])

    def upload_part(self, key: str, upload_id: str, number: int, body: bytes) -> str:
        """Part ``number`` (1-based); every part but the last must be ≥ 5 MiB (S3's rule). Returns its ETag."""
        response = self.client.upload_part(Bucket=self.bucket, Key=key, UploadId=upload_id, PartNumber=number,
                                           Body=body)
        return str(response["ETag"])

    def complete_multipart(self, key: str, upload_id: str, etags: list[str]) -> None:
        self.client.complete_multipart_upload(
            Bucket=self.bucket, Key=key, UploadId=upload_id,
            MultipartUpload={"Parts": [{"ETag": etag, "PartNumber": n} for n, etag in enumerate(etags, start=1)]})

    def abort_multipart(self, key: str, upload_id: str) -> None:
        self.client.abort_multipart_upload(Bucket=self.bucket, Key=key, UploadId=upload_id)


def _error_code(exc: ClientError) -> str:
    return str(exc.response.get("Error", {}).get("Code", ""))


class MultipartWriter:
    """Write one object as it is produced, never holding more than about one part in memory.

    ``write`` appends to a buffer; whenever the buffer reaches ``part_size`` it is uploaded as the
    next part and emptied, so at most ``part_size`` + one write are buffered (``max_buffered``
    records the peak: the tests' proof). ``close`` uploads the rest as the last part and completes
    the upload; an object that never filled one part is a single PutObject instead. ``abort``
    (on any failure) discards the parts; the bucket's lifecycle rule also aborts forgotten uploads."""

    def __init__(self, store: ObjectStore, key: str, *, content_type: str, part_size: int = MIN_PART_BYTES,
                 metadata: dict[str, str] | None = None) -> None:
        if part_size < 1:
            raise ValueError("part_size must be positive")
        self.store = store
        self.key = key
        self.content_type = content_type
        self.part_size = part_size
        self.metadata = metadata
        self.upload_id: str | None = None
        self.etags: list[str] = []
        self.bytes_written = 0
        self.max_buffered = 0
        self._buffer = bytearray()
        self._closed = False

    @property
    def parts(self) -> int:
        return len(self.etags)

    def write(self, data: bytes) -> None:
        if self._closed:
            raise ValueError("write after close")
        self._buffer += data
        self.bytes_written += len(data)
        self.max_buffered = max(self.max_buffered, len(self._buffer))
        if len(self._buffer) >= self.part_size:
            self._flush()

    def _flush(self) -> None:
        if self.upload_id is None:
            self.upload_id = self.store.start_multipart(self.key, content_type=self.content_type,
                                                        metadata=self.metadata)
        self.etags.append(self.store.upload_part(self.key, self.upload_id, len(self.etags) + 1, bytes(self._buffer)))
        self._buffer.clear()

    def close(self) -> int:
        """Finish the object; returns its size in bytes."""
        if self._closed:
            return self.bytes_written
        if self.upload_id is None:
            self.store.put(self.key, bytes(self._buffer), content_type=self.content_type, metadata=self.metadata)
        else:
            if self._buffer:
                self._flush()
            self.store.complete_multipart(self.key, self.upload_id, self.etags)
        self._buffer.clear()
        self._closed = True
        return self.bytes_written

    def abort(self) -> None:
        """Give up: the parts uploaded so far are discarded (best effort)."""
        self._closed = True
        self._buffer.clear()
        if self.upload_id is not None:
            # Best effort: the lifecycle rule aborts a forgotten upload after a day anyway.
            with contextlib.suppress(ClientError):
                self.store.abort_multipart(self.key, self.upload_id)
