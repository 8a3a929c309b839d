"""Every admin mutation writes exactly one audit entry (who, what, before/after, when, from where)
through the real handlers (moto); a refused action writes none; personal data never lands in one."""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from types import ModuleType
from typing import Any

import pytest

from mall.clock import utc_now
from mall.dal.table import Item, main_table
from mall.domain.tokens import Role
from mall.domain.withdrawals import WithdrawalStatus
from mall.integrations.wechatpay.refund_resources import RefundResult
from tests.conftest import bearer
from tests.unit.conftest import FakeContext, http_event, load_function
from tests.unit.test_fulfilment_factory import Line, order_item
from tests.unit.test_payouts import approved_withdrawal
from tests.unit.test_referral_handlers import customer
from tools.create_admin import ensure_admin

pytestmark = pytest.mark.usefixtures("moto_table")

ADMIN = "admin:alice"
IP = "198.51.100.23"


def auth(subject: str, *roles: Role) -> dict[str, str]:
    return bearer(subject, *roles)


@dataclass
class World:
    modules: dict[str, ModuleType] = field(default_factory=dict)

    def module(self, function: str) -> ModuleType:
        if function not in self.modules:
            self.modules[function] = load_function(function)
        return self.modules[function]

    def call(self, function: str, method: str, path: str, *, body: Any = None, query: dict[str, str] | None = None,
             headers: dict[str, str] | None = None, who: str = ADMIN) -> tuple[int, Any]:
        event = http_event(method, path, body=body, headers={**auth(who, Role.ADMIN), **(headers or {})})
        event["requestContext"]["http"]["sourceIp"] = IP
        if query:
            event["queryStringParameters"] = query
            event["rawQueryString"] = "&".join(f"{k}={v}" for k, v in query.items())
        result = self.module(function).handler(event, FakeContext())
        text = result.get("body") or ""
        is_json = "json" in (result.get("headers") or {}).get("Content-Type", "application/json")
        return int(result["statusCode"]), json.loads(text) if text and is_json else text


def audit_items() -> list[Item]:
    """Every audit entry in the table (a test-only scan)."""
    table = main_table()
    raw = table.client.scan(TableName=table.name, FilterExpression="entity = :a",
                            ExpressionAttributeValues={":a": {"S": "audit"}})["Items"]
    from mall.dal.table import deserialize

    return [deserialize(i) for i in raw]


# ---- fixtures of the world each action needs --------------------------------------------------------


def promoter(world: World, uid: str, *, active: bool = True) -> str:
    """A customer who applied (manual review); approved when ``active``. Returns the share code."""
    customer(uid, nickname="小艾")
    world.modules.setdefault("promoter_apply", load_function("promoter_apply"))
    event = http_event("POST", "/promoter/apply", body={"accepted_rules_version": 0},
                       headers={**auth(uid, Role.CUSTOMER), "idempotency-key": f"apply-{uid}"})
    result = world.modules["promoter_apply"].handler(event, FakeContext())
    assert result["statusCode"] == 201, result
    code = str(json.loads(result["body"])["code"])
    if active:
        assert world.call("admin_promoters", "POST", f"/admin/promoters/{uid}/approve", body={})[0] == 200
    return code


def category(world: World) -> str:
    status, body = world.call("admin_categories", "POST", "/admin/categories", body={"name": "服饰"},
                              headers={"idempotency-key": uuid.uuid4().hex})
    assert status == 201, body
    return str(body["category_id"])


def product(world: World) -> str:
    status, body = world.call("admin_products", "POST", "/admin/products",
                              body={"name": "棉麻衬衫", "type": "physical", "category_id": category(world),
                                    "price_fen": 9900, "stock": 10},
                              headers={"idempotency-key": uuid.uuid4().hex})
    assert status == 201, body
    return str(body["product_id"])


