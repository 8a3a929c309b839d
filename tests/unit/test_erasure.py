"""The erasure request (个人信息删除): rules (pure) and POST /me/erasure through the real handler on
moto's DynamoDB — personal data goes, financial records stay, in-flight withdrawals refuse it,
a repeat is harmless, the audit entry is written, reveals of erased data are 409, never 500."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest

from mall.clock import iso, utc_now
from mall.dal.erasure import attributes_to_remove
from mall.dal.keys import audit_entity_partition
from mall.dal.order_items import has_address_item
from mall.dal.orders import address_context
from mall.dal.referral import VisitRepository
from mall.dal.table import main_table
from mall.domain import erasure as rules
from mall.domain import masking
from mall.domain.tokens import Role
from mall.integrations import pii_crypto
from tests.conftest import bearer
from tests.unit.conftest import Invoke
from tests.unit.test_fulfilment_factory import ADDRESS, put_order

UID = "u_erase"


def auth(subject: str, *roles: Role) -> dict[str, str]:
    return bearer(subject, *(roles or (Role.CUSTOMER,)))


# ---- rules ----------------------------------------------------------------------------------------


def test_attributes_to_remove_follow_personal_data_into_index_keys() -> None:
    profile = {"pk": "USER#u1", "sk": "PROFILE", "openid": "o1", "nickname": "小明", "unionid": "union-abcdef",
               "gsi1pk": "UNIONID#union-abcdef", "gsi1sk": "USER#u1", "known_devices": {"dev-123456"},
               "last_device_id": "dev-123456", "last_source_ip": "10.1.2.3", "paid_total_fen": 100, "phone": ""}
    assert attributes_to_remove(profile) == ["known_devices", "last_device_id", "last_source_ip", "nickname",
                                                   "unionid", "gsi1pk", "gsi1sk"]
    assert attributes_to_remove({"pk": "x", "amount_fen": 5, "openid": "o"}) == []


def test_erased_address_and_bank_keep_nothing_personal() -> None:
    address = {"name_enc": "v1:a", "phone_enc": "v1:b", "detail_enc": "v1:c", "province": "浙江省", "phone_fp": "f"}
    assert rules.address_needs_erasure(address)
    erased = rules.erased_address("2026-11-20T00:00:00Z")
    assert not rules.address_needs_erasure(erased) and erased["phone_enc"] == masking.ERASED
    assert "province" not in erased
    bank = {"bank_name": "招商银行", "branch": "杭州分行", "account_name_enc": "v1:x", "account_no_enc": "v1:y",
            "account_name_masked": "张*", "account_no_last4": "5678"}
    assert rules.bank_needs_erasure(bank)
    done = rules.erased_bank(bank, "2026-11-20T00:00:00Z")
    assert done["bank_name"] == "招商银行" and done["branch"] == "杭州分行" and "5678" not in done.values()
    assert not rules.bank_needs_erasure(done) and not rules.bank_needs_erasure(None)


def test_withdrawals_in_flight_are_named() -> None:
    found = rules.withdrawals_in_flight([
        {"withdrawal_id": "w_2", "status": "PAYING", "created_at": "2"},
        {"withdrawal_id": "w_1", "status": "PAID", "created_at": "1"},
        {"withdrawal_id": "w_0", "status": "PENDING_REVIEW", "created_at": "0"}])
    assert found == [{"withdrawal_id": "w_0", "status": "PENDING_REVIEW"}, {"withdrawal_id": "w_2", "status": "PAYING"}]



def test_an_order_tells_whether_it_has_an_address_item() -> None:
    physical = {"lines": [{"type": "virtual"}, {"type": "physical"}]}
    assert has_address_item(physical)
    assert not has_address_item({**physical, "address": {"city": "杭州市"}})  # placed before: on the order
    assert not has_address_item({"lines": [{"type": "virtual"}, {"type": "service"}]})  # nothing to ship
    assert not has_address_item({})


def test_an_order_whose_address_was_not_read_awaiting_delivery_refuses() -> None:
    orders = [{"order_id": "o_1", "status": "PAID", "created_at": "1"},
              {"order_id": "o_2", "status": "COMPLETED", "created_at": "2"}]
    assert rules.orders_awaiting_delivery(orders) == []
    assert rules.orders_awaiting_delivery(orders, unread={"o_1", "o_2"}) == [{"order_id": "o_1", "status": "PAID"}]


# ---- the handler --------------------------------------------------------------------------------


def seed_customer(order_status: str = "COMPLETED") -> dict[str, Any]:
    table = main_table()
    table.put({"pk": f"USER#{UID}", "sk": "PROFILE", "entity": "customer", "user_id": UID, "openid": "o_erase",
               "unionid": "union-erase-1", "gsi1pk": "UNIONID#union-erase-1", "gsi1sk": f"USER#{UID}",
               "roles": ["customer"], "created_at": iso(utc_now()), "nickname": "欧阳娜娜",
               "last_device_id": "dev-erase-42", "known_devices": {"dev-erase-42"}, "last_source_ip": "203.0.113.9",
               "paid_total_fen": 2000, "paid_order_count": 2})
    table.put({"pk": f"USER#{UID}", "sk": "BINDING", "entity": "binding", "parent_id": "u_parent",
               "nickname": "欧阳娜娜", "device_id": "dev-erase-42", "gsi1pk": "TEAM#u_parent", "gsi1sk": "x"})
    order = put_order(table, buyer_id=UID, device_id="dev-erase-42", status=order_status)
    VisitRepository(table).record(promoter_id="u_parent", promoter_code="PARENT01", source="link", product_id=None,
                                  visitor_id=UID, device_id="dev-erase-42", source_ip="203.0.113.9",
                                  now=datetime(2026, 11, 20, tzinfo=UTC))
    return order


def erase(invoke: Invoke, subject: str = UID, *roles: Role, body: Any = None) -> tuple[int, dict[str, Any]]:
    status, answer, _ = invoke("me_erasure", "POST", "/me/erasure",
                               body={"confirm": True} if body is None else body, headers=auth(subject, *roles))
    return status, answer


@pytest.mark.usefixtures("moto_table")
def test_erasure_removes_personal_data_and_keeps_the_order(invoke: Invoke) -> None:
    order = seed_customer()
    status, body = erase(invoke)
    assert status == 200, body
    assert body["already_erased"] is False and body["orders_erased"] == 1 and body["status"] == "erased"
    table = main_table()
    profile = table.get({"pk": f"USER#{UID}", "sk": "PROFILE"})
    assert profile is not None and profile["erased_at"] == body["erased_at"]
    assert {"nickname", "unionid", "gsi1pk", "last_device_id", "known_devices", "last_source_ip"}.isdisjoint(profile)
    assert profile["openid"] == "o_erase" and profile["paid_total_fen"] == 2000  # the account and its counters stay
    binding = table.get({"pk": f"USER#{UID}", "sk": "BINDING"})
    assert binding is not None and binding["parent_id"] == "u_parent" and "nickname" not in binding
    stored = table.get({"pk": order["pk"], "sk": "ORDER"})
    assert stored is not None and stored["address"]["phone_enc"] == masking.ERASED and "device_id" not in stored
    assert (stored["amount_fen"], stored["lines"], stored["version"]) == (order["amount_fen"], order["lines"],
                                                                          order["version"])
    visits = table.query(partition=("pk", "PVISITS#u_parent")).items
    assert visits and all("device_id" not in v and "source_ip" not in v for v in visits)
    assert visits[0]["visitor_id"] == UID
    audit = table.query(partition=("gsi2pk", audit_entity_partition("customer", UID)), index="gsi2").items
    assert [(a["action"], a["actor"]) for a in audit] == [("customer.erase", UID)]
    assert "欧阳" not in str(audit)
    # a repeat changes nothing and writes no second audit entry
    status, again = erase(invoke)
    assert status == 200 and again["already_erased"] is True and again["erased_at"] == body["erased_at"]
    assert len(table.query(partition=("gsi2pk", audit_entity_partition("customer", UID)), index="gsi2").items) == 1


@pytest.mark.usefixtures("moto_table")
def test_erased_addresses_show_as_stars_and_reveals_are_409(invoke: Invoke) -> None:
    order = seed_customer()
    assert erase(invoke)[0] == 200
    status, detail, _ = invoke("orders_read", "GET", f"/orders/{order['order_id']}", headers=auth(UID))
    assert status == 200, detail
    assert detail["address"]["phone"] == "****" and detail["address"]["name"] == "**"
    status, answer, _ = invoke("admin_orders", "GET", f"/admin/orders/{order['order_id']}/shipping-address",
                               headers=auth("admin:alice", Role.ADMIN))
    assert status == 409 and answer["error"]["code"] == "personal_data_erased"


@pytest.mark.usefixtures("moto_table")
def test_a_withdrawal_in_flight_refuses_and_changes_nothing(invoke: Invoke) -> None:
    order = seed_customer()
    # Only a promoter withdraws (the request checks the promoter record's status).
    main_table().put({"pk": f"USER#{UID}", "sk": "PROMOTER", "entity": "promoter", "user_id": UID, "code": "ERASE01",
                      "status": "active", "level_id": "basic"})
    main_table().put({"pk": "WITHDRAWAL#w_busy", "sk": "WITHDRAWAL", "entity": "withdrawal", "withdrawal_id": "w_busy",
                      "promoter_id": UID, "status": "APPROVED", "method": "bank", "created_at": iso(utc_now()),
                      "gsi2pk": f"PROMOTER_WITHDRAWALS#{UID}", "gsi2sk": "x",
                      "bank": {"bank_name": "招商银行", "account_name_enc": "v1:x", "account_no_enc": "v1:y"}})
    status, body = erase(invoke)
    assert status == 409 and body["error"]["code"] == "withdrawal_in_flight"
    assert body["error"]["details"]["withdrawals"] == [{"withdrawal_id": "w_busy", "status": "APPROVED"}]
    stored = main_table().get({"pk": order["pk"], "sk": "ORDER"})
    assert stored is not None and stored["address"] == order["address"]
    profile = main_table().get({"pk": f"USER#{UID}", "sk": "PROFILE"})
    assert profile is not None and profile["nickname"] == "欧阳娜娜" and "erased_at" not in profile


@pytest.mark.usefixtures("moto_table")
def test_a_paid_parcel_not_yet_received_refuses_with_409_naming_it(invoke: Invoke) -> None:
    order = seed_customer(order_status="SHIPPED")
    status, body = erase(invoke)
    assert status == 409 and body["error"]["code"] == "order_awaiting_delivery"
    assert body["error"]["details"]["orders"] == [{"order_id": order["order_id"], "status": "SHIPPED"}]
    status, answer, _ = invoke("admin_orders", "GET", f"/admin/orders/{order['order_id']}/shipping-address",
                               headers=auth("admin:alice", Role.ADMIN))
    assert status == 200 and answer["detail"] == ADDRESS["detail"], answer  # the parcel can still be shipped


@pytest.mark.usefixtures("moto_table")
def test_only_the_callers_own_account_and_only_customers(invoke: Invoke) -> None:
    seed_customer()
    assert erase(invoke, "admin:alice", Role.ADMIN)[0] == 403
    assert erase(invoke, UID, body={"confirm": False})[0] == 422
    assert erase(invoke, UID, body={"confirm": True, "user_id": "u_other"})[0] == 422
    status, body = erase(invoke, "u_missing")
    assert status == 404 and body["error"]["code"] == "account_not_found"


def test_the_sealed_address_factory_still_decrypts() -> None:
    # guards the fixture the tests above rely on: the seeded address is real ciphertext
    token = pii_crypto.encrypt(ADDRESS["phone"], context=address_context("o_x"))
    assert pii_crypto.decrypt(token, context=address_context("o_x")) == ADDRESS["phone"]
