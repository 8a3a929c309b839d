"""The Powertools Logger (JSON, correlation id), Metrics (EMF) and Tracer every function uses.

One instance of each per process, shared by the HTTP entry point (``mall.api.http``) and the
worker entry point (``mall.workers``), so the workers do not import the event handler."""

from __future__ import annotations

from aws_lambda_powertools import Logger, Metrics, Tracer

logger = Logger()
metrics = Metrics()
# Only botocore is patched (DynamoDB, S3, SSM calls become subsegments): the default list also
# patches `requests`, which nothing here uses and which costs ~30 ms of every cold start to import.
tracer = Tracer(patch_modules=["botocore"])
