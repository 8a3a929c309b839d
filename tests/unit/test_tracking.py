"""Parcel tracking, pure parts: Kuaidi100's signatures and forms, reading a push, carrier codes, which
trail is newer, the auto-confirm countdown, masking the carriers' texts, and the rule text."""

from __future__ import annotations

import json

import pytest

from local.logistics_sandbox import push_form
from mall.domain import masking
from mall.domain import tracking as rules
from mall.errors import InvalidInput, Unauthenticated
from mall.integrations.tracking import kuaidi100
from tests.unit.test_fulfilment_factory import domain_order

SALT = "salt-123"


def _events(*pairs: tuple[str, str]) -> list[dict[str, str]]:
    return [{"time": t, "ftime": t, "context": c, "status": "在途", "areaName": "浙江,杭州市"} for t, c in pairs]


def test_signatures_are_upper_case_md5_in_kuaidi100s_order() -> None:
    # md5('{"com":"yunda"}KEYCUST') and md5('{}salt-123'), computed apart
    assert kuaidi100.query_sign('{"com":"yunda"}', "KEY", "CUST") == "7B2E3CB5E0BEC7B6C6A99D4952CE4A84"
    assert kuaidi100.push_sign("{}", SALT) == "B6E39AE6FCF71248742414E08C4B905F"


def test_subscription_and_query_forms() -> None:
    parcel = rules.Parcel(0, "SF", "SF1428830471952")
    sub = kuaidi100.subscription_form(parcel, key="KEY", callback_url="https://x/webhooks/tracking?order_id=o_1",
                                      salt=SALT, phone="13800138000")
    assert sub["schema"] == "json"
    param = json.loads(sub["param"])
    assert param == {"company": "shunfeng", "number": "SF1428830471952", "key": "KEY",
                     "parameters": {"callbackurl": "https://x/webhooks/tracking?order_id=o_1", "salt": SALT,
                                    "resultv2": "1", "phone": "13800138000"}}
    query = kuaidi100.query_form(parcel, key="KEY", customer="CUST", phone=None)
    assert json.loads(query["param"]) == {"com": "shunfeng", "num": "SF1428830471952", "resultv2": "1"}
    assert query["customer"] == "CUST" and query["sign"] == kuaidi100.query_sign(query["param"], "KEY", "CUST")


def test_a_signed_push_is_read_newest_first_in_utc() -> None:
    form = push_form(salt=SALT, company="shunfeng", number="SF1", state=3, signed=True,
                     events=_events(("2026-11-04 10:00:00", "发出"), ("2026-11-05 14:12:40", "已签收")))
    trail = kuaidi100.verify_push(form, salt=SALT)
    assert trail.tracking_no == "SF1" and trail.company == "shunfeng" and trail.delivered
    assert [e.at for e in trail.events] == ["2026-11-05T06:12:40Z", "2026-11-04T02:00:00Z"]
    assert trail.signed_at == "2026-11-05T06:12:40Z" and trail.events[0].area == "浙江,杭州市"


def test_a_bad_signature_is_refused_before_the_param_is_read() -> None:
    form = push_form(salt=SALT, company="shunfeng", number="SF1", state=0, signed=False, events=[])
    with pytest.raises(Unauthenticated):
        kuaidi100.verify_push(form, salt="another-salt")
    with pytest.raises(Unauthenticated):  # not JSON, but the signature is what fails first
        kuaidi100.verify_push({"param": "not json", "sign": "00"}, salt=SALT)
    with pytest.raises(InvalidInput) as missing:
        kuaidi100.verify_push({"param": form["param"]}, salt=SALT)
    assert [f.field for f in missing.value.fields] == ["sign"]
    unreadable = {"param": "{}", "sign": kuaidi100.push_sign("{}", SALT)}
    with pytest.raises(InvalidInput) as err:
        kuaidi100.verify_push(unreadable, salt=SALT)
    assert err.value.fields[0].field == "param.lastResult"


def test_events_are_bounded() -> None:
    many = _events(*[(f"2026-11-04 10:{m:02d}:00", f"e{m}") for m in range(59)])
    trail = kuaidi100.verify_push(push_form(salt=SALT, company="yunda", number="Y1", state=0, signed=False,
                                            events=many), salt=SALT)
    assert len(trail.events) == rules.MAX_EVENTS and trail.events[0].context == "e58"


