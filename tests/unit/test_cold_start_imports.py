"""What a customer-facing function loads before its first request, measured as the cold-start
benchmark measures it (``bench.coldstart.modules_loaded_by``: a fresh interpreter, the function's
environment from the template with placeholder values, its code directory and the layer on
``sys.path``, the handler imported by file path).

``HEAVY`` names the modules a cold start does without, each with where it is loaded instead;
``ALLOWED`` lists, per function, the ones it truly needs at cold start. A module-level import
that pulls one of them into another function fails here: import it in the function that uses it
(docs/performance.md, "Cold start after the import diet"). ``WORKER_HEAVY`` does the same for every
worker (docs/performance.md, "Cold start of the workers").
"""

from __future__ import annotations

import ast
import importlib.metadata
import importlib.util
import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from bench.coldstart import gc_during_init, models_built_by, modules_loaded_by
from mall.api.lean_powertools import LEAN_PACKAGES, exported_names
from tests.conftest import ROOT

#: module (and its submodules) → where it is loaded instead of at cold start
HEAVY = {
    "cryptography": "when signing, verifying or decrypting (mall.integrations.wechatpay.crypto, pii_crypto)",
    "PIL": "when drawing a poster or checking an uploaded image (mall.services.promotion_media, media)",
    "aws_xray_sdk": "in the traced functions only (template.yaml: Tracing: Active; mall.observability)",
    "asyncio": "never: Powertools' AppSync resolver brings it, the event handler's package is lean "
               "(mall.api.lean_powertools); the X-Ray SDK's wrapt imports it and gets a stand-in that loads it "
               "on first use (mall.runtime.lazy_modules)",
    "aws_lambda_powertools.utilities.idempotency": "by the routes that run a use case once (mall.api.idempotency); "
                                                   "a route that marks its request in its own transaction takes "
                                                   "the header and the marker from mall.api.request_key",
    "mall.schemas.cart": "by the cart's routes; placing an order checks cart lines out with "
                         "mall.services.cart_checkout",
    "mall.schemas.address_book": "by the address book's routes; placing an order opens a saved address with "
                                 "mall.services.saved_address",
    "aws_lambda_powertools.utilities.data_classes.code_pipeline_job_event":
        "never: one of the event classes the data classes' package imports in full (mall.api.lean_powertools)",
    "mall.integrations.wechatpay.client": "by pay_client(), on the first call to WeChat Pay",
    "mall.services.commissions": "by the commission worker; placing an order needs mall.services.self_purchase",
    "mall.services.promotion_media": "by the QR code and poster functions; products signs image URLs with "
                                     "mall.services.media_bucket",
    "mall.services.refunds": "by the webhook when a refund notification arrives",
    "mall.services.payouts": "by the webhook when a transfer notification arrives",
    "mall.domain.stats": "by the stats worker and the two team-sales keys (mall.dal.keys)",
    "mall.domain.settings": "when a use case reads the settings document (mall.dal.settings) or an admin route "
                            "validates one; its terms and enums are in mall.domain.settings_terms",
    "mall.schemas.settings": "by the admin settings routes (mall.services.settings imports it when it answers)",
    "mall.services.risk": "by the webhook when a payer is not the buyer (PaymentRepositories.risk_of); by the "
                          "risk and fraud functions",
    "mall.dal.payouts": "by the webhook when a transfer notification arrives (PaymentRepositories.payouts_of)",
    "mall.dal.withdrawals": "by the withdrawal and payout functions; the webhook's payouts repository brings it "
                            "on a transfer notification",
    "mall.services.coupons": "by login for a customer it creates (新人礼); by the coupon and binding routes",
    "mall.domain.notifications": "by the notification worker, the wake-up job's notices (mall.domain.wake_up) and "
                                 "a settings document as it is read",
    "mall.schemas.referral": "by the promoter, team and admin routes; a binding or a visit answers with "
                            "mall.schemas.binding, the promoter's profile and its agreement with "
                            "mall.schemas.promoter_profile",
    "mall.services.orders": "by place order; paying an order placed earlier is mall.services.order_payment",
    "mall.dal.referral": "by the functions that read promoters or bindings; the product page reads "
                         "(mall.dal.catalog.page) import it for a signed-in viewer",
    "mall.domain.orders": "by the functions that read or write orders; a customer's profile lists an order's "
                          "refund numbers with mall.domain.refund_ids, the campaigns discount a priced order "
                          "with dataclasses.replace",
    "mall.dal.coupons": "when a login creates a customer (LoginRepositories.coupons_of), a promoter is appointed, "
                        "an order with a coupon expires or closes by a refund; by the coupon routes; when an order "
                        "names a coupon (PlacementRepositories.coupons_of)",
    "mall.domain.coupons": "with mall.dal.coupons, and by the refund use cases (mall.services.refunds)",
    "mall.domain.refunds": "by the refund routes, the order views (mall.schemas.refunds) and the webhook when a "
                           "refund notification arrives (PaymentRepositories.refunds_of); refund numbers are in "
                           "mall.domain.refund_ids",
    "mall.domain.fraud": "by the fraud scan and the risk routes; a login, an address or an order's address are "
                         "normalised with mall.domain.normalise",
    "mall.domain.catalog": "by the functions that read products; a promoter's rate copy "
                           "(mall.dal.commission_rates.promoter_write) is written without it",
    "mall.dal.catalog": "by the functions that read products; an order item names a SKU's type in annotations only",
    "mall.dal.campaigns": "by the functions that price a commission (products for a promoter, paying an order, the "
                          "promoter's boosts); when an order gets a self-purchase discount "
                          "(PlacementRepositories.campaigns_of)",
    "mall.domain.campaigns": "with mall.dal.campaigns, and by the product pages' reads (mall.dal.catalog.page)",
    "mall.domain.commission": "by the functions that price a commission; placing an order discounts with it when "
                              "the order names a coupon or gets a self-purchase discount",
    "mall.dal.catalog.page": "by the product pages (mall.services.catalog.common); the catalog's package imports it "
                             "when one of its names is first asked for",
    "mall.dal.cart": "by the cart's routes; when an order checks cart lines out (PlacementRepositories.cart_of)",
    "mall.domain.cart": "with mall.dal.cart, and when an order checks cart lines out (mall.services.cart_checkout)",
    "mall.dal.address_book": "by the address book's routes; when an order names a saved address "
                             "(mall.dal.placement_reads)",
    "mall.domain.address_book": "by the address book's routes; when an order names a saved address "
                                "(mall.services.order_addresses)",
    "mall.services.referral": "by the promoter, binding and visit routes; when an order walks a share link's chain "
                              "or gets a self-purchase discount (PlacementRepositories.network_of)",
    "mall.services.self_purchase": "when an order gets a self-purchase discount (mall.services.orders)",
    "mall.services.stats": "by the dashboard and the statistics; the admin's order list's date range imports it "
                           "(mall.services.day_range.created_range)",
    "mall.services.shipping": "by the shipping and order-stream functions (mall.services.fulfilment names it in "
                              "annotations only)",
    "mall.schemas.catalog": "by the merchant console's catalog functions; the product pages answer with "
                            "mall.schemas.catalog_public",
    "mall.schemas.fulfilment": "by the order views; placing and paying an order answer with the masked address of "
                               "mall.schemas.order_address",
    "mall.domain.ledger": "by the functions that move money or read balances (mall.dal.ledger); a promoter's "
                          "status flag on the wallet is named in mall.dal.promoter_wallet",
    "mall.services.media": "by the media uploads; a product's save checks its images with "
                           "mall.services.product_images; the product pages show content with "
                           "mall.services.catalog.content",
    "mall.schemas.product_content_in": "by the merchant console's catalog functions, which take a product's "
                                       "content; the product pages answer with mall.schemas.product_content",
    "mall.dal.commission_preview": "by the commission preview (mall.services.commission_preview); the commission "
                                   "list reads records with mall.dal.commission_sync",
    "mall.services.promoter_orders": "by a promoter's first list of orders (GET /promoter/orders) and the admin's "
                                     "orders by promoter; the commission list does without the orders' rules",
    "mall.services.settlement": "by the settlement functions; the console's promoters when a promoter is disabled",
    "mall.services.adjustments": "by the manual adjustments' routes of the console's promoters, on first use",
    "mall.dal.adjustments": "with mall.services.adjustments",
    "mall.services.referral.team": "by the team routes; the console's promoter team on first use; the promoter's "
                                   "profile is mall.services.referral.profile",
    "mall.services.referral.downline": "by the console's promoter downline, on first use",
    "mall.integrations.wechatpay.refund_resources": "by the refund routes and WeChat Pay's client; by the webhook "
                                                    "when a refund notification arrives",
    "mall.integrations.wechatpay.transfer_resources": "by the payout functions and WeChat Pay's client; by the "
                                                      "webhook when a transfer notification arrives",
    "mall.schemas.refunds": "by the refund routes; an order's detail lists its refunds with mall.schemas.refund_view",
    "mall.schemas.tracking": "by the tracking routes (the buyer's, the promoter's, the console's) and the provider's "
                             "push; an order's detail shows its auto-confirm countdown with mall.schemas.countdown",
    "mall.domain.tracking": "by the tracking routes and workers; an order's detail for a shipped order's countdown "
                            "(mall.services.fulfilment.auto_confirm_of)",
    "mall.schemas.fulfilment_admin": "by the console's orders (and the admin's orders by promoter, "
                                     "mall.services.promoter_orders)",
    "mall.schemas.orders": "by place order (its request and answer); paying an order placed earlier answers with "
                           "mall.schemas.order_payment",
    "mall.schemas.wake_up": "by the promoter's profile (mall.schemas.promoter_profile), the team pages and the "
                            "wake-up rule's routes; the other promoter models are in mall.schemas.referral",
    "mall.schemas.campaigns": "by the campaign routes and the wake-up boost's models (mall.schemas.wake_up)",
}

