"""The bench holds each route to its class's round-trip target: customer and promoter routes ≤ 3,
the payment notification ≤ 5, admin routes ≤ 5, classes read from the path and declared roles."""

from __future__ import annotations

from bench import ROOT
from bench._local import TEMPLATE
from bench._route_classes import (
    ADMIN,
    CUSTOMER,
    PAYMENT,
    TARGETS,
    declared_roles,
    over_by_class,
    route_class,
    target_of,
)
from local.template import load_template


def test_targets_by_class() -> None:
    assert TARGETS == {CUSTOMER: 3, PAYMENT: 5, ADMIN: 5}


def test_classes_come_from_the_path_and_the_declared_roles() -> None:
    assert route_class("POST /webhooks/wechatpay", ["anonymous"]) == PAYMENT
    assert route_class("POST /webhooks/wechat/messages", ["anonymous"]) == PAYMENT
    assert route_class("GET /webhooks/wechat/messages", ["anonymous"]) == PAYMENT
    assert route_class("GET /admin/dashboard", ["admin"]) == ADMIN
    assert route_class("POST /admin/auth/login", ["anonymous"]) == ADMIN  # anyone may call it; it is the console's
    assert route_class("GET /ops/report", ["admin"]) == ADMIN  # only the admin may call it, whatever its path
    assert route_class("GET /ops/report", ["owner", "finance"]) == ADMIN  # only staff roles may call it
    assert route_class("POST /orders", ["customer", "promoter"]) == CUSTOMER
    assert route_class("GET /me", ["customer", "promoter", "admin"]) == CUSTOMER
    assert route_class("POST /promoter/withdrawals") == CUSTOMER


def test_every_route_of_the_template_has_its_declared_roles_and_a_class() -> None:
    roles = declared_roles(ROOT / "docs" / "openapi.json")
    routes = [r.route_key for r in load_template(TEMPLATE).routes if r.path != "$default"]
    classes = {route: target_of(route, roles) for route in routes}
    assert classes["GET /admin/dashboard"] == (ADMIN, 5)
    assert classes["POST /webhooks/wechatpay"] == (PAYMENT, 5)
    assert classes["POST /orders"] == (CUSTOMER, 3)
    assert {route for route, (kind, _) in classes.items() if kind == ADMIN} == {
        route for route in routes if route.split(" ", 1)[1].startswith("/admin/")}


def test_routes_over_their_class_target_are_listed_per_class() -> None:
    routes = {
        "GET /admin/dashboard": {"exercised": True, "class": ADMIN, "round_trips_met": False},
        "GET /admin/audit": {"exercised": True, "class": ADMIN, "round_trips_met": True},
        "POST /orders": {"exercised": True, "class": CUSTOMER, "round_trips_met": False},
        "GET /admin/never": {"exercised": False, "class": ADMIN},
    }
    assert over_by_class(routes) == {CUSTOMER: ["POST /orders"], PAYMENT: [], ADMIN: ["GET /admin/dashboard"]}
