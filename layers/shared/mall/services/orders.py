"""Use cases of placing an order (下单) and fetching its payment parameters (发起支付).

Placing an order is one consistent BatchGetItem of everything the request's keys name, a JSAPI
prepay at WeChat Pay, then ONE DynamoDB transaction (the order, its first history item, its unpaid
marker, the conditional stock decrements, the per-user purchase counters, the Idempotency-Key's
marker holding the answer). A failed prepay still places the order CREATED (stock stays reserved
until it expires) and the response says so (``payment: null``); the client fetches the parameters
again with ``POST /orders/{order_id}/payment``.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict, dataclass, replace
from datetime import datetime
from functools import cache
from typing import TYPE_CHECKING, Any, Protocol

from aws_lambda_powertools import Logger

from mall.clock import iso
from mall.config import function_environment
from mall.dal import first_use
from mall.dal.catalog import CategoryRepository, ProductRepository, SkuTake
from mall.dal.order_items import PlacementRefused, SkuLimit
from mall.dal.orders import OrderRepository, ProductCatalog
from mall.dal.placement_reads import PlacementFacts, PlacementReads
from mall.dal.request_markers import MarkedRequest, TransactionCancelled, Write
from mall.dal.retry import is_transient
from mall.dal.risk_feed import feed_write
from mall.dal.settings import SettingsRepository
from mall.domain import referral as referral_rules
from mall.domain.orders import (
    LineRequest,
    OrderStatus,
    PricedOrder,
    ProductLike,
    order_expires_at,
    price_order,
)
from mall.domain.referral import Attribution, ShareSource
from mall.domain.settings_terms import BindingMode
from mall.domain.skus import choose_skus
from mall.errors import Conflict, FieldProblem, InvalidInput, NotFound
from mall.ids import new_id
from mall.integrations.wechatpay.errors import WeChatPayError
from mall.schemas.orders import (
    PaymentParams,
    PlacedOrderLineView,
    PlaceOrderRequest,
    PlaceOrderResponse,
)
from mall.services.cart_checkout import checked_out, checkout_refusal
from mall.services.catalog.stock import StockFlags, note_stock_levels
from mall.services.order_addresses import address_or_id, masked_address, sealed_address, with_saved_address
from mall.services.order_coupons import coupon_refusal, use_coupon, with_coupon_lines
from mall.services.order_payment import prepay
from mall.services.request_replay import replay, replay_refused

if TYPE_CHECKING:
    from mall.dal.campaigns import CampaignRepository
    from mall.dal.cart import CartRepository
    from mall.dal.coupons import CouponRepository
    from mall.dal.table import Table
    from mall.integrations.wechatpay.client import WeChatPayClient
    from mall.services.referral import ReferralRepositories

logger = Logger(child=True)


def _refusal(exc: PlacementRefused, *, now: datetime, priced: int) -> Conflict:
    """The 409 of a refused stock or counter write; ``priced``: the product's ``version`` the order
    was priced from."""
    current = exc.current or {}
    if exc.kind == "stock":
        off_at = current.get("off_shelf_at")
        if not current.get("on_shelf", True) or (off_at is not None and str(off_at) <= iso(now)):
            return Conflict(f"product {exc.product_id} is not on sale", code="product_unavailable",
                            details={"product_id": exc.product_id})
        if current and int(current.get("version", 1)) != priced:
            return Conflict(f"product {exc.product_id} changed while the order was placed; retry",
                            code="order_contention", details={"product_id": exc.product_id})
        available = max(int(current.get("stock", 0)), 0)
        if current.get("specs"):  # a product with specs: what is left of each SKU
            left = {str(s["sku_id"]): max(int(s.get("stock", 0)), 0) for s in current.get("skus") or []
                    if s.get("enabled", True)}
            return Conflict(f"not enough left of the chosen SKUs of product {exc.product_id}", code="out_of_stock",
                            details={"product_id": exc.product_id, "available": available, "skus": left})
        return Conflict(f"only {available} left of product {exc.product_id}", code="out_of_stock",
                        details={"product_id": exc.product_id, "available": available})
    sku = {"sku_id": exc.sku_id} if exc.sku_id is not None else {}
    return Conflict(f"product {exc.product_id} has a per-customer limit you have reached",
                    code="purchase_limit_exceeded",
                    details={"product_id": exc.product_id, **sku,
                             "already": int(current.get("reserved_quantity", 0))})


class OrderCatalog(ProductCatalog, StockFlags, Protocol):
    """What placing and expiring orders use of ``mall.dal.catalog.ProductRepository``: the stock
    committed with the order, and the low-stock flags noted after it."""


@dataclass(frozen=True)
class PlacementRepositories:
    """What placing an order reads and writes: the order and stock, the buyer, the rules, the
    buyer's binding (attribution) and, for 自购优惠, the categories' rates. Each ``*_of`` is built, with its
    modules, by the first order that uses it (a share link to walk, 自购优惠, cart lines, a coupon)."""

    orders: OrderRepository
    products: OrderCatalog
    settings: SettingsRepository
    categories: CategoryRepository
    reads: PlacementReads
    network_of: Callable[[], ReferralRepositories]
    cart_of: Callable[[], CartRepository]
    coupons_of: Callable[[], CouponRepository]
    campaigns_of: Callable[[], CampaignRepository]

    @classmethod
    def on(cls, table: Table) -> PlacementRepositories:
        def network() -> ReferralRepositories:
            from mall.services.referral import ReferralRepositories

            return ReferralRepositories.on(table)

        def cart() -> CartRepository:
            from mall.dal.cart import CartRepository

            return CartRepository(table)

        return cls(orders=OrderRepository(table, status_list=function_environment().order_status_list),
                   products=ProductRepository(table), settings=SettingsRepository(table),
                   categories=CategoryRepository(table), reads=PlacementReads(table), network_of=cache(network),
                   cart_of=cache(cart), coupons_of=first_use.coupons(table),
                   campaigns_of=first_use.campaigns(table))


@dataclass(frozen=True, slots=True)
class PlaceOrder:
    """下单: what the buyer asked for, who they are, and when. ``device_id`` / ``source_ip`` are
    stored on the order for the fraud scan, never logged."""

    request: PlaceOrderRequest
    buyer_id: str
    now: datetime
    device_id: str | None = None
    source_ip: str | None = None


def _attribute(repos: PlacementRepositories, facts: PlacementFacts, *, buyer_id: str, share: ShareSource | None,
               now: datetime, grandparent_active: bool = True) -> Attribution:
    """Who would earn, from the facts already read (the unread grandparent as ``grandparent_active``,
    which the transaction checks); only an unbound buyer's share link under first-payment binding
    walks the sharer's chain (``attribute_order``)."""
    settings = facts.current.settings
    if facts.buyer_parent is None and settings.binding_mode == BindingMode.FIRST_PAYMENT and share is not None \
            and referral_rules.is_valid_code(share.promoter_code):
        # Walking a sharer's chain is imported by the orders that need it, not at every cold start.
        from mall.services.referral.attribution import attribute_order

        return attribute_order(network=repos.network_of(), buyer_id=buyer_id, share=share, now=now)
    return referral_rules.attribute(buyer_id=buyer_id, buyer_parent=facts.buyer_parent, parent_of=facts.parent_of,
                                    promoters=facts.promoters_assuming(grandparent_active=grandparent_active),
                                    sharer=None, sharer_bindable=False,
                                    settings=settings, settings_version=facts.current.version)