# The functions that read promoters or bindings at cold start (mall.dal.referral).
REFERRAL = {"mall.dal.referral": "it reads promoters or bindings"}

# A function that calls WeChat Pay is traced (template.yaml: Tracing: Active).
TRACED_NEEDS = {"aws_xray_sdk": "it calls WeChat Pay, so it is traced"}

# The functions that read or write orders.
ORDERS = {"mall.domain.orders": "it reads or writes orders"}

# The functions that read products.
PRODUCTS = {"mall.domain.catalog": "it reads products", "mall.dal.catalog": "it reads products"}

# The functions that read products and price commissions with the campaigns in force.
CATALOG = {**PRODUCTS, "mall.dal.campaigns": "it prices commissions with the campaigns in force",
           "mall.domain.campaigns": "it prices commissions with the campaigns in force",
           "mall.domain.commission": "it prices commissions"}

# The functions that read or change the network (promoters, bindings, visits).
NETWORK = {"mall.services.referral": "it reads or changes the network"}

#: function → the heavy modules it needs at cold start, with why
ALLOWED: dict[str, dict[str, str]] = {
    "AuthLoginFunction": {},
    "MeFunction": {},
    "ProductsFunction": {**REFERRAL, **CATALOG, "mall.dal.catalog.page": "it answers the product pages"},
    # An order of one product, without a coupon, cart lines, a saved address, a share link's chain to walk or a
    # self-purchase discount: what it does not use is imported by the order that does.
    "PlaceOrderFunction": {"mall.services.orders": "it places orders",
                           "mall.schemas.orders": "it takes an order and answers with it", **REFERRAL,
                           **TRACED_NEEDS, **ORDERS, **PRODUCTS},
    "OrderPaymentFunction": {**TRACED_NEEDS, **ORDERS},
    "OrdersReadFunction": {**ORDERS, "mall.domain.refunds": "an order's detail shows its refunds",
                           "mall.schemas.fulfilment": "it answers with the order views",
                           "mall.schemas.tracking": "it answers GET /orders/{order_id}/tracking",
                           "mall.domain.tracking": "it answers an order's parcels and countdown"},
    # Confirming receipt answers with the order's detail: neither the tracking views nor the refund requests.
    "OrderConfirmReceiptFunction": {**ORDERS, "mall.domain.refunds": "an order's detail shows its refunds",
                                    "mall.schemas.fulfilment": "it answers with the order's detail"},
    "WeChatPayWebhookFunction": {**REFERRAL, **TRACED_NEEDS, **ORDERS, **CATALOG},
    "ShareVisitFunction": {**REFERRAL, **NETWORK},
    "ReferralBindFunction": {**REFERRAL, **NETWORK},
    # The profile and the agreement's acceptance (mall.services.referral.profile), without the team pages' and the
    # console's promoter models.
    "PromoterProfileFunction": {**REFERRAL, **NETWORK, **CATALOG,
                                "mall.schemas.wake_up": "the profile shows the wake-up boost in force",
                                "mall.schemas.campaigns": "the profile shows the wake-up boost in force"},
    # The promoter's commission list (its orders' list imports what it needs on first use) and preview.
    "PromoterCommissionsFunction": {"mall.domain.commission": "each record's computation is explained in words"},
    "PromoterCommissionPreviewFunction": {**REFERRAL, **CATALOG,
                                          "mall.dal.commission_preview": "it reads what the preview needs"},
    # Applying: the gift's coupon use cases are imported by an activation (auto review) that issues it.
    "PromoterApplyFunction": {"mall.schemas.referral": "it answers with the promoter's view", **REFERRAL, **NETWORK},
    # The console's promoter list, not customer-facing but measured with them: the review, team, downline,
    # override and adjustment routes import their use cases on first use.
    "AdminPromotersFunction": {"mall.schemas.referral": "it answers with the promoters' list", **REFERRAL,
                               **NETWORK},
}


