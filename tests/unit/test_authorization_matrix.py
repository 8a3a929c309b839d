"""The authorization matrix: every route of template.yaml × every kind of caller — anonymous,
customer, promoter, another promoter, admin.

Generated from the route table and the roles each operation declares (``x-mall-roles`` in
the OpenAPI document), so a new route is covered the moment it is routed, and a route that
declares no roles fails here. A caller whose role is not declared must be stopped before
the handler runs (401 without a token, 403 ``forbidden_role`` with the wrong role);
a caller whose role is declared must get past the role check.

Another promoter (B) against a promoter (A) with real orders, withdrawals, refunds, commissions,
ledger postings and team members: every route says in ``OWNERSHIP`` how a promoter's data can be
named through it (a new route without an entry fails); B gets 403/404 for A's order and
withdrawal ids and 403 on the admin routes with A's ids, changing nothing, and B's own views
(with A's cursors too) never show one of A's ids."""

from __future__ import annotations

import json
import os
import re
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from types import ModuleType
from typing import Any

import boto3
import pytest
from moto import mock_aws

from local.template import load_template
from mall.domain.tokens import Role, issue_token
from tests.conftest import ROOT, TEMPLATE, clear_caches, table_request
from tests.unit.conftest import FakeContext, http_event, load_function

CALLERS: dict[str, frozenset[Role] | None] = {
    "anonymous": None,
    "customer": frozenset({Role.CUSTOMER}),
    "promoter": frozenset({Role.CUSTOMER, Role.PROMOTER}),
    "admin": frozenset({Role.ADMIN}),
}


def _operations() -> list[tuple[str, str, str, list[str]]]:
    documented = json.loads((ROOT / "docs" / "openapi.json").read_text())["paths"]
    template = load_template(TEMPLATE)
    rows = []
    for route in template.routes:
        if route.path == "$default" or route.path not in documented:
            continue
        op = documented[route.path].get(route.method.lower())
        if op is None:
            continue
        function_dir = template.functions[route.function_id].code_dir.name
        rows.append((function_dir, route.method.upper(), route.path, list(op.get("x-mall-roles", []))))
    return sorted(rows)


OPERATIONS = _operations()


@pytest.fixture(scope="module")
def handlers() -> Iterator[dict[str, ModuleType]]:
    """One moto table and one cold start per function for the whole matrix (hundreds of calls)."""
    name = f"matrix-{uuid.uuid4().hex[:8]}"
    previous = os.environ.get("TABLE_NAME")
    os.environ["TABLE_NAME"] = name
    try:
        with mock_aws():
            clear_caches()
            request = table_request(name)
            request.pop("DeletionProtectionEnabled", None)
            boto3.client("dynamodb", region_name="us-east-1").create_table(**request)
            yield {}
    finally:
        if previous is None:
            os.environ.pop("TABLE_NAME", None)
        else:
            os.environ["TABLE_NAME"] = previous


def _token(roles: frozenset[Role]) -> str:
    from mall.api.auth import signing_key

    subject = "admin:matrix" if Role.ADMIN in roles else "u_matrixcaller000000000000"
    return issue_token(subject, roles, key=signing_key(), now=datetime.now(UTC), ttl_seconds=600)


def test_the_matrix_covers_every_routed_operation() -> None:
    routed = {(r.method.upper(), r.path) for r in load_template(TEMPLATE).routes if r.path != "$default"}
    covered = {(method, path) for _, method, path, _ in OPERATIONS}
    assert routed - {("GET", "/openapi.json"), ("GET", "/docs")} <= covered
    for _, method, path, roles in OPERATIONS:
        assert roles, f"{method} {path} declares no roles"