def place_order(command: PlaceOrder, *, repos: PlacementRepositories, pay: Callable[[], WeChatPayClient],
                notify_url: str, marked: MarkedRequest | None = None) -> PlaceOrderResponse:
    """下单. With an ``Idempotency-Key`` (``marked``), its marker is read with everything else and
    written, holding the answer, in the order's transaction: a retry gets the first answer (the
    same payment parameters), never a second order.

    The facts are first read eventually consistent (half the units). What a stale fact could decide
    wrongly, the transaction's conditions refuse: the marker's put (absent), the stock decrement (on
    shelf, enough stock, the product's ``version`` as priced: its price, limit, type, SKUs), the
    purchase counters (within the limit), the coupon (unused), the cart lines (as read), the
    grandparent's status. Any refusal, the transaction's or one decided from the facts (out of
    stock, limit reached, not on sale, no such line …), is decided again from consistent reads, so
    a refusal never rests on a stale read. What no condition guards is a preview or a snapshot the
    same instant could have given: who would earn (the payment attributes afresh), the buyer's
    promoter status for 自购优惠 and the settings in force (an order placed a moment before the
    change); these are decided, as before, across the read → prepay → commit window, which the
    staleness (about a second) only widens. A saved address (``address_id``) is the buyer's own
    write, just made, that no condition guards: it is read consistently."""
    if command.request.address_id is None:
        try:
            return _place(command, repos=repos, pay=pay, notify_url=notify_url, marked=marked, consistent=False)
        except (Conflict, NotFound, InvalidInput, TransactionCancelled) as exc:
            if not _may_rest_on_a_stale_read(exc):
                raise
            logger.info("placement refused on eventual reads (%s): reading again consistently", type(exc).__name__)
    return _place(command, repos=repos, pay=pay, notify_url=notify_url, marked=marked, consistent=True)