def requested_refund(world: World) -> str:
    order = order_item(buyer_id="u_buyer")
    main_table().put(order)
    module = world.module("order_refund_request")
    event = http_event("POST", f"/orders/{order['order_id']}/refunds",
                       body={"reason": "不想要了", "lines": [{"line_id": "1", "amount_fen": 400}]},
                       headers={**auth("u_buyer", Role.CUSTOMER), "idempotency-key": "refund-0001"})
    result = module.handler(event, FakeContext())
    assert result["statusCode"] == 201, result
    return str(json.loads(result["body"])["refund_id"])


class FakePay:
    def create_refund(self, out_refund_no: str, **kwargs: Any) -> RefundResult:
        return RefundResult.model_validate({
            "refund_id": "5000001", "out_refund_no": out_refund_no, "transaction_id": "42", "status": "PROCESSING",
            "out_trade_no": kwargs["out_trade_no"], "amount": {"total": kwargs["total_fen"],
                                                              "refund": kwargs["refund_fen"]}})


def fake_pay(world: World) -> None:
    module = world.module("admin_refunds")
    module.pay_client = FakePay  # type: ignore[attr-defined]
    merchant = type("Merchant", (), {"notify_url": "http://x/webhooks"})()
    module.merchant_config = lambda: merchant  # type: ignore[attr-defined]


def withdrawal(status: WithdrawalStatus) -> str:
    customer("u_payee")
    return approved_withdrawal(main_table(), "u_payee", method="bank", status=status).withdrawal_id


# ---- the actions ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Act:
    function: str
    method: str
    path: str
    body: Any = None
    query: dict[str, str] | None = None
    headers: dict[str, str] | None = None
    who: str = ADMIN


@dataclass(frozen=True)
class Expect:
    action: str
    entity_type: str
    entity_id: str
    before: dict[str, Any] | None = None  # a subset the entry's before must contain
    after: dict[str, Any] | None = None
    actor: str = ADMIN


Case = Callable[[World], tuple[Act, Expect]]


def settings_save(world: World) -> tuple[Act, Expect]:
    return (Act("admin_settings", "PUT", "/admin/settings/distribution",
                body={"based_on_version": 0, "promoter_title": "推客", "commission": {"l1_rate_bp": 1200}}),
            Expect("settings.save", "settings", "distribution", before={"promoter_title": "推广员"},
                   after={"promoter_title": "推客", "commission.l1_rate_bp": 1200}))


def promoter_approve(world: World) -> tuple[Act, Expect]:
    promoter(world, "u_pa", active=False)
    return (Act("admin_promoters", "POST", "/admin/promoters/u_pa/approve", body={}),
            Expect("promoter.approve", "promoter", "u_pa", {"status": "applied"}, {"status": "active"}))


def promoter_reject(world: World) -> tuple[Act, Expect]:
    promoter(world, "u_pr", active=False)
    return (Act("admin_promoters", "POST", "/admin/promoters/u_pr/reject", body={"reason": "资料不全"}),
            Expect("promoter.reject", "promoter", "u_pr", {"status": "applied"}, {"status": "rejected"}))


def promoter_freeze(world: World) -> tuple[Act, Expect]:
    promoter(world, "u_pf")
    return (Act("admin_promoters", "POST", "/admin/promoters/u_pf/freeze", body={"reason": "刷单嫌疑"}),
            Expect("promoter.freeze", "promoter", "u_pf", {"status": "active"}, {"status": "frozen"}))


def promoter_override(world: World) -> tuple[Act, Expect]:
    promoter(world, "u_po")
    return (Act("admin_promoters", "PUT", "/admin/promoters/u_po/override",
                body={"l1_override_bp": 1500, "l2_override_bp": None, "reason": "大客户"}),
            Expect("promoter.set_override", "promoter", "u_po", {"l1_override_bp": None}, {"l1_override_bp": 1500}))


