"""The Powertools Logger (JSON, correlation id), Metrics (EMF) and Tracer every function uses.

One instance of each per process, shared by the HTTP entry point (``mall.api.http``) and the
worker entry point (``mall.workers``), so the workers do not import the event handler.

Where the X-Ray SDK is loaded (``Tracer``): only in the functions that are traced, those template.yaml
gives ``Tracing: Active`` (the ones that call WeChat Pay, template.yaml says why), which say so at their
entry point: ``entrypoint(app, traced=True)`` for an HTTP function, ``worker_entrypoint(run,
traced=True)`` or ``batch_entrypoint(..., traced=True)`` for a worker (tests/unit/test_cold_start_imports.py
holds the two lists equal). The other functions never load it: Powertools loads the SDK even for a
disabled Tracer, which costs about a tenth of the cold-start baseline (docs/performance.md has the
figures), and their logs and metrics tell what a trace would."""

from __future__ import annotations

import threading
from contextlib import AbstractContextManager, nullcontext
from typing import Any

from aws_lambda_powertools import Logger, Metrics, Tracer
from aws_lambda_powertools.metrics.provider.cloudwatch_emf.cloudwatch import AmazonCloudWatchEMFProvider

from mall.runtime import lazy_modules

#: The custom metrics CloudWatch keeps: the ones an alarm or the money dashboard in template.yaml reads
#: (tests/unit/test_published_metrics.py holds the two lists equal). Each is billed USD 0.30 a month for
#: the hours it receives data; the other counts the code makes with ``metrics.add_metric`` are written
#: as the ``counts`` field of one log line per invocation instead, which Logs Insights sums just as well
#: (docs/operations.md, "Counts in the logs").
PUBLISHED_METRICS = frozenset({
    "UnhandledErrors", "LedgerMismatches", "PayoutsStuck", "FraudScanAdvanced",  # alarms
    "PaidAmountFen",  # the money dashboard; its SampleCount is the number of orders paid (one value each)
    "WithdrawalsPaid", "WithdrawalsPaidFen", "WithdrawalsFailed",
    "RefundsApproved", "PaymentRefused", "PaymentAmountMismatch", "WebhookRejected",
    "LedgerReconciliationInconclusive", "PayoutsReconciled", "PaymentsReconciled",
})


class PublishedOnly(AmazonCloudWatchEMFProvider):
    """Powertools' EMF provider that turns only ``PUBLISHED_METRICS`` into CloudWatch metrics; every
    other count is summed per invocation and logged once, at the flush, as ``counts``."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.counts: dict[str, float] = {}
        self._counts_lock = threading.Lock()  # the money simulator calls one process's handlers from threads

    def add_metric(self, name: str, unit: Any, value: float, resolution: Any = 60) -> None:
        if name in PUBLISHED_METRICS:
            super().add_metric(name=name, unit=unit, value=value, resolution=resolution)
            return
        with self._counts_lock:
            self.counts[name] = self.counts.get(name, 0) + value

    def flush_metrics(self, raise_on_empty_metrics: bool = False) -> None:
        with self._counts_lock:
            counts, self.counts = self.counts, {}
        if counts:
            logger.info("counts", extra={"counts": counts})
        if self.metric_set or raise_on_empty_metrics:
            super().flush_metrics(raise_on_empty_metrics=raise_on_empty_metrics)

    def clear_metrics(self) -> None:
        with self._counts_lock:
            self.counts = {}
        super().clear_metrics()


logger = Logger()
metrics = Metrics(provider=PublishedOnly())


_tracer: Tracer | None = None


def xray_tracer() -> Tracer:
    """The process's Tracer, built on first use: by ``mall.api.http.entrypoint`` or
    ``mall.workers.worker_entrypoint`` for a traced function, at import, so botocore is patched before
    the function's first AWS call.

    Only botocore is patched (DynamoDB, S3, SQS calls become subsegments): the default list also
    patches `requests`, which nothing here uses and which costs ~30 ms of a cold start to import.
    ``asyncio``, which the SDK's ``wrapt`` imports and no traced code path uses, is loaded only if
    something uses it (``mall.runtime.lazy_modules``): about half of the SDK's cost at init. Calls
    botocore does not make (WeChat Pay's API) record their own subsegments: ``remote_subsegment``."""
    global _tracer  # noqa: PLW0603 (one per process, like the Logger and Metrics above)
    if _tracer is None:
        lazy_modules.on_first_use("asyncio")
        _tracer = Tracer(patch_modules=["botocore"])
    return _tracer


def remote_subsegment(name: str) -> AbstractContextManager[Any]:
    """A subsegment (namespace ``remote``) around one call to a service botocore does not reach, as
    the X-Ray SDK's own HTTP patches record theirs: the caller sets its ``http`` fields, flags and
    annotations. It yields the SDK's subsegment where the function is traced and tracing is on; else
    ``None`` (a function that never built the Tracer never loads the SDK for it), and also when the
    request is not sampled or has no segment (the SDK's ``DummySubsegment`` or ``None``: nothing sent).

    ``name`` is what the trace map and the timeline show: the API, never an id or personal data."""
    tracer = _tracer
    if tracer is None or tracer.disabled:
        return nullcontext()
    subsegment: AbstractContextManager[Any] = tracer.provider.in_subsegment(name, namespace="remote")
    return subsegment
