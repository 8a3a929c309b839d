"""Orders (订单): pricing, the payment decision and expiry. Pure: no I/O, no boto3.

Rules decided here (docs/data-model.md, "orders and payment"):

- Prices come from the catalog, never from the client. A line's ``paid_fen`` is
  ``unit_price_fen × quantity − its share of discounts`` (no discounts exist yet, so
  ``discount_fen`` is 0); it is the commission base and excludes shipping.
- Shipping (运费): one parcel per order, so ``shipping_fen`` is the highest ``shipping_fee_fen``
  among the physical lines; an order with no physical line ships nothing and pays no shipping.
- ``amount_fen`` (what the buyer pays) = Σ line ``paid_fen`` + ``shipping_fen``.
- Each product appears once per order (merge quantities client-side): one transaction cannot
  touch the same stock item twice.
- A notification or a query result pays an order only when it is ``SUCCESS`` for our merchant
  and app and for exactly the order's amount. CREATED becomes PAID; EXPIRED becomes
  PAID_AFTER_EXPIRY (the money is refunded in full); an order already holding that
  transaction is a duplicate (answered success, nothing changes).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from enum import StrEnum
from typing import TYPE_CHECKING, Any, Final, Literal, Protocol

from mall.clock import parse_instant
from mall.domain.purchase_limits import check_purchase_limits
from mall.errors import Conflict, FieldProblem, InvalidInput

if TYPE_CHECKING:
    from mall.domain.skus import ChosenSku

MAX_LINES = 20  # 2 writes per line + order + history + marker stay far below DynamoDB's 100 per transaction
MAX_QUANTITY = 999
PHYSICAL: Final = "physical"
SERVICE: Final = "service"
VIRTUAL: Final = "virtual"
PRODUCT_TYPES = frozenset({"physical", "service", "virtual"})

#: How an order is delivered after payment (``mall.domain.fulfilment``), decided by its lines.
Fulfilment = Literal["physical", "service", "virtual"]


class OrderStatus(StrEnum):
    """订单状态. Refund state is per line and in refund items, never here."""

    CREATED = "CREATED"  # 待支付
    PAID = "PAID"  # 已支付
    EXPIRED = "EXPIRED"  # 超时关闭
    PAID_AFTER_EXPIRY = "PAID_AFTER_EXPIRY"  # 关闭后到账 (refunded in full)
    SHIPPED = "SHIPPED"
    COMPLETED = "COMPLETED"
    CLOSED = "CLOSED"


#: Statuses in which the order holds a WeChat Pay transaction.
HOLDS_PAYMENT = frozenset({OrderStatus.PAID, OrderStatus.PAID_AFTER_EXPIRY, OrderStatus.SHIPPED,
                           OrderStatus.COMPLETED, OrderStatus.CLOSED})


class CommissionLike(Protocol):
    @property
    def mode(self) -> Any: ...
    @property
    def l1(self) -> int: ...
    @property
    def l2(self) -> int: ...


class ProductLike(Protocol):
    """What pricing reads from ``mall.domain.catalog.Product`` (``mall.domain.catalog.Product`` satisfies it)."""

    @property
    def product_id(self) -> str: ...
    @property
    def name(self) -> str: ...
    @property
    def type(self) -> Any: ...
    @property
    def category_id(self) -> str | None: ...
    @property
    def price_fen(self) -> int: ...
    @property
    def stock(self) -> int: ...
    @property
    def shipping_fee_fen(self) -> int: ...
    @property
    def per_user_limit(self) -> int | None: ...
    @property
    def on_shelf(self) -> bool: ...
    @property
    def distribution_enabled(self) -> bool: ...
    @property
    def commission(self) -> CommissionLike: ...


def _plain(value: Any) -> Any:
    """An enum member's value, else the value itself (catalog enums or plain strings)."""
    return getattr(value, "value", value)


@dataclass(frozen=True, slots=True)
class LineRequest:
    product_id: str
    quantity: int
    sku_id: str | None = None