@pytest.mark.parametrize("caller", list(CALLERS))
@pytest.mark.parametrize("operation", OPERATIONS, ids=[f"{m} {p}" for _, m, p, _ in OPERATIONS])
def test_route_admits_exactly_its_declared_roles(handlers: dict[str, ModuleType],
                                                 operation: tuple[str, str, str, list[str]], caller: str) -> None:
    function_dir, method, path, roles = operation
    caller_roles = CALLERS[caller]
    headers: dict[str, str] = {"idempotency-key": "matrix-0001"}
    if caller_roles is not None:
        headers["authorization"] = f"Bearer {_token(caller_roles)}"
    concrete = re.sub(r"\{[^}]+\}", "matrix_missing", path)
    event = http_event(method, concrete, body={} if method in {"POST", "PUT", "PATCH"} else None, headers=headers)
    event["routeKey"] = f"{method} {path}"
    if function_dir not in handlers:
        handlers[function_dir] = load_function(function_dir)
    result: dict[str, Any] = handlers[function_dir].handler(event, FakeContext())
    status = result["statusCode"]
    body = json.loads(result.get("body") or "{}") if "json" in (result.get("headers") or {}).get(
        "Content-Type", "application/json") else {}
    code = (body.get("error") or {}).get("code") if isinstance(body, dict) else None

    admitted = "anonymous" in roles or (caller_roles is not None and bool({r.value for r in caller_roles} & set(roles)))
    if admitted:
        assert status != 401, f"{caller} refused as unauthenticated by {method} {path}: {body}"
        assert code != "forbidden_role", f"{caller} refused by the role check of {method} {path}"
    elif caller_roles is None:
        assert status == 401, f"anonymous reached {method} {path}: {status} {body}"
    else:
        assert (status, code) == (403, "forbidden_role"), f"{caller} reached {method} {path}: {status} {body}"


# ---- another promoter (数据隔离): a promoter reaching for another promoter's resources ---------------
#
# Every routed operation must have an entry here, so a new route cannot ship without someone
# deciding how a promoter could name another promoter's data through it:
#   public      anonymous routes: nobody's own data (catalog, login, rules, the signed webhook)
#   admin       admin-only: B is refused by the role check (403) even with A's real ids in the path
#   self        the caller's own data, chosen by the token's subject: B's answer holds nothing of A's,
#               and A's cursor (when the route pages) gets B nothing of A's either
#   self-write  a write on the caller's own account; the path and query name no resource of anyone
#   shared      shows other promoters by design (a leaderboard: masked names and ranks)
#   order       ``{order_id}`` names an order: A's order → 403/404 for B, nothing changes
#   withdrawal  ``{withdrawal_id}`` names a withdrawal: A's → 403/404 for B, nothing changes
#   address     ``{address_id}`` names a saved address: A's → 404 for B, nothing changes

