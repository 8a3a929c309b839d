"""Which pydantic models a customer-facing function builds at cold start (docs/performance.md, "Cold start:
the models a function imports and never answers with, built on first use").

pydantic builds a model's validator and serializer when the class is created, unless the model says
``defer_build``: then on its first use. A schema module holds the models of several functions (the
customer's and the merchant console's), so a function creates all of them when it imports one. The
merchant console's bodies and answers, and other functions' ones, are therefore ``defer_build``: a
function that never uses them does not build them; one that does builds each once, on first use,
as it would have at import. Each function's entry point builds the models of its own routes at init
(``mall.api.http.build_route_models``), so deferring never moves a function's own work into its first
request.

Deferring is kept where it removes work, and refused where it would only move it:

- a deferred model is nested in no model that is built at import (pydantic would then build the
  nested model's schema again, inside the other one, with no reuse);
- no route of a SnapStart function (template.yaml) answers with or takes a deferred model: its init
  is in the snapshot, so a deferred model would be built again by each restored environment's first
  request;
- no main route of the functions below (the one a cold start serves most) uses one.
"""

from __future__ import annotations

import importlib.util
import sys
import types
import typing
from pathlib import Path

import pytest
from pydantic import BaseModel

from bench._restore import snapstart_functions
from bench.coldstart import models_built_by
from local.template import load_template
from mall.api.http import models_in
from tests.conftest import ROOT

#: function → models its cold start must not build: the merchant console's and other functions' bodies and
#: answers that come with a schema module it imports
NOT_BUILT_AT_COLD_START: dict[str, set[str]] = {
    "OrdersReadFunction": {"mall.schemas.fulfilment.AutoConfirmResult", "mall.schemas.tracking.TrackingPushReply"},
    "PromoterQrCodeFunction": {"mall.schemas.promotion_media.PosterRequest",
                               "mall.schemas.promotion_media.PosterResponse"},
    "PromoterProfileFunction": {
        "mall.schemas.campaigns.CampaignRequest", "mall.schemas.campaigns.UpdateCampaignRequest",
        "mall.schemas.campaigns.EndCampaignRequest", "mall.schemas.campaigns.CampaignList",
        "mall.schemas.wake_up.WakeUpRuleRequest", "mall.schemas.wake_up.WakeUpRuleView",
        "mall.schemas.wake_up.WokeCount",
    },
}
# The order views import neither the console's order models (mall.schemas.fulfilment_admin) nor the refund
# requests (mall.schemas.refunds): tests/unit/test_cold_start_imports.py refuses them at the views' cold start.
# The promoter's profile imports neither the other promoter and team models (mall.schemas.referral) nor the
# bindings' (tests/unit/test_cold_start_imports.py refuses the first at its cold start).
# Placing an order imports neither the cart's nor the address book's models any more
# (tests/unit/test_cold_start_imports.py refuses their modules at its cold start).

#: the functions template.yaml gives SnapStart, or a parameter can (checked below)
SNAPSTART = ["ProductsFunction", "PlaceOrderFunction", "OrdersReadFunction", "WeChatPayWebhookFunction"]

#: function → the route a cold start serves most: its body and answer are built at import
MAIN_ROUTES = {
    "ProductsFunction": ("GET", "/products"),
    "OrdersReadFunction": ("GET", "/orders"),
    "PromoterProfileFunction": ("GET", "/promoter/profile"),
    "OrderPaymentFunction": ("POST", "/orders/<order_id>/payment"),
    "WeChatPayWebhookFunction": ("POST", "/webhooks/wechatpay"),
    "PlaceOrderFunction": ("POST", "/orders"),
}


@pytest.mark.parametrize("function", sorted(NOT_BUILT_AT_COLD_START))
def test_a_cold_start_builds_no_model_of_another_function(function: str) -> None:
    built = models_built_by(function)
    assert NOT_BUILT_AT_COLD_START[function] <= set(built), "the function no longer imports them: update the list"
    assert sorted(name for name in NOT_BUILT_AT_COLD_START[function] if built[name]) == []


def test_the_webhook_creates_a_payment_resource_model_at_cold_start_and_no_refund_or_transfer_one() -> None:
    # Most notifications are payments: a refund's and a transfer bill's resource models are created with their
    # handlers (mall.integrations.wechatpay.refund_resources, transfer_resources), when such a notification arrives.
    names = {name.rpartition(".")[2] for name in models_built_by("WeChatPayWebhookFunction")}
    assert "TransactionResource" in names
    assert sorted(names & {"RefundAmount", "RefundResource", "RefundResult", "TransferBillResource",
                           "TransferBillCreated", "TransferBillCancelled"}) == []


def test_the_check_sees_a_model_built_at_cold_start() -> None:
    built = models_built_by("PromoterProfileFunction")
    assert built["mall.schemas.promoter_profile.PromoterProfile"] is True  # its main route's answer