@dataclass(frozen=True, slots=True)
class PricedLine:
    line_id: str
    product_id: str
    name: str
    type: str
    category_id: str | None
    quantity: int
    unit_price_fen: int
    paid_fen: int
    commission: dict[str, Any]
    distribution_enabled: bool
    shipping_fee_fen: int
    per_user_limit: int | None
    sku: ChosenSku | None = None

    def as_item(self) -> dict[str, Any]:
        """The line as stored on the order (contract fields; ``refunded_fen`` starts at 0)."""
        sku = {"sku_id": self.sku.sku_id, "sku_index": self.sku.index, "sku_label": self.sku.label} if self.sku else {}
        if self.sku is not None and self.sku.per_user_limit is not None:  # counted on its SKU's own counter too
            sku["sku_per_user_limit"] = self.sku.per_user_limit
        return {"line_id": self.line_id, "product_id": self.product_id, "name": self.name, "type": self.type,
                "category_id": self.category_id, "quantity": self.quantity, "unit_price_fen": self.unit_price_fen,
                "paid_fen": self.paid_fen, "commission": self.commission,
                "distribution_enabled": self.distribution_enabled, "refunded_fen": 0, **sku}


@dataclass(frozen=True, slots=True)
class PricedOrder:
    lines: tuple[PricedLine, ...]
    goods_fen: int
    shipping_fen: int
    discount_fen: int
    amount_fen: int

    @property
    def needs_address(self) -> bool:
        return any(line.type == PHYSICAL for line in self.lines)


def shipping_for(lines: Sequence[PricedLine]) -> int:
    """One parcel: the highest shipping fee among physical lines; nothing to ship costs nothing."""
    return max((line.shipping_fee_fen for line in lines if line.type == PHYSICAL), default=0)


def price_order(requested: Sequence[LineRequest], products: Mapping[str, ProductLike], *,
                reserved: Mapping[str, int], skus: Mapping[int, ChosenSku] | None = None,
                sku_reserved: Mapping[tuple[str, str], int] | None = None) -> PricedOrder:
    """Validate the lines against the catalog and price them.

    ``reserved`` / ``sku_reserved``: the buyer's units per product / per SKU with a limit of its own
    (``mall.domain.purchase_limits``); ``skus`` the SKU each line (by index) buys, sold as that SKU. Stock and
    limits are checked again, atomically, by the transaction's conditions: these make the common refusal cheap."""
    chosen = skus or {}
    if not requested:
        raise InvalidInput("an order needs at least one line", code="empty_order",
                           fields=[FieldProblem("lines", "at least one line")])
    if len(requested) > MAX_LINES:
        raise InvalidInput(f"at most {MAX_LINES} lines per order", code="too_many_lines",
                           fields=[FieldProblem("lines", f"at most {MAX_LINES} lines")])
    seen: set[tuple[str, str | None]] = set()
    problems: list[FieldProblem] = []
    for index, line in enumerate(requested):
        sku_id = chosen[index].sku_id if index in chosen else None
        if (line.product_id, sku_id) in seen:
            problems.append(FieldProblem(f"lines.{index}.product_id", "product listed twice; add up the quantity"))
        seen.add((line.product_id, sku_id))
        if not 1 <= line.quantity <= MAX_QUANTITY:
            problems.append(FieldProblem(f"lines.{index}.quantity", f"must be 1–{MAX_QUANTITY}"))
        if line.product_id not in products:
            problems.append(FieldProblem(f"lines.{index}.product_id", "no such product"))
    if problems:
        raise InvalidInput("some order lines are invalid", code="invalid_order_lines", fields=problems)

    priced: list[PricedLine] = []
    for index, line in enumerate(requested, start=1):
        sku = chosen.get(index - 1)
        product = sku.sells_as if sku is not None else products[line.product_id]
        if not product.on_shelf:
            raise Conflict(f"product {product.product_id} is not on sale", code="product_unavailable",
                           details={"product_id": product.product_id})
        if product.stock < line.quantity:
            raise Conflict(f"only {max(product.stock, 0)} left of product {product.product_id}",
                           code="out_of_stock", details={"product_id": product.product_id,
                                                         "available": max(product.stock, 0)})
        check_purchase_limits(product.product_id, product.name, product.per_user_limit, sku, quantity=line.quantity,
                              already=reserved.get(product.product_id, 0), sku_reserved=sku_reserved or {})
        commission = product.commission
        priced.append(PricedLine(
            line_id=str(index), product_id=product.product_id, name=product.name, type=str(_plain(product.type)),
            category_id=product.category_id, quantity=line.quantity, unit_price_fen=product.price_fen,
            paid_fen=product.price_fen * line.quantity,
            commission={"mode": str(_plain(commission.mode)), "l1": int(commission.l1), "l2": int(commission.l2)},
            distribution_enabled=bool(product.distribution_enabled), shipping_fee_fen=product.shipping_fee_fen,
            per_user_limit=product.per_user_limit, sku=sku,
        ))
    goods = sum(line.unit_price_fen * line.quantity for line in priced)
    paid = sum(line.paid_fen for line in priced)
    shipping = shipping_for(priced)
    amount = paid + shipping
    if amount <= 0:
        raise InvalidInput("the order total must be at least 1 fen", code="zero_amount_order",
                           fields=[FieldProblem("lines", "nothing to pay")])
    return PricedOrder(lines=tuple(priced), goods_fen=goods, shipping_fen=shipping, discount_fen=goods - paid,
                       amount_fen=amount)