OWNERSHIP: dict[str, str] = {
    "GET /admin/audit": "admin",
    "POST /admin/auth/login": "public",
    "GET /admin/bonuses": "admin",
    "GET /admin/categories": "admin",
    "POST /admin/categories": "admin",
    "DELETE /admin/categories/{category_id}": "admin",
    "GET /admin/categories/{category_id}": "admin",
    "PATCH /admin/categories/{category_id}": "admin",
    "GET /admin/customers/{user_id}/binding": "admin",
    "PUT /admin/customers/{user_id}/binding": "admin",
    "POST /admin/customers/{user_id}/binding/remove": "admin",
    "GET /admin/customers": "admin",
    "GET /admin/customers/{user_id}": "admin",
    "GET /admin/customer-tags": "admin",
    "POST /admin/customer-tags": "admin",
    "PUT /admin/customer-tags/{tag_id}": "admin",
    "DELETE /admin/customer-tags/{tag_id}": "admin",
    "POST /admin/customers/{user_id}/tags": "admin",
    "DELETE /admin/customers/{user_id}/tags/{tag_id}": "admin",
    "POST /admin/customers/{user_id}/promoter": "admin",
    "GET /admin/dashboard": "admin",
    "GET /admin/exports": "admin",
    "POST /admin/exports": "admin",
    "GET /admin/exports/{export_id}": "admin",
    "GET /admin/leaderboard": "admin",
    "GET /admin/ledger/reconciliations": "admin",
    "GET /admin/ledger/reconciliations/{day}": "admin",
    "GET /admin/notifications": "admin",
    "GET /admin/orders": "admin",
    "GET /admin/orders/{order_id}": "admin",
    "POST /admin/orders/{order_id}/ship": "admin",
    "GET /admin/orders/{order_id}/shipping-address": "admin",
    "POST /admin/orders/{order_id}/verify": "admin",
    "POST /admin/media/uploads": "admin",
    "POST /admin/media/uploads/{upload_id}/verify": "admin",
    "GET /admin/products": "admin",
    "POST /admin/products": "admin",
    "GET /admin/products/low-stock": "admin",
    "GET /admin/products/{product_id}": "admin",
    "PATCH /admin/products/{product_id}": "admin",
    "POST /admin/products/{product_id}/stock-adjustments": "admin",
    "POST /admin/products/batch": "admin",
    "GET /admin/promoters": "admin",
    "GET /admin/promoters/{user_id}": "admin",
    "POST /admin/promoters/{user_id}/approve": "admin",
    "GET /admin/promoters/{user_id}/commissions": "admin",
    "POST /admin/promoters/{user_id}/disable": "admin",
    "POST /admin/promoters/{user_id}/freeze": "admin",
    "GET /admin/promoters/{user_id}/ledger": "admin",
    "GET /admin/promoters/{user_id}/ledger/summary": "admin",
    "PUT /admin/promoters/{user_id}/level": "admin",
    "PUT /admin/promoters/{user_id}/override": "admin",
    "POST /admin/promoters/{user_id}/reject": "admin",
    "GET /admin/promoters/{user_id}/team": "admin",
    "POST /admin/promoters/{user_id}/unfreeze": "admin",
    "GET /admin/refunds": "admin",
    "POST /admin/refunds/{refund_id}/approve": "admin",
    "POST /admin/refunds/{refund_id}/reject": "admin",
    "GET /admin/risk/cases": "admin",
    "GET /admin/risk/cases/{case_id}": "admin",
    "POST /admin/risk/cases/{case_id}/confirm": "admin",
    "POST /admin/risk/cases/{case_id}/release": "admin",
    "GET /admin/settings/distribution": "admin",
    "PUT /admin/settings/distribution": "admin",
    "GET /admin/settings/distribution/versions": "admin",
    "GET /admin/settings/distribution/versions/{version}": "admin",
    "GET /admin/withdrawals": "admin",
    "GET /admin/withdrawals/export": "admin",
    "GET /admin/withdrawals/{withdrawal_id}": "admin",
    "POST /admin/withdrawals/{withdrawal_id}/approve": "admin",
    "GET /admin/withdrawals/{withdrawal_id}/bank-account": "admin",
    "POST /admin/withdrawals/{withdrawal_id}/mark-failed": "admin",
    "POST /admin/withdrawals/{withdrawal_id}/mark-paid": "admin",
    "POST /admin/withdrawals/{withdrawal_id}/reject": "admin",
    "POST /auth/login": "public",
    "GET /cart": "self",
    "POST /cart/lines": "self-write",
    "DELETE /cart/lines/{line_id}": "cart_line",
    "PATCH /cart/lines/{line_id}": "cart_line",
    "GET /categories": "public",
    "GET /me": "self",
    "POST /me/erasure": "self-write",
    "GET /me/addresses": "self",
    "POST /me/addresses": "self-write",
    "PUT /me/addresses/{address_id}": "address",
    "DELETE /me/addresses/{address_id}": "address",
    "POST /me/addresses/{address_id}/default": "address",
    "POST /me/phone": "self-write",
    "GET /orders": "self",
    "POST /orders": "self-write",
    "GET /orders/{order_id}": "order",
    "POST /orders/{order_id}/confirm-receipt": "order",
    "POST /orders/{order_id}/payment": "order",
    "GET /orders/{order_id}/refunds": "order",
    "POST /orders/{order_id}/refunds": "order",
    "GET /products": "public",
    "GET /products/{product_id}": "public",
    "POST /promoter/apply": "self-write",
    "POST /promoter/agreement": "self-write",
    "GET /promoter/bonuses": "self",
    "GET /promoter/commissions": "self",
    "GET /promoter/commissions/preview": "self",
    "GET /promoter/history": "self",
    "GET /promoter/leaderboard": "shared",
    "GET /promoter/ledger": "self",
    "GET /promoter/ledger/summary": "self",
    "POST /promoter/posters": "self-write",
    "GET /promoter/profile": "self",
    "GET /promoter/qrcode": "self",
    "GET /promoter/team": "self",
    "GET /promoter/withdrawals": "self",
    "POST /promoter/withdrawals": "self-write",
    "GET /promoter/withdrawals/{withdrawal_id}": "withdrawal",
    "POST /referral/bind": "self-write",
    "GET /rules": "public",
    "POST /share/visits": "public",
    "POST /webhooks/wechatpay": "public",
}
KINDS = {"public", "admin", "self", "self-write", "shared", "order", "withdrawal", "cart_line", "address"}
#: Bodies that pass validation, so the ownership check (not the body's) is what answers B.
OWNED_BODIES: dict[str, dict[str, Any]] = {
    "POST /orders/{order_id}/refunds": {"reason": "不想要了", "lines": [{"line_id": "1"}]},
    "PATCH /cart/lines/{line_id}": {"quantity": 2},
    "PUT /me/addresses/{address_id}": {"name": "王芳", "phone": "13812341234", "province": "浙江省",
                                       "city": "杭州市", "detail": "西湖区文三路 1 号", "version": 1},
}
#: Queries that pass validation, for the same reason.
OWNED_QUERIES: dict[str, dict[str, str]] = {"DELETE /me/addresses/{address_id}": {"version": "1"}}