def _schema_models() -> list[type[BaseModel]]:
    import importlib
    import pkgutil

    import mall.schemas

    for module in pkgutil.iter_modules(mall.schemas.__path__):
        importlib.import_module(f"mall.schemas.{module.name}")
    found: list[type[BaseModel]] = []
    todo: list[type[BaseModel]] = [BaseModel]
    while todo:
        for model in todo.pop().__subclasses__():
            if model.__module__.startswith("mall.schemas.") and model not in found:
                found.append(model)
            todo.append(model)
    return found


def _deferred(model: type[BaseModel]) -> bool:
    return bool(model.model_config.get("defer_build"))


def _nested(model: type[BaseModel]) -> set[type[BaseModel]]:
    return {inner for field in model.model_fields.values() for inner in models_in(field.annotation)}


def test_a_deferred_model_is_nested_only_in_deferred_models() -> None:
    models = _schema_models()
    assert any(_deferred(m) for m in models) and any(not _deferred(m) for m in models)
    wrong = sorted(f"{outer.__name__}.{inner.__name__}" for outer in models if not _deferred(outer)
                   for inner in _nested(outer) if _deferred(inner))
    assert wrong == [], "a model built at import would build these deferred ones again inside itself"


def _load_app(function: str) -> types.ModuleType:
    spec = load_template(ROOT / "template.yaml").functions[function]
    module_name, _, _ = spec.handler.rpartition(".")
    path = Path(spec.code_dir) / (module_name.replace(".", "/") + ".py")
    loader_spec = importlib.util.spec_from_file_location(f"cold_start_models_{path.parent.name}", path)
    assert loader_spec is not None and loader_spec.loader is not None
    module = importlib.util.module_from_spec(loader_spec)
    sys.path.insert(0, str(path.parent))
    try:
        loader_spec.loader.exec_module(module)
    finally:
        sys.path.remove(str(path.parent))
    return module


def _route_models(module: types.ModuleType, route: tuple[str, str] | None = None) -> dict[str, set[str]]:
    """Per route (``METHOD path``), the models its body and answer use, nested ones included."""
    found: dict[str, set[str]] = {}
    for each in module.app._static_routes + module.app._dynamic_routes:
        for method in each.method.split(",") if isinstance(each.method, str) else each.method:
            name = f"{method.upper()} {each.path}"
            if route is not None and (method.upper(), each.path) != route:
                continue
            hints = typing.get_type_hints(each.func, include_extras=True)
            todo = [m for hint in hints.values() for m in models_in(hint)]
            models: set[type[BaseModel]] = set()
            while todo:
                model = todo.pop()
                if model not in models:
                    models.add(model)
                    todo.extend(_nested(model))
            found[name] = {f"{m.__module__}.{m.__qualname__}" for m in models if _deferred(m)}
    return found


def test_the_snapstart_functions_are_found() -> None:
    assert set(SNAPSTART) <= snapstart_functions(ROOT / "template.yaml", possible=True)


@pytest.mark.parametrize("function", SNAPSTART)
def test_no_route_of_a_snapstart_function_uses_a_deferred_model(function: str) -> None:
    routes = _route_models(_load_app(function))
    assert routes, "no route found"
    assert {route: models for route, models in routes.items() if models} == {}


@pytest.mark.parametrize("function", sorted(MAIN_ROUTES))
def test_a_main_route_uses_no_deferred_model(function: str) -> None:
    routes = _route_models(_load_app(function), MAIN_ROUTES[function])
    assert len(routes) == 1, f"{MAIN_ROUTES[function]} not found"
    assert {route: models for route, models in routes.items() if models} == {}


def _http_functions() -> list[str]:
    functions = load_template(ROOT / "template.yaml").functions
    return sorted(name for name, spec in functions.items()
                  if (Path(spec.code_dir) / "app.py").is_file()
                  and "make_resolver()" in (Path(spec.code_dir) / "app.py").read_text(encoding="utf-8"))


def test_every_function_builds_its_own_routes_models_at_cold_start() -> None:
    # Deferring a model must remove work, never move it into a function's first request: the entry point
    # builds each model a route of its own function takes or answers with (mall.api.http.build_route_models).
    functions = _http_functions()
    assert len(functions) > 50
    unbuilt: dict[str, list[str]] = {}
    deferred_somewhere = False
    for function in functions:
        module = _load_app(function)
        for each in module.app._static_routes + module.app._dynamic_routes:
            for hint in typing.get_type_hints(each.func, include_extras=True).values():
                for model in models_in(hint):
                    deferred_somewhere = deferred_somewhere or _deferred(model)
                    if not model.__pydantic_complete__:
                        unbuilt.setdefault(function, []).append(model.__qualname__)
    assert deferred_somewhere
    assert unbuilt == {}


def test_a_share_visits_cold_start_builds_its_deferred_models() -> None:
    # Its models sit in a schema module other functions import: deferred there, built here at init.
    built = models_built_by("ShareVisitFunction")
    assert built["mall.schemas.binding.VisitRequest"] is True and built["mall.schemas.binding.VisitResult"] is True
