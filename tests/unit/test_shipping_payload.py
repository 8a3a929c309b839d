"""The shipping-information upload's body (upload_shipping_info), the parcels of a shipment, and how
WeChat's answers are classified: pure rules, no table."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from local import shipping_sandbox
from mall.domain.shipping import (
    ITEM_DESC_MAX,
    MAX_PARCELS,
    Parcel,
    ParcelRequest,
    UploadFacts,
    UploadOutcome,
    UploadStatus,
    classify_answer,
    correction_revision,
    item_desc,
    masked_contact,
    order_key_for,
    plan_parcels,
    upload_body,
    upload_time,
)
from mall.errors import Conflict, InvalidInput
from tests.unit.test_fulfilment_factory import Line, domain_order

NOW = datetime(2026, 11, 22, 8, 0, 5, 120000, tzinfo=UTC)
CARRIERS = dict(shipping_sandbox.SANDBOX_CARRIERS)


def facts(order_lines: tuple[Line, ...] = (Line(),), parcels: tuple[Parcel, ...] | None = None,
          **order: object) -> UploadFacts:
    found = domain_order(lines=order_lines, **order)
    if parcels is None:
        parcels = (Parcel(found.order_id, 0, "ZTO", "75300000001", tuple(line.line_id for line in found.lines)),)
    return UploadFacts(order=found, parcels=parcels, payer_openid="osbx_buyer", mchid="1900000109",
                       receiver_phone="13812345678", now=NOW)


def test_a_unified_express_upload_has_wechats_fields() -> None:
    body = upload_body(facts())
    assert body["order_key"]["order_number_type"] == 2 and body["order_key"]["transaction_id"].startswith("4200")
    assert (body["logistics_type"], body["delivery_mode"]) == (1, 1)
    assert "is_all_delivered" not in body
    assert body["shipping_list"] == [{"tracking_no": "75300000001", "express_company": "ZTO",
                                      "item_desc": "棉麻衬衫 1*1"}]
    assert body["upload_time"] == "2026-11-22T16:00:05.120+08:00"
    assert body["payer"] == {"openid": "osbx_buyer"}


def test_the_order_key_falls_back_to_mchid_and_out_trade_no() -> None:
    order = domain_order(status="PAID")
    unpaid_key = order_key_for(domain_order(status="CREATED"), mchid="1900000109")
    assert unpaid_key["order_number_type"] == 1 and unpaid_key["mchid"] == "1900000109"
    assert unpaid_key["out_trade_no"].startswith("o_")
    assert order_key_for(order, mchid="1900000109") == {"order_number_type": 2,
                                                         "transaction_id": order.transaction_id}


def test_split_delivery_names_each_parcels_lines_and_says_all_delivered() -> None:
    base = domain_order(lines=(Line(name="茶"), Line(name="杯", quantity=2)))
    parcels = (Parcel(base.order_id, 0, "SF", "SF100001", ("1",)), Parcel(base.order_id, 1, "ZTO", "ZT100002", ("2",)))
    body = upload_body(UploadFacts(order=base, parcels=parcels, payer_openid="o", mchid="1900000109",
                                   receiver_phone="13812345678", now=NOW))
    assert (body["delivery_mode"], body["is_all_delivered"]) == (2, True)
    assert [p["item_desc"] for p in body["shipping_list"]] == ["茶 1*1", "杯 2*2"]
    # SF requires the receiver's contact, masked except the last four digits; the others do not get it
    assert body["shipping_list"][0]["contact"] == {"receiver_contact": "138****5678"}
    assert "contact" not in body["shipping_list"][1]


def test_self_pickup_and_virtual_uploads_carry_no_parcel() -> None:
    service = upload_body(facts(order_lines=(Line(type="service"),), parcels=()))
    virtual = upload_body(facts(order_lines=(Line(type="virtual"),), parcels=()))
    assert (service["logistics_type"], service["shipping_list"]) == (4, [{"item_desc": "棉麻衬衫 1*1"}])
    assert virtual["logistics_type"] == 3 and "tracking_no" not in virtual["shipping_list"][0]


def test_item_desc_is_cut_to_120_characters() -> None:
    long = item_desc([("很长的商品名称" * 20, 1), ("另一件", 3)])
    assert len(long) == ITEM_DESC_MAX and long.endswith("…")
    assert item_desc([("茶", 2)]) == "茶*2"


@pytest.mark.parametrize(("phone", "masked"), [("13812345678", "138****5678"), ("+86 138-1234-5678", "138****5678"),
                                               ("0571-8888", "****8888"), ("12", None), (None, None)])
def test_contact_masking_keeps_only_the_last_four_digits(phone: str | None, masked: str | None) -> None:
    assert masked_contact(phone) == masked


def test_upload_time_is_china_time_rfc3339() -> None:
    assert upload_time(datetime(2026, 1, 1, 23, 59, 59, tzinfo=UTC)) == "2026-01-02T07:59:59.000+08:00"


def test_the_sandbox_accepts_the_bodies_we_build() -> None:
    shipping_sandbox.reset()
    found = facts()
    shipping_sandbox.register_payment({"transaction_id": found.order.transaction_id, "out_trade_no":
                                       found.order.order_id, "mchid": "1900000109", "openid": "osbx_buyer"})
    _, _, reply = shipping_sandbox.upload_shipping_info(upload_body(found))
    assert reply == b'{"errcode": 0, "errmsg": "ok"}'


# ---- parcels --------------------------------------------------------------------------------------

def test_one_parcel_without_lines_carries_every_physical_line() -> None:
    order = domain_order(lines=(Line(), Line(), Line(type="service")))
    (parcel,) = plan_parcels(order, [ParcelRequest("SF", "SF1")], known_carriers=CARRIERS)
    assert parcel.line_ids == ("1", "2") and parcel.index == 0


def test_an_unknown_carrier_is_refused_naming_the_field() -> None:
    order = domain_order(lines=(Line(), Line()))
    with pytest.raises(InvalidInput) as err:
        plan_parcels(order, [ParcelRequest("SF", "SF1", ("1",)), ParcelRequest("NOPE", "X1", ("2",))],
                     known_carriers=CARRIERS)
    assert [f.field for f in err.value.fields] == ["parcels.1.carrier_id"]


def test_more_than_15_parcels_are_refused() -> None:
    order = domain_order(lines=tuple(Line() for _ in range(MAX_PARCELS + 1)))
    requested = [ParcelRequest("ZTO", f"ZT{i:04d}", (str(i + 1),)) for i in range(MAX_PARCELS + 1)]
    with pytest.raises(InvalidInput) as err:
        plan_parcels(order, requested, known_carriers=CARRIERS)
    assert err.value.fields[0].field == "parcels"
    fifteen = domain_order(lines=tuple(Line() for _ in range(MAX_PARCELS)))
    assert len(plan_parcels(fifteen, requested[:MAX_PARCELS], known_carriers=CARRIERS)) == MAX_PARCELS


def test_split_parcels_must_cover_each_line_once() -> None:
    order = domain_order(lines=(Line(), Line()))
    with pytest.raises(InvalidInput) as missing:
        plan_parcels(order, [ParcelRequest("SF", "SF1", ("1",)), ParcelRequest("SF", "SF2", ("1",))],
                     known_carriers=CARRIERS)
    assert [f.field for f in missing.value.fields] == ["parcels.1.line_ids.0"]
    with pytest.raises(InvalidInput) as uncovered:
        plan_parcels(order, [ParcelRequest("SF", "SF1", ("1",)), ParcelRequest("SF", "SF2", ("9",))],
                     known_carriers=CARRIERS)
    assert [f.field for f in uncovered.value.fields] == ["parcels.1.line_ids.0"]


def test_wechats_answers_are_classified() -> None:
    assert classify_answer(0) == UploadOutcome.ACCEPTED
    assert classify_answer(10060002) == UploadOutcome.ACCEPTED  # already shipped on WeChat's side
    assert classify_answer(10060012) == UploadOutcome.RETRY
    assert classify_answer(10060001) == UploadOutcome.RETRY  # unknown right after payment for a while
    assert classify_answer(10060004) == UploadOutcome.FAILED
    assert classify_answer(10060003) == UploadOutcome.FAILED


def test_a_correction_is_the_one_change_wechat_allows() -> None:
    assert correction_revision(None, 1) == 1  # shipped before uploads: the first upload carries it
    assert correction_revision(UploadStatus.FAILED, 1) == 1  # WeChat accepted nothing: nothing spent
    assert correction_revision(UploadStatus.UPLOADED, 1) == 2
    with pytest.raises(Conflict) as used:
        correction_revision(UploadStatus.UPLOADED, 2)
    assert used.value.code == "shipment_change_used"
    with pytest.raises(Conflict) as busy:
        correction_revision(UploadStatus.SENDING, 1)
    assert busy.value.code == "upload_in_progress"