def _heavy_loaded(modules: frozenset[str]) -> set[str]:
    return {heavy for heavy in HEAVY if any(m == heavy or m.startswith(f"{heavy}.") for m in modules)}


@pytest.mark.parametrize("function", sorted(ALLOWED))
def test_a_customer_facing_cold_start_loads_only_what_it_needs(function: str) -> None:
    modules = modules_loaded_by(function)
    assert "app" in modules and "mall" in modules  # the handler was imported, with the layer
    unexpected = _heavy_loaded(modules) - set(ALLOWED[function])
    assert sorted(unexpected) == [], {name: HEAVY[name] for name in unexpected}


#: module (and its submodules) → where the console's functions and the fraud scan load it instead of at cold start
ADMIN_DEFERRED = {
    "mall.dal.export_sources": "by the export worker; the console's exports read the jobs (mall.dal.exports)",
    "mall.dal.withdrawals": "by the export worker's sources and the withdrawal and payout functions",
    "mall.services.reports": "by the weekly report's schedule; the console lists reports with "
                             "mall.services.report_views",
    "mall.services.stats": "by the dashboard and the weekly report's schedule; a date range of the console's "
                           "order list imports it",
    "mall.dal.fraud": "by the fraud scan and the weekly report's schedule",
    "mall.services.risk_confirm": "when a risk case is first confirmed (mall.services.risk)",
    "mall.services.referral.promoters": "when a risk case is confirmed (it freezes the promoter: "
                                        "mall.services.risk_confirm)",
    "mall.services.team_bonus": "when a risk case is confirmed (its bonuses are voided: mall.services.risk_confirm)",
    "mall.dal.leaderboard_prizes": "when a risk case is confirmed (its held prizes are voided: "
                                   "mall.services.risk_confirm)",
    "mall.services.notifications": "by the wake-up run's notices (mall.services.wake_up_notices)",
    "mall.services.wake_up_notices": "by the wake-up schedule",
    "mall.dal.stats": "by the count of who a wake-up campaign woke, on that route's first use",
    "mall.services.fulfilment": "by the order functions; the customers' search takes its range from "
                                "mall.services.day_range",
    "mall.schemas.fulfilment": "by the order views",
    "mall.integrations.wechat_shipping": "with the first WeChat client of the console's orders, when the carrier "
                                         "list cached in the table has expired",
    "mall.integrations.tracking.kuaidi100": "by a tracking refresh (the logistics provider's client)",
    "mall.integrations.wechat": "by the functions that call WeChat's server API",
    "mall.services.promoter_orders": "by the list of one promoter's orders",
    "mall.dal.coupons": "when the console makes a customer a promoter (the 成为推广员 gift), and by the coupon routes",
    "mall.dal.promoter_orders": "by the list of one promoter's orders",
    "mall.dal.catalog": "by the catalog's functions; the settings' and campaigns' saves build the catalog's "
                        "repositories for their cap check on first use (CampaignRepositories)",
    "mall.domain.catalog": "by the catalog's functions and a save's cap check (mall.dal.catalog); the campaigns' "
                           "and the cap's rules name its types in annotations only",
    "mall.dal.commission_rates": "by a save's cap check (the rate index, CampaignRepositories.rates)",
    "mall.dal.referral": "by the functions that read promoters; the settings' and campaigns' saves on first use "
                         "(CampaignRepositories.promoters)",
    "mall.services.commissions": "by the commission sync; the admin's view of a promoter's records reads the "
                                 "records' store and the promoter (mall.services.commission_views)",
    "mall.dal.ledger": "by the functions that move money",
    "mall.services.referral.appoint": "when the console first makes a customer a promoter",
    "mall.schemas.promoter_profile": "by the promoter's profile and, through the appointment's use case, when the "
                                     "console first makes a customer a promoter",
    "mall.dal.campaigns": "by the campaigns' routes, the product pages' reads and the payment's snapshot; a catalog "
                          "save's cap check builds the book on first use (CatalogRepositories.campaigns)",
    "mall.services.media": "by the media uploads' function; a product's save checks its images with "
                           "mall.services.product_images",
    "mall.services.catalog.merchandising": "by the shelf schedule and the console's first batch edit",
    "mall.dal.catalog.page": "by the product pages (their function builds the reads at its cold start)",
    "mall.schemas.catalog": "by the console's products (the categories' models are mall.schemas.catalog_categories)",
    "mall.schemas.catalog_public": "by the product pages and the console's products",
    "mall.schemas.product_content_in": "by the console's products (a product's content as the admin writes it)",
    "mall.schemas.campaigns": "by the console's campaigns (a function of their own) and the promoter's pages",
    "mall.services.campaigns": "by the console's campaigns; a settings save builds the campaigns' repositories "
                               "for its cap check on first use",
    "mall.schemas.wake_up": "by the console's campaigns (the wake-up rule) and the promoter's pages",
    "mall.services.wake_up": "by the console's campaigns (the wake-up rule) and the wake-up schedule",
    "mall.schemas.settings": "by the distribution settings' routes (the console's campaigns answer without them)",
    "mall.domain.settings": "by a read of the settings' document: the settings' routes, a campaign save's cap "
                            "check (mall.dal.settings imports it on use)",
    "mall.domain.campaigns": "by the campaigns' routes (a settings save's cap check on first use) and the "
                             "commission rules that apply them; by the appointment's use case (the profile's "
                             "wake-up boost)",
}