def _may_rest_on_a_stale_read(exc: Exception) -> bool:
    """Whether a refusal could come from a stale fact: all but contention (the transaction lost to
    concurrent ones on every try, no condition failed: reading again would change nothing but the load
    on a busy product)."""
    cause = exc.__cause__ if isinstance(exc, Conflict) else exc
    return not (isinstance(cause, TransactionCancelled) and is_transient(cause))


def _place(command: PlaceOrder, *, repos: PlacementRepositories, pay: Callable[[], WeChatPayClient],
           notify_url: str, marked: MarkedRequest | None, consistent: bool) -> PlaceOrderResponse:
    request, buyer_id, now = command.request, command.buyer_id, command.now
    products = repos.products
    wanted = [LineRequest(line.product_id, line.quantity, line.sku_id) for line in request.lines]
    product_ids = list(dict.fromkeys(line.product_id for line in wanted))
    address_or_id(has_address=request.address is not None, has_address_id=request.address_id is not None)
    facts = repos.reads.read(buyer_id=buyer_id, product_ids=product_ids, request=marked,
                             cart_line_ids=request.cart_line_ids or (),
                             with_address_book=request.address_id is not None,
                             sku_lines=[(line.product_id, line.sku_id) for line in wanted if line.sku_id is not None],
                             coupon_id=request.coupon_id, consistent=consistent)
    if marked is not None and (earlier := replay(facts.marker, marked, PlaceOrderResponse)) is not None:
        return earlier  # before the cart: a replay removes no line again
    cart_writes = checked_out(request, facts.cart_lines, buyer_id=buyer_id, cart_of=repos.cart_of)
    customer = facts.customer
    if customer is None:
        raise NotFound("account no longer exists", code="account_not_found")
    request = with_saved_address(request, facts, buyer_id=buyer_id)
    # Past its planned off time a product is off the shelf for buyers too, before the schedule ran.
    found: Mapping[str, ProductLike] = {pid: p if p.shown_on_shelf(now) else replace(p, on_shelf=False)
                                        for pid, p in facts.products.items()}
    reserved = {pid: facts.reserved.get(pid, 0) for pid in product_ids
                if pid in found and found[pid].per_user_limit is not None}
    priced: PricedOrder = price_order(wanted, found, reserved=reserved, skus=choose_skus(wanted, facts.products),
                                      sku_reserved=facts.sku_reserved)
    if priced.needs_address and request.address is None:
        raise InvalidInput("a delivery address is required for physical goods", code="address_required",
                           fields=[FieldProblem("address", "required when any line is a physical product "
                                                           "(or `address_id`, a saved address)")])

    current = facts.current
    order_id = new_id("o")
    coupon = use_coupon(priced, coupons_of=repos.coupons_of, facts_coupon=facts.coupon, coupon_id=request.coupon_id,
                        buyer_id=buyer_id, order_id=order_id, now=now)
    priced, share = coupon.priced, coupon.share
    if request.share_source is not None:
        s = request.share_source
        share = ShareSource(promoter_code=s.promoter_code, source=s.source, product_id=s.product_id)
    attribution = _attribute(repos, facts, buyer_id=buyer_id, share=share, now=now)
    priced = _self_purchase_discount(repos, priced, attribution, facts, buyer_id=buyer_id, now=now)

    expires_at = order_expires_at(now, current.settings.orders.unpaid_expiry_minutes)
    lines = with_coupon_lines([line.as_item() for line in priced.lines], coupon.stored)
    # Only physical goods are delivered: no address is kept for an order that ships nothing.
    address = sealed_address(request, order_id) if priced.needs_address else None
    fields: dict[str, Any] = {
        "order_id": order_id, "buyer_id": buyer_id,
        "status": OrderStatus.CREATED.value, "amount_fen": priced.amount_fen, "goods_fen": priced.goods_fen,
        "shipping_fen": priced.shipping_fen, "discount_fen": priced.discount_fen, "lines": lines,
        "share_source": asdict(share) if share else None,
        "settings_version": current.version, "address": address, "created_at": iso(now),
        "expires_at_order": iso(expires_at), "out_trade_no": order_id, "version": 1,
        "device_id": command.device_id, "source_ip": command.source_ip,
        **({"coupon": coupon.stored} if coupon.stored else {}),
    }
    quantities: dict[str, int] = {}
    for line in priced.lines:
        quantities[line.product_id] = quantities.get(line.product_id, 0) + line.quantity
    # The prepay comes before the commit so that the answer, payment parameters included, is
    # stored with the order in its one transaction (the Idempotency-Key's marker). A refusal at the
    # commit (stock or limit taken by a concurrent order since the read) leaves an unpaid prepay at
    # WeChat Pay under an order id nobody holds: it expires unpaid at ``expires_at``.
    payment = _placed_prepay(pay, order_id=order_id, names=[line.name for line in priced.lines],
                             amount_fen=priced.amount_fen, openid=customer.openid, notify_url=notify_url,
                             expires_at=expires_at)
    response = _response(request, priced, order_id=order_id, now=now, expires_at=expires_at,
                         has_address=address is not None, payment=payment,
                         payment_error=None if payment is not None else "payment_unavailable")
    marker = [marked.put(response.model_dump_json())] if marked is not None else []
    cancelled = _commit(repos, facts, fields, _Attributing(buyer_id=buyer_id, share=share, now=now,
                                                           first=attribution),
                        quantities=quantities, priced=priced, extra=[*cart_writes, *coupon.writes, *marker])
    if cancelled is not None:
        earlier = replay_refused(cancelled, len(cancelled.reasons) - 1, marked, PlaceOrderResponse) \
            if marked is not None else None
        if earlier is None:
            raise (checkout_refusal(cancelled, cart_writes=len(cart_writes), after=len(marker) + len(coupon.writes))
                   or coupon_refusal(cancelled, coupon_writes=len(coupon.writes), after=len(marker)) or cancelled)
        return earlier  # a concurrent request with the same key placed the order first
    _note_stock(products, facts, quantities, order_id=order_id, now=now)
    return response


