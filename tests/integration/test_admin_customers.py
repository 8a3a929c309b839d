"""The merchant's customers on DynamoDB Local, through the real handlers: search by phone (keyed hash),
nickname prefix, tag, bound promoter and registration dates; one customer's detail; tags; making a
customer a promoter, whose agreement is pending until they accept it. Each admin route within five
round trips."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from mall.dal.audit import AuditLog
from mall.dal.identity import CustomerRepository, phone_context
from mall.dal.referral import PromoterRepository
from mall.dal.table import Table
from mall.domain.normalise import normalise_phone
from mall.domain.tokens import Role
from mall.integrations import pii_crypto
from tests.conftest import bearer
from tests.integration import test_admin_round_trips as admin_trips
from tests.integration.test_admin_round_trips import ADMIN_ROUND_TRIPS, Call
from tests.integration.test_customer_round_trips import CUSTOMER_ROUTE_TRIPS
from tools.migrations import run
from tools.migrations.customer_directory import MIGRATION as DIRECTORY

pytestmark = pytest.mark.integration

T0 = datetime(2026, 11, 20, 2, 0, tzinfo=UTC)
#: The admin round-trip tests' counting fixture: any function, any caller's headers.
call = admin_trips.call


def customer(table: Table, openid: str, at: datetime) -> str:
    found, _ = CustomerRepository(table).get_or_create(app_id="wx_app", openid=openid, unionid=None, now=at)
    return found.user_id


def bind_phone(table: Table, user_id: str, phone: str) -> None:
    CustomerRepository(table).bind_phone(
        user_id, phone_enc=pii_crypto.encrypt(phone, context=phone_context(user_id)),
        phone_masked="138****" + phone[-4:], phone_fp=pii_crypto.fingerprint(normalise_phone(phone), kind="phone"),
        country_code="86", now=T0)


def old_customer(table: Table, uid: str, *, nickname: str | None, phone: str | None = None,
                 created_at: str = "2026-06-01T00:00:00Z") -> None:
    """A profile stored before the directory existed: no registration entry, no search entry, and
    (the oldest) a sealed phone without its hash."""
    item: dict[str, Any] = {"pk": f"USER#{uid}", "sk": "PROFILE", "entity": "customer", "user_id": uid,
                            "openid": f"o{uid}", "roles": ["customer"], "created_at": created_at}
    if nickname is not None:
        item["nickname"] = nickname
    if phone is not None:
        item |= {"phone_enc": pii_crypto.encrypt(phone, context=phone_context(uid)),
                 "phone_masked": "138****" + phone[-4:]}
    table.put(item)


def bind(table: Table, uid: str, parent: str, at: str = "2026-11-20T03:00:00Z") -> None:
    table.put({"pk": f"USER#{uid}", "sk": "BINDING", "entity": "binding", "user_id": uid, "parent_id": parent,
               "bound_at": at, "source": "link", "trigger": "visit", "promoter_code": "JXZtwULX", "version": 1,
               "gsi1pk": f"TEAM#{parent}", "gsi1sk": f"{at}#{uid}"})
    table.put({"pk": f"USER#{uid}", "sk": f"BINDING_HISTORY#{at}#h1", "action": "bind", "to_parent": parent,
               "source": "link", "trigger": "visit", "promoter_code": "JXZtwULX", "by": uid, "at": at})


def ids(answer: Any) -> list[str]:
    return [item["user_id"] for item in answer.body["items"]]


def test_an_exact_phone_finds_its_customers_through_the_keyed_hash_only(table: Table, call: Call) -> None:
    first = customer(table, "o-first", T0)
    second = customer(table, "o-second", T0 + timedelta(minutes=1))
    customer(table, "o-third", T0 + timedelta(minutes=2))
    bind_phone(table, first, "13812341234")
    bind_phone(table, second, "13999990000")

    answer = call("admin_customers", "GET", "/admin/customers", query={"phone": "+86 138-1234-1234"})

    assert answer.status == 200, answer.body
    assert ids(answer) == [first] and answer.body["items"][0]["phone"] == "138****1234"
    assert answer.trips <= ADMIN_ROUND_TRIPS, answer.sent
    stored = table.get({"pk": f"USER#{first}", "sk": "DIRECTORY"}) or {}
    assert "13812341234" not in str(stored) and stored["phone_fp"] == pii_crypto.fingerprint("13812341234",
                                                                                              kind="phone")
    # A new number replaces the old one in the search too.
    bind_phone(table, first, "13700001111")
    assert ids(call("admin_customers", "GET", "/admin/customers", query={"phone": "13812341234"})) == []
    assert ids(call("admin_customers", "GET", "/admin/customers", query={"phone": "13700001111"})) == [first]
    bad = call("admin_customers", "GET", "/admin/customers", query={"phone": "call-me-maybe"})
    assert bad.status == 422 and bad.body["error"]["fields"][0]["field"] == "query:phone"


def test_the_migration_indexes_old_customers_for_nickname_prefix_and_phone_search(table: Table, call: Call) -> None:
    old_customer(table, "u_tea", nickname="Tea茶香小筑", phone="13812345678")
    old_customer(table, "u_tee", nickname="tEA time")
    old_customer(table, "u_other", nickname="小筑Tea")
    assert ids(call("admin_customers", "GET", "/admin/customers", query={"nickname": "tea"})) == []

    first = run(table, DIRECTORY)
    again = run(table, DIRECTORY, restart=True)

    assert first.changed == 3 and again.changed == 0
    answer = call("admin_customers", "GET", "/admin/customers", query={"nickname": "TEA"})
    assert sorted(ids(answer)) == ["u_tea", "u_tee"] and answer.trips <= ADMIN_ROUND_TRIPS, answer.sent
    assert {i["nickname"] for i in answer.body["items"]} == {"T**筑", "t**e"}
    assert ids(call("admin_customers", "GET", "/admin/customers", query={"nickname": "tea茶"})) == ["u_tea"]
    assert ids(call("admin_customers", "GET", "/admin/customers", query={"phone": "13812345678"})) == ["u_tea"]
    listed = call("admin_customers", "GET", "/admin/customers", query={"from": "2026-06-01", "to": "2026-06-01"})
    assert sorted(ids(listed)) == ["u_other", "u_tea", "u_tee"]


def test_registration_dates_are_china_days_read_from_the_index(table: Table, call: Call) -> None:
    early = customer(table, "o-early", datetime(2026, 11, 1, 16, 30, tzinfo=UTC))  # 2 Nov, 00:30 in China
    middle = customer(table, "o-middle", datetime(2026, 11, 10, 1, 0, tzinfo=UTC))
    late = customer(table, "o-late", datetime(2026, 11, 20, 16, 5, tzinfo=UTC))  # 21 Nov in China

    answer = call("admin_customers", "GET", "/admin/customers", query={"from": "2026-11-02", "to": "2026-11-20"})

    assert ids(answer) == [middle, early] and answer.trips <= ADMIN_ROUND_TRIPS, answer.sent
    assert ids(call("admin_customers", "GET", "/admin/customers", query={"from": "2026-11-21"})) == [late]
    paged = call("admin_customers", "GET", "/admin/customers", query={"limit": "2"})
    assert ids(paged) == [late, middle] and paged.body["next_cursor"]
    rest = call("admin_customers", "GET", "/admin/customers", query={"limit": "2", "cursor": paged.body["next_cursor"]})
    assert ids(rest) == [early]
    crossed = call("admin_customers", "GET", "/admin/customers",
                   query={"nickname": "a", "cursor": paged.body["next_cursor"]})
    assert crossed.status == 422 and crossed.body["error"]["code"] == "invalid_cursor"
    other_range = call("admin_customers", "GET", "/admin/customers",
                       query={"from": "2026-11-21", "cursor": paged.body["next_cursor"]})
    assert other_range.status == 422 and other_range.body["error"]["code"] == "invalid_cursor"


def test_customers_of_a_promoter_and_filters_combined(table: Table, call: Call) -> None:
    a = customer(table, "o-a", T0)
    b = customer(table, "o-b", T0 + timedelta(days=3))
    c = customer(table, "o-c", T0)
    bind(table, a, "u_promoter")
    bind(table, b, "u_promoter", at="2026-11-23T03:00:00Z")
    bind(table, c, "u_someone_else")

    answer = call("admin_customers", "GET", "/admin/customers", query={"promoter_id": "u_promoter"})

    assert ids(answer) == [b, a] and answer.trips <= ADMIN_ROUND_TRIPS, answer.sent
    assert {i["bound_promoter_id"] for i in answer.body["items"]} == {"u_promoter"}
    narrowed = call("admin_customers", "GET", "/admin/customers",
                    query={"promoter_id": "u_promoter", "to": "2026-11-21"})
    assert ids(narrowed) == [a]
    by_id = call("admin_customers", "GET", "/admin/customers", query={"user_id": c, "promoter_id": "u_promoter"})
    assert ids(by_id) == []


def test_tags_are_created_given_filtered_renamed_and_deleted_once_unused_all_audited(table: Table,
                                                                                        call: Call) -> None:
    a = customer(table, "o-a", T0)
    b = customer(table, "o-b", T0 + timedelta(minutes=1))
    customer(table, "o-c", T0 + timedelta(minutes=2))

    created = call("admin_customers", "POST", "/admin/customer-tags", {"name": "高复购"})
    assert created.status == 201 and created.trips <= ADMIN_ROUND_TRIPS, created.sent
    tag = created.body["tag_id"]
    duplicate = call("admin_customers", "POST", "/admin/customer-tags", {"name": " 高复购 "})
    assert duplicate.status == 409 and duplicate.body["error"]["code"] == "tag_name_taken"
    assert call("admin_customers", "POST", "/admin/customer-tags", {"name": ""}).status == 422

    given = call("admin_customers", "POST", f"/admin/customers/{a}/tags", {"tag_id": tag})
    assert given.status == 200 and given.body["changed"] and given.trips <= ADMIN_ROUND_TRIPS, given.sent
    assert call("admin_customers", "POST", f"/admin/customers/{b}/tags", {"tag_id": tag}).body["changed"]
    assert not call("admin_customers", "POST", f"/admin/customers/{a}/tags", {"tag_id": tag}).body["changed"]
    assert call("admin_customers", "POST", f"/admin/customers/{a}/tags", {"tag_id": "tg_nope"}).status == 404

    listed = call("admin_customers", "GET", "/admin/customers", query={"tag_id": tag})
    assert ids(listed) == [b, a] and listed.trips <= ADMIN_ROUND_TRIPS, listed.sent
    assert listed.body["items"][0]["tags"] == [{"tag_id": tag, "name": "高复购"}]
    tags = call("admin_customers", "GET", "/admin/customer-tags")
    assert tags.body["items"][0]["customers"] == 2

    in_use = call("admin_customers", "DELETE", f"/admin/customer-tags/{tag}", query={"version": "1"})
    assert in_use.status == 409 and in_use.body["error"]["details"]["customers"] == 2
    renamed = call("admin_customers", "PUT", f"/admin/customer-tags/{tag}", {"name": "老客", "version": 1})
    assert renamed.status == 200 and renamed.body["version"] == 2
    stale = call("admin_customers", "PUT", f"/admin/customer-tags/{tag}", {"name": "老客户", "version": 1})
    assert stale.status == 409 and stale.body["error"]["code"] == "tag_changed"
    assert call("admin_customers", "POST", "/admin/customer-tags", {"name": "高复购"}).status == 201  # name freed

    for uid in (a, b):
        removed = call("admin_customers", "DELETE", f"/admin/customers/{uid}/tags/{tag}")
        assert removed.status == 200 and removed.body["changed"] and removed.body["tags"] == []
    assert ids(call("admin_customers", "GET", "/admin/customers", query={"tag_id": tag})) == []
    deleted = call("admin_customers", "DELETE", f"/admin/customer-tags/{tag}", query={"version": "2"})
    assert deleted.status == 204, deleted.body
    actions = sorted(e["action"] for e in AuditLog(table).on(T0.replace(year=datetime.now(UTC).year,
                                                                        month=datetime.now(UTC).month,
                                                                        day=datetime.now(UTC).day)))
    assert actions.count("customer_tag.assign") == 2 and actions.count("customer_tag.remove") == 2
    assert {"customer_tag.create", "customer_tag.rename", "customer_tag.delete"} <= set(actions)


def _order(table: Table, buyer: str, order_id: str, created: str, *, amount: int, status: str = "COMPLETED",
           refunded: int = 0, refunds: int = 0, paid: bool = True) -> None:
    table.put({"pk": f"ORDER#{order_id}", "sk": "ORDER", "entity": "order", "order_id": order_id, "buyer_id": buyer,
               "status": status, "amount_fen": amount, "shipping_fen": 0, "created_at": created,
               "paid_at": created if paid else None, "refund_count": refunds, "version": 1,
               "lines": [{"line_id": "l1", "product_id": "p_1", "paid_fen": amount, "refunded_fen": refunded}],
               "gsi1pk": f"BUYER#{buyer}", "gsi1sk": f"{created}#{order_id}"})


def test_a_customers_detail_shows_orders_refunds_binding_and_spend_in_five_round_trips(table: Table,
                                                                                           call: Call) -> None:
    uid = customer(table, "o-buyer", T0)
    bind_phone(table, uid, "13812341234")
    bind(table, uid, "u_promoter")
    _order(table, uid, "o_1", "2026-11-20T03:00:00Z", amount=19_800)
    _order(table, uid, "o_2", "2026-11-21T03:00:00Z", amount=10_000, refunded=3_000, refunds=1)
    _order(table, uid, "o_3", "2026-11-22T03:00:00Z", amount=5_000, status="EXPIRED", paid=False)
    _order(table, uid, "o_4", "2026-11-22T04:00:00Z", amount=7_000, status="PAID_AFTER_EXPIRY")
    table.put({"pk": "ORDER#o_2", "sk": "REFUND#o_2-r1", "entity": "refund", "refund_id": "o_2-r1",
               "order_id": "o_2", "status": "SUCCEEDED", "amount_fen": 3_000, "created_at": "2026-11-21T05:00:00Z"})
    table.put({"pk": "ORDER#o_4", "sk": "REFUND#rxo_4", "entity": "refund", "refund_id": "rxo_4",
               "order_id": "o_4", "status": "PROCESSING", "amount_fen": 7_000, "created_at": "2026-11-22T04:00:00Z"})
    tag = call("admin_customers", "POST", "/admin/customer-tags", {"name": "VIP"}).body["tag_id"]
    call("admin_customers", "POST", f"/admin/customers/{uid}/tags", {"tag_id": tag})

    answer = call("admin_customers", "GET", f"/admin/customers/{uid}")

    assert answer.status == 200, answer.body
    assert answer.trips <= ADMIN_ROUND_TRIPS, answer.sent
    body = answer.body
    assert body["lifetime_spend_fen"] == 19_800 + 7_000 and body["spend_complete"] is True
    assert [o["order_id"] for o in body["orders"]] == ["o_4", "o_3", "o_2", "o_1"]
    assert [r["refund_id"] for r in body["refunds"]] == ["rxo_4", "o_2-r1"]
    assert body["binding"]["parent_id"] == "u_promoter" and body["binding_history"][0]["action"] == "bind"
    assert body["customer"]["phone"] == "138****1234" and "13812341234" not in str(body)
    assert body["customer"]["tags"] == [{"tag_id": tag, "name": "VIP"}] and body["promoter"] is None
    assert call("admin_customers", "GET", "/admin/customers/u_nobody").status == 404


def test_a_customer_made_a_promoter_accepts_the_agreement_before_any_promoter_route(table: Table,
                                                                                      call: Call) -> None:
    uid = customer(table, "o-shopkeeper", T0)
    as_customer = bearer(uid, Role.CUSTOMER)

    made = call("admin_customers", "POST", f"/admin/customers/{uid}/promoter", {"note": "店长"}, "appoint-0001")

    assert made.status == 201, made.body
    assert made.trips <= ADMIN_ROUND_TRIPS, made.sent
    assert made.body["status"] == "active" and made.body["agreement_pending"] is True
    assert made.body["accepted_rules_version"] == 0
    again = call("admin_customers", "POST", f"/admin/customers/{uid}/promoter", {"note": "店长"}, "appoint-0001")
    assert again.status == 201 and again.body == made.body  # the same key: the first answer
    other = call("admin_customers", "POST", f"/admin/customers/{uid}/promoter", {}, "appoint-0002")
    assert other.status == 409 and other.body["error"]["code"] == "promoter_exists"
    assert "promoter" not in CustomerRepository(table).get(uid).roles  # type: ignore[union-attr]
    audit = [e for e in AuditLog(table).on(datetime.now(UTC)) if e["action"] == "promoter.appoint"]
    assert len(audit) == 1 and audit[0]["entity_id"] == uid and audit[0]["details"] == {"note": "店长"}

    pending = call("promoter_profile", "GET", "/promoter/profile", headers=as_customer)
    assert pending.status == 200 and pending.body["agreement_pending"] is True
    assert pending.trips <= CUSTOMER_ROUTE_TRIPS, pending.sent
    assert pending.body["code"] == "" and pending.body["share_link"] == ""  # nothing to share before accepting
    version = pending.body["rules_version_to_accept"]
    assert call("promoter_team", "GET", "/promoter/team", headers=as_customer).status == 403
    stale = call("promoter_profile", "POST", "/promoter/agreement", {"rules_version": version + 1}, headers=as_customer)
    assert stale.status == 409 and stale.body["error"]["code"] == "rules_changed"

    accepted = call("promoter_profile", "POST", "/promoter/agreement", {"rules_version": version}, headers=as_customer)

    assert accepted.status == 200 and accepted.body["agreement_pending"] is False, accepted.body
    assert accepted.trips <= CUSTOMER_ROUTE_TRIPS, accepted.sent
    assert accepted.body["code"] == made.body["code"]
    stored = PromoterRepository(table).get(uid, consistent=True)
    assert stored is not None and stored.accepted_rules_version == version and stored.accepted_rules_at is not None
    assert not stored.agreement_pending
    assert "promoter" in CustomerRepository(table).get(uid).roles  # type: ignore[union-attr]
    as_promoter = bearer(uid, Role.CUSTOMER, Role.PROMOTER)  # the next login's token
    assert call("promoter_team", "GET", "/promoter/team", headers=as_promoter).status == 200
    repeat = call("promoter_profile", "POST", "/promoter/agreement", {"rules_version": version}, headers=as_customer)
    assert repeat.trips <= CUSTOMER_ROUTE_TRIPS and repeat.body == accepted.body
    assert repeat.status == 200 and PromoterRepository(table).get(uid, consistent=True).version == stored.version  # type: ignore[union-attr]
    assert call("admin_customers", "GET", f"/admin/customers/{uid}").body["promoter"]["agreement_pending"] is False


def test_an_erasure_takes_the_customer_out_of_the_phone_and_nickname_search(table: Table, call: Call) -> None:
    from mall.dal.erasure import ErasureRepository
    from mall.services.erasure import erase_customer

    old_customer(table, "u_gone", nickname="茶香小筑", phone="13812345678")
    run(table, DIRECTORY)
    assert ids(call("admin_customers", "GET", "/admin/customers", query={"nickname": "茶香"})) == ["u_gone"]

    erase_customer(repo=ErasureRepository(table), user_id="u_gone", now=T0)

    entry = table.get({"pk": "USER#u_gone", "sk": "DIRECTORY"}) or {}
    assert not {"phone_fp", "nickname", "gsi1pk", "gsi1sk", "gsi2pk", "gsi2sk"} & set(entry), entry
    assert ids(call("admin_customers", "GET", "/admin/customers", query={"nickname": "茶香"})) == []
    assert ids(call("admin_customers", "GET", "/admin/customers", query={"phone": "13812345678"})) == []
    listed = call("admin_customers", "GET", "/admin/customers", query={"user_id": "u_gone"})
    assert listed.body["items"][0]["erased"] is True and listed.body["items"][0]["phone"] is None
