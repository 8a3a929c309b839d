"""The erasure request on real DynamoDB Local: a customer who bought (orders with a shipping address),
earns as a promoter (commission records, ledger postings, a wallet) and withdrew to a bank account
is erased; afterwards no raw personal data — nor its ciphertext — remains in any of their items
(their partitions and order items are read back and searched), while balances, postings, orders and
commissions are exactly what they were. Two requests at once audit it once."""

from __future__ import annotations

import json
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from mall.dal.commissions import commission_item
from mall.dal.erasure import ErasureRepository
from mall.dal.keys import audit_entity_partition
from mall.dal.ledger import LedgerRepository
from mall.dal.orders import address_context
from mall.dal.referral import PromoterRepository, VisitRepository
from mall.dal.settings import SettingsRepository
from mall.dal.table import Item, Table
from mall.dal.withdrawals import WithdrawalRepository
from mall.domain import ledger as L
from mall.domain import masking
from mall.domain.commission_records import CommissionRecord, CommissionStatus
from mall.domain.referral import Promoter
from mall.domain.settings import DistributionSettings, WithdrawalRules
from mall.errors import Conflict
from mall.integrations import pii_crypto
from mall.schemas.withdrawals import BankAccountIn, WithdrawalRequest
from mall.services.erasure import erase_customer
from mall.services.withdrawals.request import request_withdrawal
from mall.services.withdrawals.review import reject_withdrawal
from tests.unit.test_fulfilment_factory import Line, order_item

NOW = datetime(2026, 11, 20, 4, 0, tzinfo=UTC)
UID = "u_forget_me"
BUYER = "u_team_buyer"

# Distinctive raw values: none of them (nor obvious variants) may survive the erasure.
NAME = "欧阳忘我"
PHONE = "13987650123"
STREET = "幸福路 88 号 7 栋 702"
ACCOUNT_NO = "6222020200112233445"
NICKNAME = "忘我小店"
DEVICE = "dev-forget-me-0042"
IP = "198.51.100.77"
UNIONID = "union-forget-me-1"
RAW = [NAME, PHONE, STREET, ACCOUNT_NO, NICKNAME, DEVICE, IP, UNIONID, STREET.replace(" ", "")]


def sealed_address(order_id: str) -> dict[str, Any]:
    context = address_context(order_id)
    return {"name_enc": pii_crypto.encrypt(NAME, context=context),
            "phone_enc": pii_crypto.encrypt(PHONE, context=context),
            "detail_enc": pii_crypto.encrypt(STREET, context=context), "province": "浙江省", "city": "杭州市",
            "phone_fp": pii_crypto.fingerprint(PHONE, kind="phone"),
            "address_fp": pii_crypto.fingerprint(STREET, kind="address")}


def seed(table: Table) -> dict[str, Any]:
    rules = WithdrawalRules(methods=["wechat", "bank"], auto_review_below_fen=0)  # stays in review until decided
    SettingsRepository(table).save(DistributionSettings(withdrawal=rules), based_on=0, saved_by="admin:test", now=NOW)
    table.put({"pk": f"USER#{UID}", "sk": "PROFILE", "entity": "customer", "user_id": UID, "openid": "o_forget",
               "unionid": UNIONID, "gsi1pk": f"UNIONID#{UNIONID}", "gsi1sk": f"USER#{UID}", "roles": ["customer"],
               "created_at": "2026-11-01T00:00:00Z", "nickname": NICKNAME, "last_device_id": DEVICE,
               "known_devices": {DEVICE}, "last_source_ip": IP, "paid_total_fen": 3000, "paid_order_count": 2})
    PromoterRepository(table).create(
        Promoter(user_id=UID, code="FORGET01", status="active", level_id="basic", nickname=NICKNAME, applied_at=NOW,
                 activated_at=NOW), grant_role=False, replaces_rejected=False, now=NOW, reserve_code=True)
    table.put({"pk": f"USER#{UID}", "sk": "BINDING", "entity": "binding", "parent_id": "u_upline",
               "bound_at": "2026-11-02T00:00:00Z", "nickname": NICKNAME, "device_id": DEVICE, "source_ip": IP,
               "gsi1pk": "TEAM#u_upline", "gsi1sk": f"2026-11-02T00:00:00Z#{UID}", "version": 1})
    orders = []
    for n in range(2):
        # Received orders: a parcel still on its way keeps the erasure waiting (tested below).
        item = order_item(buyer_id=UID, with_address=False, device_id=DEVICE, status="COMPLETED",
                          created_at=f"2026-11-1{n}T08:00:00Z")
        item["address"] = sealed_address(item["order_id"])
        table.put(item)
        orders.append(item["order_id"])
    # The customer earns as a promoter on a team member's order: a commission record and its postings.
    earned = order_item(buyer_id=BUYER, with_address=False)
    table.put(earned)
    record = CommissionRecord(commission_id="cm_forget", order_id=earned["order_id"], line_id="1", level=1,
                              beneficiary_id=UID, buyer_id=BUYER, product_id="p_1", product_name="衬衫", quantity=1,
                              base_fen=100_000, amount_fen=10_000, status=CommissionStatus.SETTLED, rule={},
                              created_at=NOW - timedelta(days=10), settled_at=NOW - timedelta(days=1))
    table.put(commission_item(record))
    ledger = LedgerRepository(table)
    ledger.post([L.commission_frozen(promoter_id=UID, commission_id="cm_forget", amount_fen=20_000, at=NOW,
                                     ref={"order_id": earned["order_id"]})])
    ledger.post(L.commission_settled(balances=ledger.wallet(UID).balances, promoter_id=UID, commission_id="cm_forget",
                                     amount_fen=20_000, at=NOW, ref={}))
    bank = BankAccountIn(bank_name="招商银行", account_name=NAME, account_no=ACCOUNT_NO, branch="杭州分行")
    body = WithdrawalRequest(amount_fen=5_000, method="bank", bank=bank)
    withdrawal = request_withdrawal(withdrawals=WithdrawalRepository(table), settings=SettingsRepository(table),
                                    promoter_id=UID, body=body, now=NOW, queue=None)
    VisitRepository(table).record(promoter_id="u_upline", promoter_code="UPLINE01", source="qr", product_id=None,
                                  visitor_id=UID, device_id=DEVICE, source_ip=IP, now=NOW)
    return {"orders": orders, "earned": earned["order_id"], "withdrawal": withdrawal.withdrawal_id}