@dataclass(frozen=True, slots=True)
class _Attributing:
    buyer_id: str
    share: ShareSource | None
    now: datetime
    first: Attribution


def _commit(repos: PlacementRepositories, facts: PlacementFacts, fields: dict[str, Any], who: _Attributing, *,
            quantities: dict[str, int], priced: PricedOrder, extra: list[Write]) -> TransactionCancelled | None:
    """The order's transaction (None: placed), or the cancellation it leaves to the caller (its
    ``extra`` writes' conditions: the Idempotency-Key's marker). Who earns decides nothing of the
    price (a self-purchase discount rests on the buyer alone), so a grandparent found otherwise than
    assumed re-attributes only the writes, and tries once more."""
    orders, products, grandparent = repos.orders, repos.products, facts.unread_grandparent
    attribution, grandparent_active = who.first, True
    for _ in range(2):
        named = grandparent is not None and grandparent in (attribution.l1_promoter_id, attribution.l2_promoter_id)
        checks = [repos.reads.grandparent_check(grandparent, active=grandparent_active)] \
            if grandparent is not None and (named or not grandparent_active) else []
        order_id = str(fields["order_id"])
        feed = feed_write(orders.table_name, kind="order", ref=order_id, at=who.now,
                          attrs={"order_id": order_id, "buyer_id": who.buyer_id,
                                 "l1_promoter_id": attribution.l1_promoter_id,
                                 "l2_promoter_id": attribution.l2_promoter_id})
        writes = [feed, *checks, *extra]
        try:
            orders.place({**fields, "attribution": asdict(attribution)},
                         stock_writes={pid: products.reserve_stock(pid, q, _takes(priced, pid), now=who.now,
                                                                   version=facts.products[pid].version)
                                       for pid, q in quantities.items()},
                         limits={line.product_id: line.per_user_limit for line in priced.lines},
                         quantities=quantities, now=who.now, extra_writes=writes,
                         sku_limits=SkuLimit.of_lines(priced.lines))
            return None
        except PlacementRefused as exc:
            raise _refusal(exc, now=who.now, priced=facts.products[exc.product_id].version) from exc
        except TransactionCancelled as exc:
            at = len(exc.reasons) - len(writes) + 1
            if not checks or exc.reasons[at] != "ConditionalCheckFailed":
                return exc
            found = repos.reads.promoter_in(exc.items[at])
            grandparent_active = found is not None and found.is_active
            attribution = _attribute(repos, facts, buyer_id=who.buyer_id, share=who.share, now=who.now,
                                     grandparent_active=grandparent_active)
    raise Conflict("the buyer's promoters changed while the order was placed; retry", code="order_contention")