def order_expires_at(created_at: datetime, unpaid_expiry_minutes: int) -> datetime:
    return created_at + timedelta(minutes=unpaid_expiry_minutes)


# ---- the payment decision -------------------------------------------------------------------------

class PaymentOutcome(StrEnum):
    MARK_PAID = "mark_paid"  # CREATED → PAID
    MARK_PAID_AFTER_EXPIRY = "mark_paid_after_expiry"  # EXPIRED → PAID_AFTER_EXPIRY + full refund
    DUPLICATE = "duplicate"  # this transaction is already recorded: success, no change
    NOT_PAID = "not_paid"  # trade_state is not SUCCESS (NOTPAY, CLOSED, ...): nothing to record
    WRONG_MERCHANT = "wrong_merchant"  # mchid / appid are not ours
    AMOUNT_MISMATCH = "amount_mismatch"  # paid amount ≠ order amount: refuse, alert
    CONFLICTING_TRANSACTION = "conflicting_transaction"  # already paid by another transaction: alert


@dataclass(frozen=True, slots=True)
class PaymentFacts:
    """What WeChat Pay says (a TRANSACTION.SUCCESS resource or a query result)."""

    mchid: str
    appid: str
    trade_state: str
    amount_fen: int | None
    transaction_id: str | None


@dataclass(frozen=True, slots=True)
class PaymentDecision:
    outcome: PaymentOutcome
    reason: str = ""
    details: dict[str, Any] = field(default_factory=dict)

    @property
    def acknowledged(self) -> bool:
        """Whether the webhook answers success (the notification needs no redelivery)."""
        return self.outcome in {PaymentOutcome.MARK_PAID, PaymentOutcome.MARK_PAID_AFTER_EXPIRY,
                                PaymentOutcome.DUPLICATE}


def decide_payment(*, status: OrderStatus, order_amount_fen: int,  # noqa: PLR0911 (a decision table)
                   recorded_transaction_id: str | None, facts: PaymentFacts, our_mchid: str,
                   our_appid: str) -> PaymentDecision:
    """The decision table of one payment report (see the module doc)."""
    if facts.mchid != our_mchid or facts.appid != our_appid:
        return PaymentDecision(PaymentOutcome.WRONG_MERCHANT, "mchid or appid is not ours")
    if facts.trade_state != "SUCCESS":
        return PaymentDecision(PaymentOutcome.NOT_PAID, f"trade_state {facts.trade_state}")
    if not facts.transaction_id:
        return PaymentDecision(PaymentOutcome.NOT_PAID, "no transaction_id")
    if facts.amount_fen != order_amount_fen:
        return PaymentDecision(PaymentOutcome.AMOUNT_MISMATCH, "amount does not match the order",
                               {"order_amount_fen": order_amount_fen, "paid_amount_fen": facts.amount_fen})
    if status in HOLDS_PAYMENT:
        if recorded_transaction_id == facts.transaction_id:
            return PaymentDecision(PaymentOutcome.DUPLICATE, f"already {status}")
        return PaymentDecision(PaymentOutcome.CONFLICTING_TRANSACTION, "order already paid by another transaction")
    if status == OrderStatus.CREATED:
        return PaymentDecision(PaymentOutcome.MARK_PAID)
    return PaymentDecision(PaymentOutcome.MARK_PAID_AFTER_EXPIRY)


