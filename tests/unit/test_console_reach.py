"""Which admin operations the console reaches through its typed client, read from its sources.

The list below is every admin operation that has no page yet: a page that starts calling one must
take it off the list, and a new admin operation must either get its page or go on the list, so the
console's coverage of the API is always written down here."""

from __future__ import annotations

import json
import re

from tests.conftest import ROOT

CONSOLE = ROOT / "console" / "src"
#: ``api().get("/admin/...")`` and friends; the path is the contract's template, typed by the client.
_CALL = re.compile(r"""\.(get|post|put|delete|patch)\(\s*["'](/[^"']+)["']""")

NOT_REACHED_YET: set[str] = {
    "DELETE /admin/categories/{category_id}",
    "GET /admin/audit",
    "GET /admin/bonuses",
    "GET /admin/categories",
    "GET /admin/categories/{category_id}",
    "GET /admin/customers/{user_id}/binding",
    "GET /admin/exports",
    "GET /admin/exports/{export_id}",
    "GET /admin/leaderboard",
    "GET /admin/ledger/reconciliations",
    "GET /admin/ledger/reconciliations/{day}",
    "GET /admin/notifications",
    "GET /admin/orders",
    "GET /admin/orders/{order_id}",
    "GET /admin/orders/{order_id}/shipping-address",
    "GET /admin/products",
    "GET /admin/products/low-stock",
    "GET /admin/products/{product_id}",
    "GET /admin/promoters",
    "GET /admin/promoters/{user_id}",
    "GET /admin/promoters/{user_id}/commissions",
    "GET /admin/promoters/{user_id}/ledger",
    "GET /admin/promoters/{user_id}/ledger/summary",
    "GET /admin/refunds",
    "GET /admin/risk/cases",
    "GET /admin/risk/cases/{case_id}",
    "GET /admin/withdrawals/export",
    "GET /admin/withdrawals/{withdrawal_id}/bank-account",
    "PATCH /admin/categories/{category_id}",
    "PATCH /admin/products/{product_id}",
    "POST /admin/categories",
    "POST /admin/customers/{user_id}/binding/remove",
    "POST /admin/exports",
    "POST /admin/media/uploads",
    "POST /admin/media/uploads/{upload_id}/verify",
    "POST /admin/orders/{order_id}/ship",
    "POST /admin/orders/{order_id}/verify",
    "POST /admin/products",
    "POST /admin/products/{product_id}/stock-adjustments",
    "POST /admin/promoters/{user_id}/approve",
    "POST /admin/promoters/{user_id}/disable",
    "POST /admin/promoters/{user_id}/freeze",
    "POST /admin/promoters/{user_id}/reject",
    "POST /admin/promoters/{user_id}/unfreeze",
    "POST /admin/refunds/{refund_id}/approve",
    "POST /admin/refunds/{refund_id}/reject",
    "POST /admin/risk/cases/{case_id}/confirm",
    "POST /admin/risk/cases/{case_id}/release",
    "POST /admin/withdrawals/{withdrawal_id}/mark-failed",
    "POST /admin/withdrawals/{withdrawal_id}/mark-paid",
    "PUT /admin/customers/{user_id}/binding",
    "PUT /admin/promoters/{user_id}/level",
    "PUT /admin/promoters/{user_id}/override",
}


def admin_operations() -> set[str]:
    document = json.loads((ROOT / "docs" / "openapi.json").read_text(encoding="utf-8"))
    return {f"{method.upper()} {path}" for path, operations in document["paths"].items()
            for method in operations if path.startswith("/admin/") and path != "/admin/auth/login"}


def reached_by_console() -> set[str]:
    found: set[str] = set()
    for path in sorted(CONSOLE.rglob("*")):
        in_client = path.relative_to(CONSOLE).parts[0] == "api"  # the client itself, and its examples
        if path.suffix not in (".ts", ".vue") or path.name.endswith(".d.ts") or in_client:
            continue
        for method, route in _CALL.findall(path.read_text(encoding="utf-8")):
            found.add(f"{method.upper()} {route}")
    return found


def test_every_admin_operation_is_reached_by_the_console_or_listed_as_not_yet() -> None:
    reached = reached_by_console()
    unknown = sorted(reached - admin_operations() - {"POST /admin/auth/login"})
    assert unknown == [], "the console calls operations the contract does not have"
    missing = sorted(admin_operations() - reached)
    assert missing == sorted(NOT_REACHED_YET), (
        "admin operations without a console page changed: update NOT_REACHED_YET\n" + "\n".join(missing))