def everything(table: Table, seeded: dict[str, Any]) -> list[Item]:
    """Every item of the customer: their partition, their orders' partitions, their withdrawal, the
    visits they made, the order they earned on."""
    partitions = [f"USER#{UID}", *(f"ORDER#{o}" for o in seeded["orders"]), f"ORDER#{seeded['earned']}",
                  f"WITHDRAWAL#{seeded['withdrawal']}", "PVISITS#u_upline"]
    items: list[Item] = []
    for partition in partitions:
        start = None
        while True:
            page = table.query(partition=("pk", partition), limit=100, start_key=start)
            items += page.items
            start = page.last_key
            if not start:
                break
    return items


def ledger_state(table: Table) -> tuple[Any, list[Item]]:
    items = [i for i in everything_of_user(table) if str(i["sk"]).startswith(("LEDGER#", "WALLET"))]
    return LedgerRepository(table).wallet(UID).balances, items


def everything_of_user(table: Table) -> list[Item]:
    return table.query(partition=("pk", f"USER#{UID}"), limit=500).items


def money_fields(items: list[Item]) -> list[tuple[Any, ...]]:
    keep = ("amount_fen", "goods_fen", "shipping_fen", "lines", "status", "version", "net_fen", "fee_fen",
            "base_fen", "settled_at", "beneficiary_id", "buyer_id", "attribution")
    return sorted((i["pk"], i["sk"], *(json.dumps(i.get(k), sort_keys=True, default=str) for k in keep))
                  for i in items if i.get("entity") in {"order", "commission", "withdrawal"})


def test_after_erasure_no_personal_data_remains_and_money_is_untouched(table: Table) -> None:
    seeded = seed(table)
    reject_withdrawal(withdrawals=WithdrawalRepository(table), withdrawal_id=seeded["withdrawal"], admin="admin:alice",
                      reason="资料不符",
                      now=NOW, source_ip=None)  # final: the erasure may proceed
    before_items = everything(table, seeded)
    text_before = json.dumps(before_items, ensure_ascii=False, default=str)
    assert all(value in text_before for value in (NICKNAME, DEVICE, IP, UNIONID))  # the test sees what it seeks
    balances, postings = ledger_state(table)

    result = erase_customer(repo=ErasureRepository(table), user_id=UID, now=NOW + timedelta(hours=1))
    assert (result.orders_erased, result.withdrawals_erased, result.already_erased) == (2, 1, False)

    after_items = everything(table, seeded)
    text = json.dumps(after_items, ensure_ascii=False, default=str)
    ascii_text = json.dumps(after_items, default=str)
    leftovers = [v for v in RAW if v in text or json.dumps(v)[1:-1] in ascii_text]
    assert leftovers == []
    # Ciphertext is personal data too (whoever holds the key reads it): none is left.
    assert '"v1:' not in text and '"v2:' not in text
    assert not any(k in text for k in ('"phone_fp"', '"address_fp"', '"account_no_last4": "3445"'))
    # Money and its records are exactly as they were.
    assert ledger_state(table) == (balances, postings)
    assert money_fields(after_items) == money_fields(before_items)
    binding = next(i for i in after_items if i["sk"] == "BINDING")
    assert binding["parent_id"] == "u_upline"
    promoter = next(i for i in after_items if i["sk"] == "PROMOTER")
    assert promoter["status"] == "active" and promoter["code"] == "FORGET01"
    withdrawal = next(i for i in after_items if i["pk"].startswith("WITHDRAWAL#") and i["sk"] == "WITHDRAWAL")
    assert withdrawal["bank"]["bank_name"] == "招商银行" and withdrawal["bank"]["account_no_enc"] == masking.ERASED

    audit = table.query(partition=("gsi2pk", audit_entity_partition("customer", UID)), index="gsi2").items
    assert [(a["action"], a["actor"], a["details"]["orders_erased"]) for a in audit] == [("customer.erase", UID, 2)]
    assert not [v for v in RAW if v in json.dumps(audit, ensure_ascii=False, default=str)]