def promoter_level(world: World) -> tuple[Act, Expect]:
    promoter(world, "u_pl")
    document = {"based_on_version": 0, "levels": [{"id": "basic", "name": "普通"}, {"id": "gold", "name": "金牌"}]}
    assert world.call("admin_settings", "PUT", "/admin/settings/distribution", body=document)[0] == 200
    return (Act("admin_promoters", "PUT", "/admin/promoters/u_pl/level", body={"level_id": "gold", "reason": "表现好"}),
            Expect("promoter.set_level", "promoter", "u_pl", {"level_id": "basic"}, {"level_id": "gold"}))


def binding_set(world: World) -> tuple[Act, Expect]:
    code = promoter(world, "u_boss")
    customer("u_member")
    return (Act("admin_bindings", "PUT", "/admin/customers/u_member/binding",
                body={"promoter_code": code, "reason": "客户要求"}),
            Expect("binding.admin_set", "binding", "u_member", {"parent_id": None}, {"parent_id": "u_boss"}))


def binding_remove(world: World) -> tuple[Act, Expect]:
    code = promoter(world, "u_boss")
    customer("u_member")
    assert world.call("admin_bindings", "PUT", "/admin/customers/u_member/binding",
                      body={"promoter_code": code, "reason": "客户要求"})[0] == 200
    return (Act("admin_bindings", "POST", "/admin/customers/u_member/binding/remove", body={"reason": "误绑"}),
            Expect("binding.admin_remove", "binding", "u_member", {"parent_id": "u_boss"}, {"parent_id": None}))


def category_create(world: World) -> tuple[Act, Expect]:
    return (Act("admin_categories", "POST", "/admin/categories", body={"name": "茶叶", "l1_rate_bp": 800},
                headers={"idempotency-key": uuid.uuid4().hex}),
            Expect("category.create", "category", "*", {"name": None}, {"name": "茶叶", "l1_rate_bp": 800}))


def category_update(world: World) -> tuple[Act, Expect]:
    cid = category(world)
    return (Act("admin_categories", "PATCH", f"/admin/categories/{cid}", body={"version": 1, "name": "女装"}),
            Expect("category.update", "category", cid, {"name": "服饰"}, {"name": "女装"}))


def category_delete(world: World) -> tuple[Act, Expect]:
    cid = category(world)
    return (Act("admin_categories", "DELETE", f"/admin/categories/{cid}", query={"version": "1"}),
            Expect("category.delete", "category", cid, {"name": "服饰"}, {"name": None}))


def product_create(world: World) -> tuple[Act, Expect]:
    cid = category(world)
    return (Act("admin_products", "POST", "/admin/products",
                body={"name": "绿茶", "type": "physical", "category_id": cid, "price_fen": 5900},
                headers={"idempotency-key": uuid.uuid4().hex}),
            Expect("product.create", "product", "*", None, {"name": "绿茶", "price_fen": 5900}))


def product_update(world: World) -> tuple[Act, Expect]:
    pid = product(world)
    return (Act("admin_products", "PATCH", f"/admin/products/{pid}", body={"version": 1, "price_fen": 8800,
                                                                          "on_shelf": True}),
            Expect("product.update", "product", pid, {"price_fen": 9900, "on_shelf": False},
                   {"price_fen": 8800, "on_shelf": True}))


def product_stock(world: World) -> tuple[Act, Expect]:
    pid = product(world)
    return (Act("admin_products", "POST", f"/admin/products/{pid}/stock-adjustments",
                body={"delta": -3, "reason": "损耗"}, headers={"idempotency-key": uuid.uuid4().hex}),
            Expect("product.stock_adjust", "product", pid))


def order_ship(world: World) -> tuple[Act, Expect]:
    order = order_item(buyer_id="u_buyer")
    main_table().put(order)
    return (Act("admin_orders", "POST", f"/admin/orders/{order['order_id']}/ship",
                body={"carrier": "顺丰速运", "tracking_no": "SF1234567890"}),
            Expect("order.ship", "order", order["order_id"], {"status": "PAID"},
                   {"status": "SHIPPED", "tracking_no": "SF1234567890"}))


