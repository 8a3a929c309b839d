"""Scheduled every minute: the catalog's timed work.

- 定时上下架: products whose planned on/off-shelf time has come change shelf (a Query of the sparse
  ``SHELFPLAN`` index by due time, each change a conditional update from the version read, audited).
- 库存预警提醒: each crossing into low stock not yet alerted is published to the alerts topic once.

Runs may overlap (a slow run, a redelivered schedule): every write is conditional on the state
it read, so each change is made, and each alert claimed, by one run."""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools.utilities.typing import LambdaContext

from mall.dal.catalog import LowStockAlerts
from mall.dal.table import main_table
from mall.integrations.alerts import alert_publisher
from mall.observability import logger
from mall.services.catalog.alerts import send_low_stock_alerts
from mall.services.catalog.common import CatalogRepositories
from mall.services.catalog.merchandising import apply_due_shelf_changes
from mall.workers import scheduled_time, worker_entrypoint

# Composition root: built once per cold start, shared by every invocation.
table = main_table()
repos = CatalogRepositories.on(table)
alerts = LowStockAlerts(table)


def run(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    now = scheduled_time(event)
    shelf = apply_due_shelf_changes(repos=repos, now=now)
    sent = send_low_stock_alerts(alerts=alerts, products=repos.products, publisher=alert_publisher(), now=now)
    report = {**shelf.as_dict(), **sent.as_dict()}
    logger.info("catalog schedule run", extra=report)
    # statusCode: the shape every sample-event check (tests/e2e/test_sample_events.py) reads.
    return {"statusCode": 200, **report}


handler = worker_entrypoint(run)