#: function → the modules of ``ADMIN_DEFERRED`` its cold start does without
ADMIN_REFUSED: dict[str, set[str]] = {
    "AdminExportsFunction": {"mall.dal.export_sources", "mall.dal.withdrawals", "mall.services.reports",
                             "mall.services.stats", "mall.dal.fraud"},
    "AdminRiskCasesFunction": {"mall.services.risk_confirm", "mall.services.referral.promoters",
                               "mall.services.team_bonus", "mall.dal.leaderboard_prizes"},
    "FraudScanFunction": {"mall.services.risk_confirm", "mall.services.referral.promoters", "mall.services.team_bonus",
                          "mall.dal.leaderboard_prizes"},
    "AdminSettingsFunction": {"mall.services.notifications", "mall.services.wake_up_notices", "mall.dal.stats",
                              "mall.dal.catalog", "mall.dal.commission_rates", "mall.dal.referral",
                              "mall.domain.catalog", "mall.schemas.campaigns", "mall.services.campaigns",
                              "mall.domain.campaigns", "mall.schemas.wake_up", "mall.services.wake_up"},
    "AdminCampaignsFunction": {"mall.services.notifications", "mall.services.wake_up_notices", "mall.dal.stats",
                               "mall.dal.catalog", "mall.dal.commission_rates", "mall.dal.referral",
                               "mall.domain.catalog", "mall.schemas.settings", "mall.domain.settings"},
    "AdminCategoriesFunction": {"mall.schemas.catalog", "mall.schemas.catalog_public",
                                "mall.schemas.product_content_in", "mall.dal.referral", "mall.dal.campaigns",
                                "mall.domain.campaigns", "mall.dal.catalog.page"},
    "AdminProductsFunction": {"mall.dal.referral", "mall.dal.campaigns", "mall.domain.campaigns",
                              "mall.dal.catalog.page", "mall.services.media", "mall.services.catalog.merchandising"},
    "CatalogScheduleFunction": {"mall.dal.referral", "mall.dal.campaigns", "mall.domain.campaigns",
                                "mall.dal.catalog.page"},
    "AdminPromoterCommissionsFunction": {"mall.services.commissions", "mall.dal.withdrawals", "mall.dal.ledger",
                                         "mall.dal.catalog"},
    "AdminCustomersFunction": {"mall.services.fulfilment", "mall.schemas.fulfilment", "mall.services.stats",
                               "mall.dal.coupons", "mall.services.referral.appoint", "mall.schemas.promoter_profile",
                               "mall.domain.campaigns"},
    "AdminOrdersFunction": {"mall.integrations.wechat_shipping", "mall.integrations.wechat",
                            "mall.integrations.tracking.kuaidi100", "mall.services.promoter_orders",
                            "mall.dal.promoter_orders"},
}