@pytest.mark.parametrize(("wechat", "kd100"), [("SF", "shunfeng"), ("YTO", "yuantong"), ("ZTO", "zhongtong"),
                                               ("YD", "yunda"), ("STO", "shentong"), ("JTSD", "jtexpress"),
                                               ("EMS", "ems"), ("JD", "jd")])
def test_carrier_codes_map_both_ways(wechat: str, kd100: str) -> None:
    assert rules.provider_company(wechat) == kd100 and rules.wechat_carrier(kd100) == wechat


def test_a_carriers_common_name_maps_too() -> None:
    assert rules.provider_company("顺丰速运") == "shunfeng" and rules.provider_company("邮政EMS") == "ems"


def test_an_unknown_carrier_is_passed_lower_cased() -> None:
    assert rules.provider_company("NEWCO") == "newco" and rules.wechat_carrier("newco") is None


def _trail(latest: str, count: int, signed: bool = False) -> rules.Trail:
    events = tuple(rules.TrackEvent(at=latest if i == 0 else "2026-01-01T00:00:00Z", context=str(i))
                   for i in range(count))
    return rules.Trail("yunda", "Y1", 3 if signed else 0, signed, events)


def test_a_newer_trail_wins_and_an_older_or_equal_one_does_not() -> None:
    stored = _trail("2026-11-05T00:00:00Z", 3).rank
    assert rules.is_newer(_trail("2026-11-05T01:00:00Z", 1), stored)
    assert rules.is_newer(_trail("2026-11-05T00:00:00Z", 4), stored)
    assert rules.is_newer(_trail("2026-11-05T00:00:00Z", 3, signed=True), stored)
    assert not rules.is_newer(_trail("2026-11-05T00:00:00Z", 3), stored)  # a repeat
    assert not rules.is_newer(_trail("2026-11-04T00:00:00Z", 9), stored)  # older
    assert rules.is_newer(_trail("2026-11-04T00:00:00Z", 1), None)


def test_parcels_of_an_order_and_what_a_change_subscribes() -> None:
    paid = domain_order(status="PAID")
    shipped = domain_order(status="SHIPPED", carrier="SF", tracking_no="SF1", shipped_at="2026-11-04T00:00:00Z")
    assert rules.parcels_of(paid) == ()
    assert rules.parcels_to_subscribe(paid, shipped) == (rules.Parcel(0, "SF", "SF1"),)
    assert rules.parcels_to_subscribe(shipped, shipped) == ()


def test_the_countdown_runs_from_delivery_when_known_and_set() -> None:
    shipped = domain_order(status="SHIPPED", carrier="SF", tracking_no="SF1", shipped_at="2026-11-04T00:00:00Z")
    delivered = domain_order(status="SHIPPED", carrier="SF", tracking_no="SF1", shipped_at="2026-11-04T00:00:00Z",
                             delivered_at="2026-11-06T08:00:00Z")
    assert rules.countdown_of(shipped, mode="delivery", days=10) == rules.Countdown(
        "shipment", "2026-11-04T00:00:00Z", "2026-11-14T00:00:00Z")
    assert rules.countdown_of(delivered, mode="delivery", days=10) == rules.Countdown(
        "delivery", "2026-11-06T08:00:00Z", "2026-11-16T08:00:00Z")
    assert rules.countdown_of(delivered, mode="shipment", days=7).ends_at == "2026-11-11T00:00:00Z"  # type: ignore[union-attr]
    assert rules.countdown_of(domain_order(status="PAID"), mode="delivery", days=10) is None
    assert rules.moves_countdown(shipped, mode="delivery", delivered_at="2026-11-06T08:00:00Z")
    assert not rules.moves_countdown(shipped, mode="shipment", delivered_at="2026-11-06T08:00:00Z")
    assert not rules.moves_countdown(delivered, mode="delivery", delivered_at="2026-11-07T08:00:00Z")


def test_the_rule_text_follows_the_setting() -> None:
    assert "签收时起算" in rules.countdown_rule("delivery", 10) and "10 天" in rules.countdown_rule("delivery", 10)
    assert "发货时起算" in rules.countdown_rule("shipment", 7)


def test_carrier_texts_are_masked_for_promoters() -> None:
    text = "【上海市】已签收，签收人：张三丰，派件员电话 13900139000"
    assert masking.mask_text(text) == "【上海市】已签收，签收人：张**，派件员电话 139****9000"
    assert masking.mask_user_id("u_xpdiqcabym5dbw2glo3wnz2l") == "u_xp****nz2l"