def _key(method: str, path: str) -> str:
    return f"{method} {path}"


def _roles_of(method: str, path: str) -> list[str]:
    return next(roles for _, m, p, roles in OPERATIONS if (m, p) == (method, path))


def test_every_route_says_how_another_promoters_data_could_be_named() -> None:
    routed = {_key(m, p) for _, m, p, _ in OPERATIONS}
    missing = sorted(routed - set(OWNERSHIP))
    assert not missing, ("routes without an OWNERSHIP entry in tests/unit/test_authorization_matrix.py (decide how "
                         f"a promoter could name another promoter's data through them): {missing}")
    assert not sorted(set(OWNERSHIP) - routed), f"entries for routes that no longer exist: {set(OWNERSHIP) - routed}"
    assert set(OWNERSHIP.values()) <= KINDS
    for key, kind in OWNERSHIP.items():
        method, path = key.split(" ", 1)
        roles = set(_roles_of(method, path))
        if kind == "admin":
            assert roles == {"admin"}, f"{key} is listed admin-only but admits {roles}"
        elif kind == "public":
            assert "anonymous" in roles, f"{key} is listed public but needs {roles}"
        else:
            assert "promoter" in roles, f"{key} is listed as a promoter's route but admits {roles}"
        if kind == "order":
            assert "{order_id}" in path, key
        if kind == "withdrawal":
            assert "{withdrawal_id}" in path, key
        if kind == "cart_line":
            assert "{line_id}" in path, key
        if kind == "address":
            assert "{address_id}" in path, key
        if kind in {"self", "self-write", "shared"}:
            assert "{" not in path, f"{key} names a resource in its path: give it an owned kind"


@dataclass
class TwoPromoters:
    """Promoter A with a resource of every kind, promoter B with some of their own."""

    a: str
    b: str
    a_token: str
    b_token: str
    ids: dict[str, str]  # kind of resource → one of A's
    a_secrets: set[str]  # every id of A's that must never show in B's answers


