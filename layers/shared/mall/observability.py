"""The Powertools Logger (JSON, correlation id), Metrics (EMF) and Tracer every function uses.

One instance of each per process, shared by the HTTP entry point (``mall.api.http``) and the
worker entry point (``mall.workers``), so the workers do not import the event handler."""

from __future__ import annotations

from aws_lambda_powertools import Logger, Metrics, Tracer

logger = Logger()
metrics = Metrics()
tracer = Tracer()
