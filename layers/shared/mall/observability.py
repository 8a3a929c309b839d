"""The Powertools Logger (JSON, correlation id), Metrics (EMF) and Tracer every function uses.

One instance of each per process, shared by the HTTP entry point (``mall.api.http``) and the
worker entry point (``mall.workers``), so the workers do not import the event handler.

Where the X-Ray SDK is loaded (``Tracer``): in the workers (schedules, queues, streams), and in the
HTTP functions that are traced (``entrypoint(app, traced=True)`` where template.yaml gives
``Tracing: Active``: those that call WeChat Pay, template.yaml says why). The other HTTP functions
never load it: a person waits on their cold start, Powertools loads the SDK even for a disabled
Tracer (docs/performance.md has the figures), and their logs and metrics tell what a trace would."""

from __future__ import annotations

from functools import cache

from aws_lambda_powertools import Logger, Metrics, Tracer

logger = Logger()
metrics = Metrics()


@cache
def xray_tracer() -> Tracer:
    """The process's Tracer, built on first use: by ``mall.workers.worker_entrypoint``, which a worker
    calls at import, before it makes any AWS client, and by ``mall.api.http.entrypoint`` for a
    traced HTTP function.

    Only botocore is patched (DynamoDB, S3, SQS calls become subsegments): the default list also
    patches `requests`, which nothing here uses and which costs ~30 ms of a cold start to import."""
    return Tracer(patch_modules=["botocore"])