def _promoter_token(user_id: str) -> str:
    from mall.api.auth import signing_key

    return issue_token(user_id, frozenset({Role.CUSTOMER, Role.PROMOTER}), key=signing_key(), now=datetime.now(UTC),
                       ttl_seconds=600)


def _make_promoter(table: Any, code: str, now: datetime) -> str:
    from mall.dal.identity import CustomerRepository
    from mall.dal.referral import PromoterRepository
    from mall.domain.referral import Promoter, new_promoter_code

    customer, _ = CustomerRepository(table).get_or_create(app_id="wx_test_app", openid=f"openid-{code}", unionid=None,
                                                          now=now)
    PromoterRepository(table).create(
        Promoter(user_id=customer.user_id, code=new_promoter_code(), status="active", level_id="basic",
                 nickname=code[:20], applied_at=now, activated_at=now),
        grant_role=True, replaces_rejected=False, now=now, reserve_code=True)
    return customer.user_id


@pytest.fixture(scope="module")
def two_promoters(handlers: dict[str, ModuleType]) -> Iterator[TwoPromoters]:
    from mall.dal.address_book import AddressBookRepository
    from mall.dal.commissions import commission_item
    from mall.dal.identity import CustomerRepository
    from mall.dal.ledger import LedgerRepository
    from mall.dal.orders import OrderRepository
    from mall.dal.referral import PromoterRepository
    from mall.dal.refunds import RefundRepository
    from mall.dal.table import main_table
    from mall.domain import ledger as L
    from mall.domain.commission_records import CommissionRecord, CommissionStatus, commission_id
    from mall.domain.refunds import LineRequest
    from mall.schemas.address_book import SaveAddressRequest
    from mall.services import refunds as refund_service
    from mall.services.address_book import add_address
    from mall.services.referral import ReferralRepositories
    from mall.services.referral.binding import admin_set_binding
    from tests.unit.test_fulfilment_factory import put_order
    from tests.unit.test_payouts import approved_withdrawal

    previous = os.environ.get("WECHATPAY_NOTIFY_URL")
    os.environ["WECHATPAY_NOTIFY_URL"] = "https://mall.test/webhooks/wechatpay"  # the payment route reads it
    clear_caches()
    table = main_table()
    now = datetime.now(UTC)
    a, b = _make_promoter(table, "matrix-promoter-a", now), _make_promoter(table, "matrix-promoter-b", now)
    orders = {status: put_order(table, buyer_id=a, status=status)["order_id"]
              for status in ("CREATED", "PAID", "SHIPPED")}
    put_order(table, buyer_id=a, status="COMPLETED")
    put_order(table, buyer_id=b, status="PAID")
    refund = refund_service.request_refund(orders=OrderRepository(table), refunds=RefundRepository(table),
                                           buyer_id=a, order_id=orders["PAID"], reason="matrix",
                                           lines=[LineRequest("1", 100)], now=now)
    withdrawals = [approved_withdrawal(table, a).withdrawal_id for _ in range(2)]
    approved_withdrawal(table, b)
    from mall.dal.cart import CartRepository
    from mall.domain.cart import CartLine, cart_line_id

    cart_line = CartLine(line_id=cart_line_id("p_1", None), product_id="p_1", sku_id=None, quantity=1,
                         added_price_fen=100, added_at=now.isoformat(), updated_at=now.isoformat())
    CartRepository(table).save_added(a, cart_line, existed=None)
    code_a = PromoterRepository(table).get(a, consistent=True).code  # type: ignore[union-attr]
    members = []
    for n in range(2):
        member, _ = CustomerRepository(table).get_or_create(app_id="wx_test_app", openid=f"openid-matrix-m{n}",
                                                            unionid=None, now=now)
        admin_set_binding(network=ReferralRepositories.on(table), customer_id=member.user_id, promoter_code=code_a,
                          reason="matrix", by="admin:matrix", now=now)
        members.append(member.user_id)
    commissions = []
    for n, order_id in enumerate(orders.values()):
        cid = commission_id(order_id, "1", 1)
        record = CommissionRecord(commission_id=cid, order_id=order_id, line_id="1", level=1, beneficiary_id=a,
                                  buyer_id=members[0], product_id="p_1", product_name="matrix", quantity=1,
                                  base_fen=1000, amount_fen=100 + n, status=CommissionStatus.FROZEN,
                                  rule={"source": "global", "rate_bp": 1000}, created_at=now)
        LedgerRepository(table).post([L.commission_frozen(promoter_id=a, commission_id=cid, amount_fen=100 + n,
                                                          at=now, ref={"commission_id": cid})])
        table.put(commission_item(record))
        commissions.append(cid)
    saved, _ = add_address(books=AddressBookRepository(table), user_id=a, now=now, body=SaveAddressRequest(
        name="欧阳矩阵", phone="13800001111", province="浙江省", city="杭州市", detail="西湖区矩阵路 1 号"))
    ids = {"order": orders["SHIPPED"], "order_created": orders["CREATED"], "order_paid": orders["PAID"],
           "withdrawal": withdrawals[0], "refund": refund.refund_id, "user": a,
           "cart_line": cart_line.line_id, "address": saved.address_id}
    secrets_of_a = {a, *orders.values(), refund.refund_id, *withdrawals, *members, *commissions, code_a,
                    saved.address_id}
    yield TwoPromoters(a, b, _promoter_token(a), _promoter_token(b), ids, secrets_of_a)
    if previous is None:
        os.environ.pop("WECHATPAY_NOTIFY_URL", None)
    else:
        os.environ["WECHATPAY_NOTIFY_URL"] = previous