@pytest.mark.parametrize("function", sorted(ADMIN_REFUSED))
def test_a_console_function_cold_start_does_without_what_only_its_rarer_routes_need(function: str) -> None:
    """The console's functions (and the fraud scan, which opens risk cases, and the shelf schedule, which
    shares the catalog's repositories) serve their lists and reads without the modules of a route few
    requests take, or of another function sharing the module: each is imported where ``ADMIN_DEFERRED``
    says (docs/performance.md, "Cold start of the console's functions" and "Cold start of the console's
    settings, customers, catalog and promoter commissions")."""
    modules = modules_loaded_by(function)
    assert "app" in modules and "mall" in modules
    loaded = {name for name in ADMIN_REFUSED[function]
              if any(m == name or m.startswith(f"{name}.") for m in modules)}
    assert sorted(loaded) == [], {name: ADMIN_DEFERRED[name] for name in loaded}


#: module (and its submodules) → where the payout functions load it instead of at cold start
PAYOUT_DEFERRED = {
    "mall.dal.risk": "by a promoter's withdrawal request, whose transaction checks the risk hold "
                     "(mall.services.withdrawals.request); a payout never reads it",
    "mall.dal.risk_wallet": "by a promoter's withdrawal request (its read of the hold)",
    "mall.integrations.wechatpay.client": "by the reconciler's first call to WeChat Pay (a bill to ask about, a "
                                          "withdrawal to start); most runs have none",
    "mall.integrations.wechatpay.transport": "with the client (its TLS context)",
}

#: function → the modules of ``PAYOUT_DEFERRED`` its cold start does without
PAYOUT_REFUSED: dict[str, set[str]] = {
    "PayoutWorkerFunction": {"mall.dal.risk", "mall.dal.risk_wallet"},
    "PayoutReconcileFunction": set(PAYOUT_DEFERRED),
}