def test_two_requests_at_once_erase_once_and_audit_once(table: Table) -> None:
    seeded = seed(table)
    reject_withdrawal(withdrawals=WithdrawalRepository(table), withdrawal_id=seeded["withdrawal"], admin="admin:alice",
                      reason="资料不符",
                      now=NOW, source_ip=None)
    with ThreadPoolExecutor(max_workers=4) as pool:
        results = list(pool.map(lambda _: erase_customer(repo=ErasureRepository(table), user_id=UID, now=NOW),
                                range(4)))
    assert len({r.erased_at for r in results}) == 1
    audit = table.query(partition=("gsi2pk", audit_entity_partition("customer", UID)), index="gsi2").items
    assert len(audit) == 1
    text = json.dumps(everything(table, seeded), ensure_ascii=False, default=str)
    assert [v for v in RAW if v in text] == []
    again = erase_customer(repo=ErasureRepository(table), user_id=UID, now=NOW + timedelta(days=1))
    assert again.already_erased and again.erased_at == results[0].erased_at


def test_a_bank_withdrawal_in_review_refuses_the_erasure_and_nothing_changes(table: Table) -> None:
    seeded = seed(table)
    before = everything(table, seeded)
    with pytest.raises(Conflict) as refused:
        erase_customer(repo=ErasureRepository(table), user_id=UID, now=NOW)
    assert refused.value.code == "withdrawal_in_flight"
    assert refused.value.details["withdrawals"] == [{"withdrawal_id": seeded["withdrawal"], "status": "PENDING_REVIEW"}]
    assert everything(table, seeded) == before


@pytest.mark.parametrize("status", ["PAID", "SHIPPED"])
def test_a_parcel_not_yet_received_refuses_the_erasure_naming_the_order(table: Table, status: str) -> None:
    seeded = seed(table)
    reject_withdrawal(withdrawals=WithdrawalRepository(table), withdrawal_id=seeded["withdrawal"], admin="admin:alice",
                      reason="资料不符",
                      now=NOW, source_ip=None)
    parcel = order_item(buyer_id=UID, with_address=False, status=status, created_at="2026-11-19T08:00:00Z")
    parcel["address"] = sealed_address(parcel["order_id"])
    table.put(parcel)
    seeded["orders"].append(parcel["order_id"])
    before = everything(table, seeded)

    with pytest.raises(Conflict) as refused:
        erase_customer(repo=ErasureRepository(table), user_id=UID, now=NOW)
    assert refused.value.code == "order_awaiting_delivery"
    assert refused.value.details["orders"] == [{"order_id": parcel["order_id"], "status": status}]
    assert everything(table, seeded) == before  # the address the parcel ships to is intact, nothing else moved
    shipped_to = table.get({"pk": f"ORDER#{parcel['order_id']}", "sk": "ORDER"})
    assert shipped_to is not None
    detail_enc = shipped_to["address"]["detail_enc"]
    assert pii_crypto.decrypt(detail_enc, context=address_context(parcel["order_id"])) == STREET

    # Received: the next request erases it like every other order.
    table.update({"pk": f"ORDER#{parcel['order_id']}", "sk": "ORDER"}, "SET #s = :s", names={"#s": "status"},
                 values={":s": "COMPLETED"})
    result = erase_customer(repo=ErasureRepository(table), user_id=UID, now=NOW + timedelta(hours=1))
    assert result.orders_erased == 3
    assert not [v for v in RAW if v in json.dumps(everything(table, seeded), ensure_ascii=False, default=str)]


def test_a_paid_order_with_nothing_to_ship_does_not_hold_the_erasure(table: Table) -> None:
    seeded = seed(table)
    reject_withdrawal(withdrawals=WithdrawalRepository(table), withdrawal_id=seeded["withdrawal"], admin="admin:alice",
                      reason="资料不符",
                      now=NOW, source_ip=None)
    # No physical line: placing it kept no address (a physical line without one has an address item).
    virtual = order_item(buyer_id=UID, with_address=False, status="PAID", created_at="2026-11-19T08:00:00Z",
                         lines=[Line(type="virtual")])
    table.put(virtual)
    assert erase_customer(repo=ErasureRepository(table), user_id=UID, now=NOW).orders_erased == 2