def _takes(priced: PricedOrder, product_id: str) -> list[SkuTake]:
    """The units of each SKU of ``product_id`` the order takes (empty: a product without specs)."""
    return [SkuTake(line.sku.index, line.sku.sku_id, line.quantity) for line in priced.lines
            if line.product_id == product_id and line.sku is not None]


def _note_stock(products: OrderCatalog, facts: PlacementFacts, quantities: dict[str, int], *, order_id: str,
                now: datetime) -> None:
    try:
        note_stock_levels(products=products, product_ids=list(quantities), now=now,
                          observed=facts.stock_after(quantities))
    except Exception:  # a low-stock flag must never undo or fail a placed order
        logger.exception("note_stock_levels failed after placing %s", order_id)


def _self_purchase_discount(repos: PlacementRepositories, priced: PricedOrder, attribution: Attribution,
                           facts: PlacementFacts, *, buyer_id: str, now: datetime) -> PricedOrder:
    if attribution.self_purchase and attribution.basis == "self_purchase" and attribution.l1_promoter_id is None:
        # 自购优惠 (discount mode): the buyer's would-be L1 amount comes off the price; nobody earns.
        current = facts.current
        rules = current if current.version == attribution.settings_version else (
            repos.settings.get(attribution.settings_version) or current)
        if rules.settings.commission.self_purchase == "discount":
            # The rates' rules are imported by the self-purchases they discount, not at every cold start.
            from mall.domain.commission import apply_line_discounts
            from mall.services.self_purchase import self_purchase_discounts

            return apply_line_discounts(priced, self_purchase_discounts(
                promoters=repos.network_of().promoters, categories=repos.categories, buyer_id=buyer_id,
                lines=priced.lines, settings=rules.settings, campaigns=repos.campaigns_of(), now=now))
    return priced


def _placed_prepay(pay: Callable[[], WeChatPayClient], *, order_id: str, names: Sequence[str], amount_fen: int,
                   openid: str, notify_url: str, expires_at: datetime) -> PaymentParams | None:
    """The new order's prepay; None when WeChat Pay refused or failed (the order stays CREATED)."""
    try:
        return prepay(pay(), order_id=order_id, names=names, amount_fen=amount_fen, openid=openid,
                      notify_url=notify_url, expires_at=expires_at)
    except (WeChatPayError, ValueError) as exc:
        logger.warning("prepay failed for %s: %s %s", order_id, type(exc).__name__, getattr(exc, "code", ""))
        return None


def _response(request: PlaceOrderRequest, priced: PricedOrder, *, order_id: str, now: datetime,
              expires_at: datetime, has_address: bool, payment: PaymentParams | None,
              payment_error: str | None) -> PlaceOrderResponse:
    return PlaceOrderResponse(
        order_id=order_id, status=OrderStatus.CREATED.value, amount_fen=priced.amount_fen,
        goods_fen=priced.goods_fen, shipping_fen=priced.shipping_fen, discount_fen=priced.discount_fen,
        lines=[PlacedOrderLineView(line_id=x.line_id, product_id=x.product_id, name=x.name, type=x.type,
                             quantity=x.quantity, unit_price_fen=x.unit_price_fen, paid_fen=x.paid_fen,
                             sku_id=x.sku.sku_id if x.sku else None, sku_label=x.sku.label if x.sku else None)
               for x in priced.lines],
        address=masked_address(request) if has_address else None, created_at=iso(now), expires_at=iso(expires_at),
        payment=payment, payment_error=payment_error,
    )