#: function → what its every request uses, loaded at its cold start rather than by its first request
PAYOUT_NEEDS: dict[str, set[str]] = {
    "PayoutWorkerFunction": {"mall.integrations.wechatpay.client", "mall.integrations.wechatpay.transport"},
    "PromoterWithdrawFunction": {"mall.dal.risk", "mall.dal.risk_wallet"},
}


@pytest.mark.parametrize("function", sorted(PAYOUT_REFUSED))
def test_a_payout_cold_start_does_without_the_risk_holds_and_a_client_it_may_not_call(function: str) -> None:
    """The withdrawals' repository imports the risk hold's modules in the request's methods, and the payout
    gateway names WeChat Pay's client in annotations only (docs/performance.md, "Cold start of the payout
    functions and the console's settings")."""
    modules = modules_loaded_by(function)
    assert "app" in modules and "mall.dal.withdrawals" in modules
    loaded = {name for name in PAYOUT_REFUSED[function]
              if any(m == name or m.startswith(f"{name}.") for m in modules)}
    assert sorted(loaded) == [], {name: PAYOUT_DEFERRED[name] for name in loaded}


@pytest.mark.parametrize("function", sorted(PAYOUT_NEEDS))
def test_what_every_payout_or_withdrawal_request_uses_is_loaded_at_cold_start(function: str) -> None:
    # The worker's every message calls WeChat Pay; every withdrawal request checks the risk hold.
    assert PAYOUT_NEEDS[function] <= modules_loaded_by(function)


def test_the_check_sees_a_heavy_module_where_one_is_loaded() -> None:
    # The traced worker loads the X-Ray SDK at cold start: the measurement must see it.
    assert "aws_xray_sdk" in _heavy_loaded(modules_loaded_by("PayoutWorkerFunction"))


def _workers() -> list[str]:
    """The functions no HTTP request reaches (their handler is ``mall.workers``' entry point)."""
    from local.template import load_template

    found = []
    for logical_id, spec in load_template(ROOT / "template.yaml").functions.items():
        source = (spec.code_dir / "app.py").read_text(encoding="utf-8")
        if "worker_entrypoint(" in source or "batch_entrypoint(" in source:
            found.append(logical_id)
    return sorted(found)


#: module (and its submodules) → why a worker's cold start does without it
WORKER_HEAVY = {
    "aws_xray_sdk": "loaded only where template.yaml traces the function (mall.workers, traced=True)",
    "asyncio": "nothing a worker runs is async; Powertools' batch utility imports it, and the X-Ray SDK's "
               "wrapt gets a stand-in (mall.runtime.lazy_modules)",
    "aws_lambda_powertools.utilities.batch": "mall.workers answers the partial batch response itself",
    "aws_lambda_powertools.utilities.parser": "Powertools' batch utility imports every parser model when "
                                              "pydantic was imported first",
    "aws_lambda_powertools.utilities.data_classes.code_pipeline_job_event":
        "one of the event classes the data classes' package imports in full (mall.api.lean_powertools)",
}

#: the traced worker: it calls WeChat Pay (template.yaml: Tracing: Active)
WORKER_ALLOWED = {"PayoutWorkerFunction": {"aws_xray_sdk"}}


@pytest.mark.parametrize("function", _workers())
def test_a_worker_cold_start_loads_neither_the_batch_utility_nor_an_unused_tracer(function: str) -> None:
    modules = modules_loaded_by(function)
    assert "app" in modules and "mall.workers" in modules
    loaded = {heavy for heavy in WORKER_HEAVY if any(m == heavy or m.startswith(f"{heavy}.") for m in modules)}
    unexpected = loaded - WORKER_ALLOWED.get(function, set())
    assert sorted(unexpected) == [], {name: WORKER_HEAVY[name] for name in unexpected}


def test_the_workers_are_found() -> None:
    workers = _workers()
    assert {"StatsWorkerFunction", "CommissionSyncFunction", "ReferralOrderPaidFunction", "PayoutWorkerFunction",
            "OrderExpiryFunction"} <= set(workers)
    assert len(workers) >= 20


