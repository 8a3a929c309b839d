"""The low-stock flag (库存预警): raised and lowered after any change of stock (orders, adjustments,
a new threshold), read by the merchant's low-stock list."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import datetime
from typing import Protocol

from aws_lambda_powertools import Logger
from aws_lambda_powertools.metrics import MetricUnit

from mall.dal.catalog import StockObservation
from mall.domain.catalog import Product, is_low_stock
from mall.observability import metrics

logger = Logger(child=True)


class StockFlags(Protocol):
    """What the flag reads and writes of ``mall.dal.catalog.ProductRepository`` (the order use
    cases hold the repository as a wider protocol of their own)."""

    def observe_stock(self, product_ids: Iterable[str], /) -> list[StockObservation]: ...
    def record_stock_level(self, product: Product, *, low: bool, now: datetime) -> bool: ...


def note_stock_levels(*, products: StockFlags, product_ids: Sequence[str], now: datetime,
                      observed: Sequence[StockObservation] | None = None) -> None:
    """After stock changed (orders, adjustments, a new threshold): raise or lower each product's
    low-stock flag, and emit ``LowStockProducts`` for each product that just crossed into low
    stock. Safe to repeat and to run concurrently: an older observation never overwrites a newer.
    ``observed``: the products as the change left them, when the caller knows it without a read."""
    for seen in products.observe_stock(product_ids) if observed is None else observed:
        product = seen.product
        low = is_low_stock(product.stock, product.low_stock_threshold)
        if low == seen.flagged:
            continue
        if products.record_stock_level(product, low=low, now=now) and low:
            metrics.add_metric(name="LowStockProducts", unit=MetricUnit.Count, value=1)
            logger.warning("product low on stock", extra={"product_id": product.product_id, "stock": product.stock,
                                                          "threshold": product.low_stock_threshold})