def order_verify(world: World) -> tuple[Act, Expect]:
    order = order_item(buyer_id="u_buyer", lines=[Line(type="service")], with_address=False)
    main_table().put(order)
    module = world.module("orders_read")
    result = module.handler(http_event("GET", f"/orders/{order['order_id']}", headers=auth("u_buyer", Role.CUSTOMER)),
                            FakeContext())
    code = json.loads(result["body"])["verify_code"]
    return (Act("admin_orders", "POST", f"/admin/orders/{order['order_id']}/verify", body={"code": code}),
            Expect("order.verify", "order", order["order_id"], {"status": "PAID"}, {"status": "COMPLETED"}))


def refund_approve(world: World) -> tuple[Act, Expect]:
    rid = requested_refund(world)
    fake_pay(world)
    return (Act("admin_refunds", "POST", f"/admin/refunds/{rid}/approve"),
            Expect("refund.approve", "refund", rid, {"status": "REQUESTED"}, {"status": "PROCESSING"}))


def refund_reject(world: World) -> tuple[Act, Expect]:
    rid = requested_refund(world)
    return (Act("admin_refunds", "POST", f"/admin/refunds/{rid}/reject", body={"reason": "已发货"}),
            Expect("refund.reject", "refund", rid, {"status": "REQUESTED"}, {"status": "REJECTED"}))


def withdrawal_approve(world: World) -> tuple[Act, Expect]:
    wid = withdrawal(WithdrawalStatus.PENDING_REVIEW)
    return (Act("admin_withdrawal_review", "POST", f"/admin/withdrawals/{wid}/approve"),
            Expect("withdrawal.approve", "withdrawal", wid, {"status": "PENDING_REVIEW"}, {"status": "APPROVED"}))


def withdrawal_reject(world: World) -> tuple[Act, Expect]:
    wid = withdrawal(WithdrawalStatus.PENDING_REVIEW)
    return (Act("admin_withdrawal_review", "POST", f"/admin/withdrawals/{wid}/reject", body={"reason": "资料不符"}),
            Expect("withdrawal.reject", "withdrawal", wid, {"status": "PENDING_REVIEW"}, {"status": "REJECTED"}))


def withdrawal_mark_paid(world: World) -> tuple[Act, Expect]:
    wid = withdrawal(WithdrawalStatus.APPROVED)
    return (Act("admin_withdrawal_payouts", "POST", f"/admin/withdrawals/{wid}/mark-paid",
                body={"reference": "ICBC2026112200012"}),
            Expect("withdrawal.mark_paid", "withdrawal", wid, {"status": "APPROVED"}, {"status": "PAID"}))


def withdrawal_mark_failed(world: World) -> tuple[Act, Expect]:
    wid = withdrawal(WithdrawalStatus.APPROVED)
    return (Act("admin_withdrawal_payouts", "POST", f"/admin/withdrawals/{wid}/mark-failed",
                body={"reason": "户名不符"}),
            Expect("withdrawal.mark_failed", "withdrawal", wid, {"status": "APPROVED"}, {"status": "FAILED"}))


def withdrawal_export(world: World) -> tuple[Act, Expect]:
    withdrawal(WithdrawalStatus.APPROVED)
    return (Act("admin_withdrawals", "GET", "/admin/withdrawals/export", query={"status": "APPROVED"}),
            Expect("withdrawal.export", "withdrawal_export", "csv"))


def admin_login(world: World) -> tuple[Act, Expect]:
    ensure_admin("carol", "correct horse battery")
    return (Act("admin_login", "POST", "/admin/auth/login",
                body={"username": "carol", "password": "correct horse battery"}),
            Expect("admin.login", "admin", "carol", actor="admin:carol"))


