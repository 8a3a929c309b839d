"""The Powertools Logger (JSON, correlation id), Metrics (EMF) and Tracer every function uses.

One instance of each per process, shared by the HTTP entry point (``mall.api.http``) and the
worker entry point (``mall.workers``), so the workers do not import the event handler.

Where the X-Ray SDK is loaded (``Tracer``): in the workers (schedules, queues, streams), not in
the HTTP functions. Every function keeps ``Tracing: Active``, so Lambda's own segments time each
function's initialisation and invocation without the SDK. What the SDK adds is a subsegment per AWS
call and the handler's annotations: worth it where an invocation makes long chains of calls (a batch
of records, a settlement slice) and nobody waits on its cold start; not on an HTTP route, where a
person waits on the cold start (the SDK and its botocore patch are loaded then: docs/performance.md
has the figures) and a request makes a few DynamoDB round trips, which its logs and the
``ColdStart`` metric already cover."""

from __future__ import annotations

from functools import cache

from aws_lambda_powertools import Logger, Metrics, Tracer

logger = Logger()
metrics = Metrics()


@cache
def worker_tracer() -> Tracer:
    """The process's Tracer, built on first use: by ``mall.workers.worker_entrypoint``, which a worker
    calls at import, before it makes any AWS client.

    Only botocore is patched (DynamoDB, S3, SQS calls become subsegments): the default list also
    patches `requests`, which nothing here uses and which costs ~30 ms of a cold start to import."""
    return Tracer(patch_modules=["botocore"])