_LEAN_REQUEST = textwrap.dedent("""
    import json, sys
    root = sys.argv[1]
    sys.path[:0] = [root + "/functions/auth_login", root + "/layers/shared"]
    import importlib.util
    spec = importlib.util.spec_from_file_location("app", root + "/functions/auth_login/app.py")
    app = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(app)

    class Context:
        function_name, memory_limit_in_mb, aws_request_id = "test", 256, "req-1"
        invoked_function_arn = "arn:aws:lambda:us-east-1:000000000000:function:test"

    def event(method, path, body):
        return {"version": "2.0", "routeKey": f"{method} {path}", "rawPath": path, "rawQueryString": "",
                "headers": {"content-type": "application/json"}, "body": body, "isBase64Encoded": False,
                "requestContext": {"http": {"method": method, "path": path, "sourceIp": "127.0.0.1",
                                            "protocol": "HTTP/1.1", "userAgent": "t"},
                                   "requestId": "r", "routeKey": f"{method} {path}", "stage": "$default"}}

    refused = app.handler(event("POST", "/auth/login", json.dumps({"code": ""})), Context())
    missing = app.handler(event("GET", "/nowhere", None), Context())
    lean = "aws_lambda_powertools.event_handler.appsync" not in sys.modules and "asyncio" not in sys.modules

    from aws_lambda_powertools import event_handler
    from aws_lambda_powertools.event_handler import api_gateway
    from mall.api.lean_powertools import exported_names
    names = exported_names(event_handler.__spec__)
    same = all(getattr(event_handler, name) is getattr(sys.modules[source], real)
               for name, (source, real) in names.items())
    print(json.dumps({"refused": refused, "missing": missing, "lean": lean, "same": same,
                      "names": sorted(names), "response": event_handler.Response is api_gateway.Response}))
""")


def test_the_lean_event_handler_serves_requests_and_offers_every_name() -> None:
    """The event handler's package as the lean loader builds it (a fresh interpreter, a handler whose
    first import of it goes through mall.api): a refused body and an unknown route get the usual
    answers, nothing else of the package was loaded, and every name its __init__ exports resolves
    to the object of the submodule that defines it."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("PYTHON")}
    done = subprocess.run([sys.executable, "-I", "-c", _LEAN_REQUEST, str(ROOT)], env=env, capture_output=True,
                          text=True, timeout=60, check=False)
    assert done.returncode == 0, done.stderr[-3000:]
    result = json.loads(done.stdout.strip().splitlines()[-1])
    refused = json.loads(result["refused"]["body"])
    assert result["refused"]["statusCode"] == 422 and refused["error"]["code"] == "validation_error"
    assert [f["field"] for f in refused["error"]["fields"]] == ["code"]
    missing = json.loads(result["missing"]["body"])
    assert result["missing"]["statusCode"] == 404 and missing["error"]["code"] == "not_found"
    assert result["lean"], "serving a request loaded the rest of the event handler's package"
    assert {"APIGatewayHttpResolver", "AppSyncResolver", "Response"} <= set(result["names"])
    assert result["same"] and result["response"]


ENTRY_POINTS = {"entrypoint", "worker_entrypoint", "batch_entrypoint"}


def _traced_at_entry_point(source: str) -> bool | None:
    """Whether the handler module's entry point is called with ``traced=True``; None when it calls none
    of ``ENTRY_POINTS`` at module level."""
    calls = [node.value for node in ast.parse(source).body
             if isinstance(node, ast.Assign) and isinstance(node.value, ast.Call)
             and isinstance(node.value.func, ast.Name) and node.value.func.id in ENTRY_POINTS]
    if not calls:
        return None
    return any(isinstance(k.value, ast.Constant) and k.arg == "traced" and k.value.value is True
               for call in calls for k in call.keywords)


def test_a_function_loads_the_xray_sdk_exactly_where_the_template_traces_it() -> None:
    """``Tracing: Active`` in template.yaml and ``traced=True`` at the handler's entry point
    (``entrypoint`` for an HTTP function, ``worker_entrypoint`` or ``batch_entrypoint`` for a
    schedule, queue or stream worker) go together: a traced function without the SDK would show no
    AWS calls in its trace, and an untraced one with it pays the SDK at every cold start for nothing."""
    from local.cfn_yaml import load_yaml

    resources = load_yaml(ROOT / "template.yaml")["Resources"]
    traced_in_template, traced_in_code, without_entry_point = set(), set(), set()
    for logical_id, resource in resources.items():
        props = resource.get("Properties", {})
        if resource.get("Type") != "AWS::Serverless::Function":
            continue
        traced = _traced_at_entry_point((ROOT / props["CodeUri"] / "app.py").read_text(encoding="utf-8"))
        if traced is None:
            without_entry_point.add(logical_id)
        if props.get("Tracing") == "Active":
            traced_in_template.add(logical_id)
        if traced:
            traced_in_code.add(logical_id)
    assert without_entry_point == set()  # every function decides it at an entry point this test reads
    assert traced_in_template == traced_in_code
    assert {"PlaceOrderFunction", "PayoutWorkerFunction"} <= traced_in_code
    assert "aws_xray_sdk" in _heavy_loaded(modules_loaded_by("PlaceOrderFunction"))
    assert "aws_xray_sdk" not in _heavy_loaded(modules_loaded_by("ProductsFunction"))


@pytest.mark.parametrize("function", ["StatsWorkerFunction", "CommissionSyncFunction", "PayoutWorkerFunction"])
def test_a_worker_loads_the_xray_sdk_only_where_the_template_traces_it(function: str) -> None:
    """A scheduled or stream worker (stats), a queue worker (commissions) and the traced queue worker
    (payouts, which calls WeChat Pay): the SDK is loaded at cold start, and botocore patched, exactly
    in the traced one."""
    from local.cfn_yaml import load_yaml

    traced = load_yaml(ROOT / "template.yaml")["Resources"][function]["Properties"].get("Tracing") == "Active"
    modules = modules_loaded_by(function)
    assert "app" in modules
    assert ("aws_xray_sdk" in _heavy_loaded(modules)) is traced
    assert ("aws_xray_sdk.ext.botocore.patch" in modules) is traced


@pytest.mark.parametrize("package", LEAN_PACKAGES)
def test_a_lean_package_skips_an_init_that_only_imports_its_own_submodules(package: str) -> None:
    """What ``mall.api.lean_powertools`` may skip, pinned on the installed Powertools: each package's
    ``__init__`` is a docstring, ``from .submodule import ...`` lines and ``__all__``, and every name
    in ``__all__`` is one of those imports. A Powertools version whose ``__init__`` does anything else
    (code, a setting, an import from elsewhere) fails here: review the lean loader against it, or
    drop it. The installed version is the one the layer ships."""
    pinned = {line.split("==")[0].split("[")[0]: line.split("==")[1].split()[0]
              for line in (ROOT / "layers/shared/requirements.txt").read_text("utf-8").splitlines()
              if "==" in line and not line.startswith("#")}
    assert importlib.metadata.version("aws-lambda-powertools") == pinned["aws-lambda-powertools"]

    spec = importlib.util.find_spec(package)
    assert spec is not None and spec.origin is not None
    body = ast.parse(Path(spec.origin).read_text(encoding="utf-8")).body
    others = []
    for node in body[1:] if ast.get_docstring(ast.Module(body=body, type_ignores=[])) else body:
        own_import = isinstance(node, ast.ImportFrom) and (
            node.level == 1 or (node.module or "").startswith(f"{package}."))
        listing = (isinstance(node, ast.Assign) and [ast.unparse(t) for t in node.targets] == ["__all__"])
        if not (own_import or listing):
            others.append(ast.unparse(node)[:100])
    assert others == []
    declared = next(ast.literal_eval(n.value) for n in body if isinstance(n, ast.Assign))
    assert set(declared) <= set(exported_names(spec))


def test_the_settings_model_is_built_from_evaluated_annotations() -> None:
    """Every function validates ``mall.config.Settings`` at cold start: with string annotations (``from
    __future__ import annotations``) pydantic compiles and evaluates each field's annotation first."""
    from mall import config

    for model in (config.Settings, config.MediaSettings, config.ExportSettings, config.FunctionEnvironment):
        assert [name for name, hint in model.__annotations__.items() if isinstance(hint, str)] == [], model