def admin_login_failed(world: World) -> tuple[Act, Expect]:
    ensure_admin("carol", "correct horse battery")
    return (Act("admin_login", "POST", "/admin/auth/login", body={"username": "carol", "password": "wrong guess!!"}),
            Expect("admin.login_failed", "admin", "carol", actor="admin:carol"))


CASES: list[Case] = [
    settings_save, promoter_approve, promoter_reject, promoter_freeze, promoter_override, promoter_level, binding_set,
    binding_remove, category_create, category_update, category_delete, product_create, product_update, product_stock,
    order_ship, order_verify, refund_approve, refund_reject, withdrawal_approve, withdrawal_reject,
    withdrawal_mark_paid, withdrawal_mark_failed, withdrawal_export, admin_login, admin_login_failed,
]


@pytest.mark.parametrize("case", CASES, ids=lambda c: c.__name__)
def test_each_admin_mutation_writes_one_entry_with_actor_ip_and_before_after(case: Case) -> None:
    world = World()
    act, expect = case(world)
    seen = {i["audit_id"] for i in audit_items()}
    status, body = world.call(act.function, act.method, act.path, body=act.body, query=act.query, headers=act.headers,
                              who=act.who)
    assert status < 300 or (expect.action == "admin.login_failed" and status == 401), body
    new = [i for i in audit_items() if i["audit_id"] not in seen]
    assert len(new) == 1, new
    entry = new[0]
    assert entry["action"] == expect.action and entry["actor"] == expect.actor
    assert entry["entity_type"] == expect.entity_type
    if expect.entity_id != "*":
        assert entry["entity_id"] == expect.entity_id
    assert entry["source_ip"] == IP and entry["at"].endswith("Z")
    assert entry["gsi1pk"] == f"AUDIT_ACTOR#{expect.actor}"
    assert entry["gsi2pk"] == f"AUDIT_ENTITY#{entry['entity_type']}#{entry['entity_id']}"
    assert entry["expires_at"] > utc_now().timestamp() + 3 * 365 * 86400  # kept at least three years
    for side, wanted in (("before", expect.before), ("after", expect.after)):
        if wanted is not None:
            assert {k: entry[side].get(k) for k in wanted} == wanted, entry[side]
    assert "password" not in json.dumps(entry, ensure_ascii=False, default=str)


# ---- refused actions write nothing -----------------------------------------------------------------


def refused_settings(world: World) -> Act:
    return Act("admin_settings", "PUT", "/admin/settings/distribution",
               body={"based_on_version": 0, "commission": {"l1_rate_bp": 3001}})


def refused_settings_race(world: World) -> Act:
    assert world.call("admin_settings", "PUT", "/admin/settings/distribution", body={"based_on_version": 0})[0] == 200
    return Act("admin_settings", "PUT", "/admin/settings/distribution",
               body={"based_on_version": 0, "promoter_title": "推客"})


def refused_reject_without_reason(world: World) -> Act:
    promoter(world, "u_pr", active=False)
    return Act("admin_promoters", "POST", "/admin/promoters/u_pr/reject", body={})


def refused_category_over_cap(world: World) -> Act:
    return Act("admin_categories", "POST", "/admin/categories", body={"name": "茶叶", "l1_rate_bp": 3000,
                                                                     "l2_rate_bp": 3000},
               headers={"idempotency-key": uuid.uuid4().hex})


def refused_stale_product(world: World) -> Act:
    pid = product(world)
    return Act("admin_products", "PATCH", f"/admin/products/{pid}", body={"version": 7, "price_fen": 1})


def refused_stock_below_zero(world: World) -> Act:
    pid = product(world)
    return Act("admin_products", "POST", f"/admin/products/{pid}/stock-adjustments",
               body={"delta": -11, "reason": "损耗"}, headers={"idempotency-key": uuid.uuid4().hex})


