"""Round-trip targets by class of route: what a request may cost depends on who waits for it.

- **customer and promoter** (the shop's own pages, every tap of a buyer or a promoter): ≤ 3;
- **payment notification** (WeChat Pay's signed callback, ``/webhooks/``: it settles an order and
  writes its commission snapshot in one go; the mini-program's message push, which completes an
  order on WeChat's confirmation of receipt, is a webhook of the same class): ≤ 5;
- **admin** (the merchant console, ``/admin/...``, or a route only the admin role may call): ≤ 5.

A route's class is read from its path and from the roles it declares (``x-mall-roles`` of
``docs/openapi.json``, written by ``mall.api.auth.secured``); the admin login is an admin route
although anyone may call it (its path says so)."""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from pathlib import Path

CUSTOMER = "customer and promoter"
PAYMENT = "payment notification"
ADMIN = "admin"
TARGETS: dict[str, int] = {CUSTOMER: 3, PAYMENT: 5, ADMIN: 5}
ROLES_EXTENSION = "x-mall-roles"
#: The merchant's staff roles (and the single admin role of before them): a route only they may call is admin's.
STAFF_ROLES = frozenset({"admin", "owner", "finance", "operations", "support", "auditor"})


def declared_roles(openapi: Path) -> dict[str, frozenset[str]]:
    """``"GET /admin/dashboard" -> {"admin"}`` for every operation of the OpenAPI document (empty when
    the document is missing: classes then come from the paths alone)."""
    if not openapi.is_file():
        return {}
    document = json.loads(openapi.read_text(encoding="utf-8"))
    return {f"{method.upper()} {path}": frozenset(operation.get(ROLES_EXTENSION) or ())
            for path, operations in document.get("paths", {}).items()
            for method, operation in operations.items() if isinstance(operation, dict)}


def route_class(route: str, roles: Iterable[str] = ()) -> str:
    """The class of ``route`` ("POST /orders"), given the roles it declares."""
    path = route.partition(" ")[2]
    declared = set(roles)
    if path.startswith("/webhooks/"):
        return PAYMENT
    if path.startswith("/admin/") or (declared and declared <= STAFF_ROLES):
        return ADMIN
    return CUSTOMER


def target_of(route: str, roles: Mapping[str, frozenset[str]]) -> tuple[str, int]:
    kind = route_class(route, roles.get(route, frozenset()))
    return kind, TARGETS[kind]


def over_by_class(routes: Mapping[str, Mapping[str, object]]) -> dict[str, list[str]]:
    """Per class (every class present, in ``TARGETS`` order), the exercised routes over its target."""
    over: dict[str, list[str]] = {kind: [] for kind in TARGETS}
    for route, summary in sorted(routes.items()):
        if summary.get("exercised") and not summary.get("round_trips_met"):
            over[str(summary["class"])].append(route)
    return over