def reconcile_due(created_at: datetime, now: datetime, min_age_seconds: int) -> bool:
    """Ask WeChat Pay about an unpaid order only once the buyer had time to pay."""
    return now - created_at >= timedelta(seconds=min_age_seconds)


ShareSourceKind = Literal["link", "qr", "poster"]


@dataclass(frozen=True, slots=True)
class OrderLine:
    line_id: str
    product_id: str
    name: str
    type: str
    quantity: int
    unit_price_fen: int
    paid_fen: int
    refunded_fen: int = 0
    #: amounts of open refunds (REQUESTED / PROCESSING / FAILED) not yet refunded: held so that two
    #: refund requests can never add up to more than the line's paid amount.
    refund_held_fen: int = 0
    category_id: str | None = None
    sku_id: str | None = None  # a product with specs: the SKU and its position in the product
    sku_index: int | None = None
    sku_per_user_limit: int | None = None  # the SKU's own limit it was counted under (None: not per SKU)

    @property
    def refundable_fen(self) -> int:
        return max(self.paid_fen - self.refunded_fen - self.refund_held_fen, 0)


@dataclass(frozen=True, slots=True)
class Order:
    """The order (订单) as stored: placing writes it; payment, shipping, receipt, 核销 and refunds
    add their fields. Instants are kept as stored (ISO text); ``expires`` parses the one pricing needs."""

    order_id: str
    buyer_id: str
    status: OrderStatus
    amount_fen: int
    shipping_fen: int
    lines: tuple[OrderLine, ...]
    created_at: str
    version: int
    goods_fen: int = 0
    discount_fen: int = 0
    expires_at_order: str | None = None
    paid_at: str | None = None
    shipped_at: str | None = None
    carrier: str | None = None
    tracking_no: str | None = None
    completed_at: str | None = None
    completed_by: str | None = None
    #: 核销 of the order's service lines: in an order mixing physical and service lines, this (not
    #: the receipt) completes the service lines and starts their commission's T+N.
    service_verified_at: str | None = None
    verify_code_hash: str | None = None
    verify_failed_attempts: int = 0
    verify_locked_until: str | None = None
    shipping_refunded_fen: int = 0
    shipping_refund_held_fen: int = 0
    refund_count: int = 0
    transaction_id: str | None = None
    address: dict[str, Any] | None = None
    share_source: dict[str, Any] | None = None
    attribution: dict[str, Any] | None = None
    extra: dict[str, Any] = field(default_factory=dict, repr=False, compare=False)

    @property
    def expires(self) -> datetime:
        """When the unpaid order expires (written at placing, so always there on a stored order)."""
        if not self.expires_at_order:
            raise ValueError(f"order {self.order_id} has no expires_at_order")
        return parse_instant(self.expires_at_order)

    @property
    def placed(self) -> datetime:
        return parse_instant(self.created_at)

    def quantities(self) -> dict[str, int]:
        return {pid: sum(x.quantity for x in self.lines if x.product_id == pid)
                for pid in dict.fromkeys(x.product_id for x in self.lines)}

    @property
    def fulfilment(self) -> Fulfilment:
        return fulfilment_of(line.type for line in self.lines)

    def line_index(self, line_id: str) -> int | None:
        for index, line in enumerate(self.lines):
            if line.line_id == line_id:
                return index
        return None

    @property
    def mixed(self) -> bool:
        """Physical and service lines together: shipped and received, and its service lines verified."""
        return self.fulfilment == "physical" and any(line.type == SERVICE for line in self.lines)

    @property
    def service_left(self) -> bool:
        """Some service line is not refunded or held for a refund: there is something to verify."""
        return any(line.refundable_fen > 0 for line in self.lines if line.type == SERVICE)

    @property
    def nothing_left(self) -> bool:
        """Every line is refunded or held for a refund: nothing is left to deliver."""
        return all(line.refundable_fen == 0 for line in self.lines)


def fulfilment_of(types: Any) -> Fulfilment:
    kinds = set(types)
    if PHYSICAL in kinds:
        return "physical"
    if SERVICE in kinds:
        return "service"
    return "virtual"