def _call(handlers: dict[str, ModuleType], method: str, path: str, concrete: str, token: str, *,
          query: dict[str, str] | None = None, body: Any = None) -> tuple[int, str]:
    function_dir = next(f for f, m, p, _ in OPERATIONS if (m, p) == (method, path))
    headers = {"authorization": f"Bearer {token}", "idempotency-key": f"matrix-{uuid.uuid4().hex[:12]}"}
    if body is None and method in {"POST", "PUT", "PATCH"}:
        body = {}
    event = http_event(method, concrete, body=body, headers=headers)
    event["routeKey"] = f"{method} {path}"
    if query:
        event["rawQueryString"] = "&".join(f"{k}={v}" for k, v in query.items())
        event["queryStringParameters"] = query
    if function_dir not in handlers:
        handlers[function_dir] = load_function(function_dir)
    result: dict[str, Any] = handlers[function_dir].handler(event, FakeContext())
    return int(result["statusCode"]), str(result.get("body") or "")


def _state_of_the_world() -> dict[tuple[str, str], Any]:
    """Every item but the idempotency records (B's own request keys)."""
    from mall.dal.table import deserialize, main_table

    table = main_table()
    items: dict[tuple[str, str], Any] = {}
    request: dict[str, Any] = {"TableName": table.name}
    while True:
        page = table.client.scan(**request)
        for raw in page.get("Items", []):
            item = deserialize(raw)
            if not str(item["pk"]).startswith("IDEMPOTENCY#"):
                items[(item["pk"], item["sk"])] = item
        if "LastEvaluatedKey" not in page:
            return items
        request["ExclusiveStartKey"] = page["LastEvaluatedKey"]


def _concrete(path: str, world: TwoPromoters) -> str:
    names = {"user_id": world.ids["user"], "order_id": world.ids["order"], "withdrawal_id": world.ids["withdrawal"],
             "refund_id": world.ids["refund"], "line_id": world.ids["cart_line"],
             "address_id": world.ids["address"]}
    return re.sub(r"\{([^}]+)\}", lambda m: names.get(m.group(1), "matrix_missing"), path)