def refused_wrong_code(world: World) -> Act:
    order = order_item(buyer_id="u_buyer", lines=[Line(type="service")], with_address=False)
    main_table().put(order)
    return Act("admin_orders", "POST", f"/admin/orders/{order['order_id']}/verify", body={"code": "1111 1111 1111"})


def refused_second_reject(world: World) -> Act:
    wid = withdrawal(WithdrawalStatus.REJECTED)
    return Act("admin_withdrawal_review", "POST", f"/admin/withdrawals/{wid}/reject", body={"reason": "again"})


def refused_self_binding(world: World) -> Act:
    code = promoter(world, "u_boss")
    return Act("admin_bindings", "PUT", "/admin/customers/u_boss/binding", body={"promoter_code": code,
                                                                                  "reason": "x"})


REFUSALS: list[Callable[[World], Act]] = [
    refused_settings, refused_settings_race, refused_reject_without_reason, refused_category_over_cap,
    refused_stale_product, refused_stock_below_zero, refused_wrong_code, refused_second_reject, refused_self_binding,
]


@pytest.mark.parametrize("case", REFUSALS, ids=lambda c: c.__name__)
def test_an_action_that_is_refused_writes_no_entry(case: Callable[[World], Act]) -> None:
    world = World()
    act = case(world)
    before = len(audit_items())
    status, body = world.call(act.function, act.method, act.path, body=act.body, query=act.query, headers=act.headers)
    assert 400 <= status < 500, body
    assert len(audit_items()) == before


def test_personal_data_never_lands_in_an_entry() -> None:
    """The shipping-address reveal is audited without the address; scrub masks whatever a caller passes."""
    from mall.dal.audit import AuditEntry, AuditLog

    world = World()
    order = order_item(buyer_id="u_buyer")
    main_table().put(order)
    status, revealed = world.call("admin_orders", "GET", f"/admin/orders/{order['order_id']}/shipping-address")
    assert status == 200 and revealed["phone"] == "13812345678"
    item = AuditLog(main_table()).append(AuditEntry(
        action="customer.fix", actor=ADMIN, entity_type="customer", entity_id="u_buyer",
        before={"phone": "13812345678", "address": {"detail": "西湖区文三路 100 号 3 单元 1201"}},
        after={"real_name": "张三丰", "phone_enc": "v1:secret", "account_no": "6225880012345678"}), utc_now())
    text = json.dumps(audit_items(), ensure_ascii=False, default=str)
    for raw in ("13812345678", "张三丰", "文三路 100", "6225880012345678", "v1:secret"):
        assert raw not in text
    assert item["before"]["phone"] == "138****5678" and item["after"] == {"real_name": "张**",
                                                                           "account_no": "****5678"}


def test_before_and_after_are_the_changed_paths_only() -> None:
    from mall.domain.audit import MAX_CHANGED_PATHS, changed_fields

    old = {"title": "推广员", "levels": [{"id": "basic", "name": "普通"}], "commission": {"l1_rate_bp": 1000},
           "banned": []}
    new = {"title": "推广员", "levels": [{"id": "basic", "name": "普通"}, {"id": "gold", "name": "金牌"}],
           "commission": {"l1_rate_bp": 1200}, "banned": ["稳赚"]}
    before, after = changed_fields(old, new)
    assert before == {"banned": [], "banned.0": None, "commission.l1_rate_bp": 1000, "levels.1.id": None,
                      "levels.1.name": None}
    assert after == {"banned": None, "banned.0": "稳赚", "commission.l1_rate_bp": 1200, "levels.1.id": "gold",
                     "levels.1.name": "金牌"}
    assert changed_fields(None, {"name": "x"}) == ({"name": None}, {"name": "x"})
    _, huge_after = changed_fields({}, {f"f{i:04d}": i for i in range(MAX_CHANGED_PATHS + 5)})
    assert len(huge_after) == MAX_CHANGED_PATHS + 1 and huge_after["_truncated"] == 5
