"""库存预警提醒: the merchant is told once per crossing into low stock, on the alerts topic.

The low-stock flag (``mall.services.catalog.stock``) names each crossing by the moment it was
raised (``flagged_at``); it keeps that name while the stock stays low and drops it when the
stock recovers above the threshold, so the next crossing has a new name. A crossing is sent
when the schedule runs: claimed for a lease (an overlapping run leaves it alone), published,
then marked sent. A run that dies between publishing and marking leaves the lease to expire
and the next run sends it again (at least once); every delivery carries the same ``alert_key``."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from aws_lambda_powertools import Logger

from mall.dal.catalog import LowStockAlert, LowStockAlerts, ProductRepository
from mall.integrations.alerts import AlertPublisher

logger = Logger(child=True)

#: How long a run holds a crossing while it publishes; after it, another run may send it again.
ALERT_LEASE = timedelta(minutes=5)


@dataclass
class AlertRunReport:
    sent: list[str] = field(default_factory=list)
    failed: list[str] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        return {"alerts_sent": len(self.sent), "alerts_failed": len(self.failed)}


def _message(alert: LowStockAlert, name: str | None) -> str:
    return json.dumps({"type": "low_stock", "alert_key": alert.alert_key, "product_id": alert.product_id,
                       "name": name, "stock": alert.stock, "threshold": alert.threshold,
                       "flagged_at": alert.flagged_at,
                       "text": f"库存预警: {name or alert.product_id} 库存 {alert.stock}, 预警值 {alert.threshold}"},
                      ensure_ascii=False)


def send_low_stock_alerts(*, alerts: LowStockAlerts, products: ProductRepository, publisher: AlertPublisher,
                          now: datetime) -> AlertRunReport:
    """Publish each crossing into low stock not yet alerted, once per crossing (see the module)."""
    report = AlertRunReport()
    pending = alerts.pending()
    names = {pid: p.name for pid, p in products.get_many([a.product_id for a in pending]).items()}
    for alert in pending:
        if not alerts.claim(alert, now=now, lease_until=now + ALERT_LEASE):
            continue  # another run holds it, or the stock recovered meanwhile
        try:
            publisher.publish(subject=f"Low stock: {alert.product_id}",
                              message=_message(alert, names.get(alert.product_id)), alert_key=alert.alert_key)
        except Exception:  # the lease expires and a later run sends it again
            logger.exception("low-stock alert not published", extra={"alert_key": alert.alert_key})
            report.failed.append(alert.product_id)
            continue
        alerts.mark_sent(alert)
        report.sent.append(alert.product_id)
    return report