OWNED_OR_ADMIN = [(m, p) for _, m, p, _ in OPERATIONS
                  if OWNERSHIP.get(_key(m, p)) in {"order", "withdrawal", "cart_line", "address", "admin"}]
SELF_READS = [(m, p) for _, m, p, _ in OPERATIONS if OWNERSHIP.get(_key(m, p)) == "self" and m == "GET"]


@pytest.mark.parametrize(("method", "path"), OWNED_OR_ADMIN, ids=[_key(m, p) for m, p in OWNED_OR_ADMIN])
def test_another_promoter_cannot_read_or_change_a_promoters_resource(handlers: dict[str, ModuleType],
                                                                     two_promoters: TwoPromoters, method: str,
                                                                     path: str) -> None:
    world = two_promoters
    kind = OWNERSHIP[_key(method, path)]
    targets = [_concrete(path, world)]
    if kind == "order":  # each of A's orders: unpaid, paid (with a refund), shipped
        targets = [path.replace("{order_id}", world.ids[k]) for k in ("order_created", "order_paid", "order")]
    before = _state_of_the_world()
    for concrete in targets:
        status, body = _call(handlers, method, path, concrete, world.b_token, body=OWNED_BODIES.get(_key(method, path)),
                             query=OWNED_QUERIES.get(_key(method, path)))
        if kind == "admin":
            assert status == 403 and "forbidden_role" in body, f"B reached {method} {concrete}: {status} {body}"
        else:
            assert status in {403, 404}, f"B reached A's {kind} through {method} {concrete}: {status} {body}"
        leaked = sorted(s for s in world.a_secrets if s in body and s not in concrete)
        assert not leaked, f"{method} {concrete} showed B {leaked}: {body}"
    after = _state_of_the_world()
    changed = sorted(k for k in set(before) | set(after) if before.get(k) != after.get(k))
    assert not changed, f"B's {method} {path} changed {changed}"
    # A reaches the same resources (the 404 above is about B, not a broken route).
    if kind in {"order", "withdrawal"} and method == "GET":
        status, _ = _call(handlers, method, path, targets[-1], world.a_token)
        assert status == 200, f"A cannot read their own {kind} through {method} {path}"


@pytest.mark.parametrize(("method", "path"), SELF_READS, ids=[_key(m, p) for m, p in SELF_READS])
def test_another_promoters_own_views_hold_nothing_of_a_promoter(handlers: dict[str, ModuleType],
                                                                two_promoters: TwoPromoters, method: str,
                                                                path: str) -> None:
    world = two_promoters
    query = {"product_id": "p_1"} if path == "/promoter/commissions/preview" else {}
    before = _state_of_the_world()
    status, body = _call(handlers, method, path, path, world.b_token, query=query)
    leaked = sorted(s for s in world.a_secrets if s in body)
    assert not leaked, f"B's {method} {path} ({status}) shows A's {leaked}: {body[:500]}"
    # A's cursor (a page of A's list) gets B nothing of A's: refused, or B's own page.
    params = json.loads((ROOT / "docs" / "openapi.json").read_text())["paths"][path][method.lower()].get(
        "parameters", [])
    if any(p["name"] == "cursor" and p["in"] == "query" for p in params):
        status_a, body_a = _call(handlers, method, path, path, world.a_token, query={"limit": "1"})
        cursor = json.loads(body_a).get("next_cursor") if status_a == 200 else None
        if cursor:
            status, body = _call(handlers, method, path, path, world.b_token, query={"limit": "1", "cursor": cursor})
            leaked = sorted(s for s in world.a_secrets if s in body)
            assert not leaked, f"A's cursor showed B {leaked} through {method} {path} ({status}): {body[:500]}"
            assert status in {200, 400, 403, 404, 422}, f"A's cursor on {path} for B: {status} {body[:300]}"
    after = _state_of_the_world()
    changed = sorted(k for k in set(before) | set(after) if before.get(k) != after.get(k))
    assert not changed, f"B's {method} {path} changed {changed}"