@pytest.mark.parametrize("function", ["AuthLoginFunction", "PlaceOrderFunction", "StatsWorkerFunction"])
def test_a_cold_start_runs_no_cyclic_collection_and_freezes_what_it_built(function: str) -> None:
    # mall.runtime.init_gc: the collector is paused from the layer's first import to the entry point,
    # which freezes what init built and enables the collector again. (Powertools imported by a handler
    # before its first ``mall`` import may still collect.)
    after = gc_during_init(function)
    assert after["after_the_layer"] == 0
    assert after["enabled"] is True and after["frozen"] > 10_000


def test_outside_lambda_the_collector_is_left_alone() -> None:
    after = gc_during_init("AuthLoginFunction", lambda_environment=False)
    assert after["after_the_layer"] > 0  # the same cold start collects when nothing pauses the collector
    assert after["enabled"] is True and after["frozen"] == 0


#: module → why the order stream's cold start (every order change invokes it) does without it
ORDER_STREAM_REFUSED = {
    "mall.services.fulfilment": "the order views; the stream needs only mall.services.order_changes",
    "mall.services.shipping": "shipping and the carrier list; the stream only asks for an upload",
    "mall.services.tracking": "the parcel trails' views; the stream only asks whether parcels shipped",
    "mall.schemas.fulfilment": "response models of the order routes",
    "mall.schemas.shipping": "response models of the shipping routes",
    "mall.schemas.tracking": "response models of the tracking routes",
}


def test_the_order_stream_cold_start_builds_no_response_model() -> None:
    modules = modules_loaded_by("OrderStatusStreamFunction")
    assert "mall.services.order_changes" in modules
    assert sorted(name for name in ORDER_STREAM_REFUSED if name in modules) == []
    built = [name for name, done in models_built_by("OrderStatusStreamFunction").items() if done]
    assert [name for name in built if name.startswith("mall.schemas.")] == []
