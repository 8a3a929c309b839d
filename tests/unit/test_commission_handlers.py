"""The commission functions through their real handlers against moto (DynamoDB, SQS): the
promoter's list and preview, the admin's list, the SQS worker, the order stream's routing to the
commission queue, and placing an order in self-purchase ``discount`` mode."""

from __future__ import annotations

import json
import logging
from datetime import UTC, datetime, timedelta
from typing import Any

import boto3
import pytest

from mall.clock import iso, utc_now
from mall.dal import queues
from mall.dal.catalog import CategoryRepository, ProductRepository
from mall.dal.commissions import CommissionRepository
from mall.dal.ledger import LedgerRepository
from mall.dal.settings import SettingsRepository
from mall.dal.table import main_table
from mall.domain.catalog import Category, CommissionSetting, Product
from mall.domain.settings import CommissionRates, DistributionSettings, PromoterLevel
from mall.domain.tokens import Role
from mall.services.commissions import CommissionRepositories, SyncResult, sync_order
from mall.workers import EntireBatchFailed
from tests.conftest import ROOT, bearer
from tests.unit.conftest import FakeContext, Invoke, http_event, load_function
from tests.unit.test_orders_handlers import make_mall

PAID = datetime(2026, 11, 1, 8, tzinfo=UTC)


def auth(subject: str, *roles: Role) -> dict[str, str]:
    return bearer(subject, *(roles or (Role.CUSTOMER,)))


ADMIN = (("admin:alice", Role.ADMIN),)


def configure(**commission: Any) -> int:
    repo = SettingsRepository(main_table())
    current = repo.current(consistent=True)
    document = DistributionSettings(
        levels=[PromoterLevel(id="basic", name="普通"),
                PromoterLevel(id="senior", name="高级", l1_points_bp=300, l2_points_bp=100)],
        promoter_review="auto", commission=CommissionRates(**commission))
    return repo.save(document, based_on=current.version, saved_by="admin:test", now=utc_now()).version


def promoter(uid: str, *, level: str = "basic", status: str = "active", nickname: str | None = None) -> None:
    table = main_table()
    table.put({"pk": f"USER#{uid}", "sk": "PROMOTER", "entity": "promoter", "user_id": uid, "code": f"C{uid[-5:]}",
               "status": status, "level_id": level, "version": 1})
    table.put({"pk": f"USER#{uid}", "sk": "PROFILE", "entity": "customer", "user_id": uid, "openid": f"o{uid}",
               "roles": ["customer", "promoter"], "created_at": iso(PAID), "nickname": nickname})


def catalog() -> None:
    CategoryRepository(main_table()).create(Category(category_id="c_tea", name="茶", l1_rate_bp=1200,
                                                     l2_rate_bp=600))
    ProductRepository(main_table()).create(Product(
        product_id="p_tea", name="龙井", type="virtual", category_id="c_tea", price_fen=16_800, stock=100,
        on_shelf=True))
    ProductRepository(main_table()).create(Product(
        product_id="p_cup", name="盖碗", type="virtual", category_id="c_tea", price_fen=6_800, stock=100,
        on_shelf=True, commission=CommissionSetting("fixed", 1_000, 500)))
    ProductRepository(main_table()).create(Product(
        product_id="p_hidden", name="下架", type="virtual", category_id="c_tea", price_fen=6_800, stock=0))


def paid_order(order_id: str, *, buyer: str, l1: str, l2: str | None, version: int, amount: int = 10_000,
               created: datetime = PAID) -> None:
    main_table().put({
        "pk": f"ORDER#{order_id}", "sk": "ORDER", "entity": "order", "order_id": order_id, "buyer_id": buyer,
        "status": "PAID", "amount_fen": amount, "goods_fen": amount, "shipping_fen": 0, "discount_fen": 0,
        "lines": [{"line_id": "1", "product_id": "p_tea", "name": "龙井", "type": "virtual", "category_id": "c_tea",
                   "quantity": 1, "unit_price_fen": amount, "paid_fen": amount,
                   "commission": {"mode": "inherit", "l1": 0, "l2": 0}, "distribution_enabled": True,
                   "refunded_fen": 0}],
        "created_at": iso(created), "expires_at_order": iso(created + timedelta(minutes=30)), "paid_at": iso(created),
        "version": 2, "attribution": {"l1_promoter_id": l1, "l2_promoter_id": l2, "settings_version": version,
                                      "basis": "binding", "self_purchase": False}})


@pytest.fixture
def seeded(moto_table: str) -> int:
    version = configure()
    catalog()
    promoter("u_seller0001", level="senior", nickname="小推")
    promoter("u_parent0001", nickname="大推")
    main_table().put({"pk": "USER#u_buyer000001", "sk": "PROFILE", "entity": "customer", "user_id": "u_buyer000001",
                      "openid": "ob", "roles": ["customer"], "created_at": iso(PAID), "nickname": "张三丰"})
    for n in range(3):
        paid_order(f"o_{n}", buyer="u_buyer000001", l1="u_seller0001", l2="u_parent0001", version=version,
                   amount=10_000 * (n + 1))
        sync_order(CommissionRepositories.on(main_table()), order_id=f"o_{n}", now=PAID + timedelta(minutes=n))
    return version


# ---- the promoter's list ------------------------------------------------------------------------


def test_my_commissions_newest_first_with_rule_and_masked_buyer(seeded: int, invoke: Invoke) -> None:
    status, body, _ = invoke("promoter_commissions", "GET", "/promoter/commissions",
                             headers=auth("u_seller0001", Role.CUSTOMER, Role.PROMOTER))
    assert status == 200, body
    items = body["items"]
    assert [i["order_id"] for i in items] == ["o_2", "o_1", "o_0"] and body["next_cursor"] is None
    first = items[0]
    assert (first["level"], first["amount_fen"], first["current_fen"], first["status"]) == (1, 4_500, 4_500, "FROZEN")
    assert first["buyer"] == "张**丰" and first["buyer_id"] == "u_bu****0001"
    assert "u_buyer000001" not in json.dumps(body)
    assert first["rule"]["source"] == "category" and first["rule"]["ratio_bp"] == 1_500
    assert first["rule"]["level_points_bp"] == 300 and first["rule"]["settings_version"] == seeded
    assert first["explanation"].startswith("L1: 15% of 30000 fen = 4500 fen (category rate")
    assert "beneficiary_id" not in first and "hold" not in first


def test_pagination_status_filter_and_only_my_own(seeded: int, invoke: Invoke) -> None:
    headers = auth("u_seller0001", Role.CUSTOMER, Role.PROMOTER)
    seen: list[str] = []
    cursor = None
    for _ in range(5):
        event = http_event("GET", "/promoter/commissions", headers=headers)
        event["queryStringParameters"] = {"limit": "1", **({"cursor": cursor} if cursor else {})}
        module = load_function("promoter_commissions")
        result = module.handler(event, FakeContext())
        body = json.loads(result["body"])
        seen += [i["order_id"] for i in body["items"]]
        cursor = body["next_cursor"]
        if not cursor:
            break
    assert seen == ["o_2", "o_1", "o_0"]
    # The parent's cursor cannot read the seller's list.
    event = http_event("GET", "/promoter/commissions", headers=auth("u_parent0001", Role.PROMOTER))
    event["queryStringParameters"] = {"limit": "1"}
    parent_page = json.loads(load_function("promoter_commissions").handler(event, FakeContext())["body"])
    assert [i["level"] for i in parent_page["items"]] == [2]
    event = http_event("GET", "/promoter/commissions", headers=headers)
    event["queryStringParameters"] = {"cursor": parent_page["next_cursor"]}
    stolen = load_function("promoter_commissions").handler(event, FakeContext())
    assert stolen["statusCode"] == 422 and "invalid_cursor" in stolen["body"]
    event = http_event("GET", "/promoter/commissions", headers=headers)
    event["queryStringParameters"] = {"status": "SETTLED"}
    assert json.loads(load_function("promoter_commissions").handler(event, FakeContext())["body"])["items"] == []
    # Without the promoter role: 403.
    status, body, _ = invoke("promoter_commissions", "GET", "/promoter/commissions", headers=auth("u_buyer000001"))
    assert status == 403


# ---- preview -----------------------------------------------------------------------------------


def preview(product_id: str, who: str = "u_seller0001") -> tuple[int, dict[str, Any]]:
    event = http_event("GET", "/promoter/commissions/preview", headers=auth(who, Role.CUSTOMER, Role.PROMOTER))
    event["queryStringParameters"] = {"product_id": product_id}
    result = load_function("promoter_commission_preview").handler(event, FakeContext())
    return int(result["statusCode"]), json.loads(result["body"])


def test_preview_shows_both_levels_with_sources_and_the_cap(seeded: int) -> None:
    status, body = preview("p_tea")
    assert status == 200, body
    assert (body["price_fen"], body["level_id"], body["active"]) == (16_800, "senior", True)
    assert body["l1"] == {"amount_fen": 2_520, "source": "category", "mode": "ratio", "ratio_bp": 1_500,
                          "fixed_fen": 0, "level_points_bp": 300, "capped": False, "campaign": None,
                          "campaign_bp": 0, "campaign_fen": 0}
    assert (body["l2"]["amount_fen"], body["l2"]["ratio_bp"]) == (16_800 * 700 // 10_000, 700)
    assert (body["cap_bp"], body["cap_fen"]) == (3_000, 5_040) and "30%" in body["cap_note"]
    assert body["self_purchase"] == {"mode": "rebate", "amount_fen": 2_520}
    status, cup = preview("p_cup", "u_parent0001")
    assert status == 200 and cup["l1"]["mode"] == "fixed" and cup["l1"]["amount_fen"] == 1_000
    assert cup["l1"]["source"] == "product" and cup["l2"]["amount_fen"] == 500
    assert preview("p_nope")[0] == 404 and preview("p_hidden")[0] == 404
    assert preview("p_tea", "u_nobody")[1]["error"]["code"] == "promoter_not_found"


# ---- the admin's list ----------------------------------------------------------------------------


def test_admin_lists_any_promoters_commissions(seeded: int, invoke: Invoke) -> None:
    admin = auth("admin:alice", Role.ADMIN)
    event = http_event("GET", "/admin/promoters/u_parent0001/commissions", headers=admin)
    event["routeKey"] = "GET /admin/promoters/{user_id}/commissions"
    event["pathParameters"] = {"user_id": "u_parent0001"}
    result = load_function("admin_promoter_commissions").handler(event, FakeContext())
    body = json.loads(result["body"])
    assert result["statusCode"] == 200, body
    assert [(i["order_id"], i["level"], i["beneficiary_id"]) for i in body["items"]] == [
        ("o_2", 2, "u_parent0001"), ("o_1", 2, "u_parent0001"), ("o_0", 2, "u_parent0001")]
    assert body["items"][0]["buyer_id"] == "u_bu****0001"
    status, missing, _ = invoke("admin_promoter_commissions", "GET", "/admin/promoters/u_nobody/commissions",
                                headers=admin)
    assert status == 404 and missing["error"]["code"] == "promoter_not_found"
    status, _, _ = invoke("admin_promoter_commissions", "GET", "/admin/promoters/u_parent0001/commissions",
                          headers=auth("u_seller0001", Role.PROMOTER))
    assert status == 403


# ---- the SQS worker and the stream router ------------------------------------------------------


def sqs_event(*bodies: str) -> dict[str, Any]:
    return {"Records": [{"messageId": f"m{i}", "receiptHandle": f"r{i}", "body": body, "attributes": {},
                         "messageAttributes": {}, "md5OfBody": "", "eventSource": "aws:sqs",
                         "eventSourceARN": "arn:aws:sqs:us-east-1:000000000000:CommissionQueue",
                         "awsRegion": "us-east-1"} for i, body in enumerate(bodies)]}


def test_the_worker_syncs_each_message_and_reports_only_failures(seeded: int, monkeypatch: pytest.MonkeyPatch) -> None:
    paid_order("o_new", buyer="u_buyer000001", l1="u_seller0001", l2=None, version=seeded)
    module = load_function("commission_sync")
    event = sqs_event('{"order_id":"o_new"}', "not json", '{"order_id":"o_new"}', '{"order_id":"o_missing"}')
    assert module.handler(event, FakeContext()) == {"batchItemFailures": []}
    assert [r.amount_fen for r in CommissionRepository(main_table()).for_order("o_new")] == [1_500]
    assert LedgerRepository(main_table()).wallet("u_seller0001").balances.frozen == 4_500 + 3_000 + 1_500 + 1_500

    def broken(**_: Any) -> Any:
        raise RuntimeError("boom")

    monkeypatch.setattr(module, "sync_order", broken)
    result = module.handler(sqs_event("{}", '{"order_id":"o_new"}', '{"order_id":"o_0"}'), FakeContext())
    assert result == {"batchItemFailures": [{"itemIdentifier": "m1"}, {"itemIdentifier": "m2"}]}
    with pytest.raises(EntireBatchFailed):  # every message failed: the whole batch is retried
        module.handler(sqs_event('{"order_id":"o_new"}'), FakeContext())


def test_the_order_stream_sends_commission_relevant_changes_to_the_queue(moto_table: str,
                                                                         monkeypatch: pytest.MonkeyPatch) -> None:
    sqs = boto3.client("sqs", region_name="us-east-1")
    url = sqs.create_queue(QueueName="CommissionQueue")["QueueUrl"]
    monkeypatch.setenv("COMMISSION_QUEUE_URL", url)
    queues.sqs_client.cache_clear()
    event = json.loads((ROOT / "events" / "order_status_stream.json").read_text("utf-8"))
    module = load_function("order_status_stream")
    assert module.handler(event, FakeContext()) == {"batchItemFailures": []}
    # A change that cannot change commission (the same image again) sends nothing.
    same = json.loads(json.dumps(event))
    record = same["Records"][0]["dynamodb"]
    record["OldImage"] = record["NewImage"]
    assert module.handler(same, FakeContext()) == {"batchItemFailures": []}
    messages = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10).get("Messages", [])
    # With the order's version after the change: the sync reads the order eventually consistent when
    # the read shows it.
    assert [json.loads(m["Body"]) for m in messages] == [{"order_id": "o_sample0000000000000000", "version": 2}]
    queues.sqs_client.cache_clear()


def test_the_order_stream_names_no_version_when_the_change_did_not_raise_it(
        moto_table: str, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture) -> None:
    """A write that refunds a line (or completes, closes, …) without raising the order's version leaves
    a version an older replica also shows: the message names none, so the sync reads the order
    consistently, and a warning names the order so that the writer is found."""
    sqs = boto3.client("sqs", region_name="us-east-1")
    url = sqs.create_queue(QueueName="CommissionQueue")["QueueUrl"]
    monkeypatch.setenv("COMMISSION_QUEUE_URL", url)
    queues.sqs_client.cache_clear()
    event = json.loads((ROOT / "events" / "order_status_stream.json").read_text("utf-8"))
    record = event["Records"][0]["dynamodb"]
    paid = record["NewImage"]
    refunded = json.loads(json.dumps(paid))
    refunded["lines"]["L"][0]["M"]["refunded_fen"] = {"N": "100"}
    forgetful = {"Records": [{**event["Records"][0], "dynamodb": {**record, "OldImage": paid,
                                                                  "NewImage": refunded}}]}
    raised = json.loads(json.dumps(forgetful))
    raised["Records"][0]["dynamodb"]["NewImage"]["version"] = {"N": "3"}
    module = load_function("order_status_stream")
    caplog.set_level(logging.WARNING)
    assert module.handler(forgetful, FakeContext()) == {"batchItemFailures": []}
    logged = [r for r in caplog.records if "without raising its version" in r.getMessage()]
    caplog.clear()
    assert module.handler(raised, FakeContext()) == {"batchItemFailures": []}
    messages = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10).get("Messages", [])
    order_id = "o_sample0000000000000000"
    assert sorted((json.loads(m["Body"]) for m in messages), key=len) == [
        {"order_id": order_id}, {"order_id": order_id, "version": 3}]
    assert [(r.levelname, r.__dict__["order_id"], r.__dict__["version"]) for r in logged] == [
        ("WARNING", order_id, 2)]
    assert not [r for r in caplog.records if "without raising its version" in r.getMessage()]
    queues.sqs_client.cache_clear()


def test_the_worker_passes_the_message_s_order_version_to_the_sync(seeded: int,
                                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    module = load_function("commission_sync")
    seen: list[tuple[str, int | None]] = []

    def sync(_: Any, *, order_id: str, seen_version: int | None = None, **__: Any) -> Any:
        seen.append((order_id, seen_version))
        return SyncResult(order_id=order_id)

    monkeypatch.setattr(module, "sync_order", sync)
    bodies = ('{"order_id":"o_a","version":3}', '{"order_id":"o_b"}', '{"order_id":"o_c","version":"3"}',
              '{"order_id":"o_d","version":true}', '{"order_id":"o_e","version":0}')
    assert module.handler(sqs_event(*bodies), FakeContext()) == {"batchItemFailures": []}
    # A message from older code (no version), or a version that is not a positive number: read consistently.
    assert seen == [("o_a", 3), ("o_b", None), ("o_c", None), ("o_d", None), ("o_e", None)]


# ---- placing an order in discount mode ---------------------------------------------------------


def test_discount_mode_takes_the_would_be_l1_off_the_price_and_nobody_earns(
        moto_table: str, monkeypatch: pytest.MonkeyPatch) -> None:
    mall = make_mall(monkeypatch)
    configure(self_purchase="discount")
    catalog()
    from tests.unit.test_orders_handlers import customer_token

    buyer, token = customer_token("self-buyer")
    promoter(buyer, level="senior")
    main_table().update({"pk": f"USER#{buyer}", "sk": "PROFILE"}, "SET openid = :o",
                        values={":o": "openid-self-buyer"})
    status, placed = mall.place(token, {"lines": [{"product_id": "p_tea", "quantity": 2},
                                                  {"product_id": "p_cup", "quantity": 1}]})
    assert status == 201, placed
    # p_tea: 15% (category 12% + 3% senior points) of 33,600 = 5,040; p_cup: 1,000 fixed + 3% of 6,800 = 1,204
    assert [line["paid_fen"] for line in placed["lines"]] == [33_600 - 5_040, 6_800 - 1_204]
    assert placed["discount_fen"] == 6_244 and placed["amount_fen"] == 40_400 - 6_244
    order = main_table().get({"pk": f"ORDER#{placed['order_id']}", "sk": "ORDER"})
    assert order is not None
    assert order["attribution"]["basis"] == "self_purchase" and order["attribution"]["l1_promoter_id"] is None
    status, _ = mall.pay(placed["order_id"])
    assert status in {200, 204}
    result = sync_order(CommissionRepositories.on(main_table()), order_id=placed["order_id"], now=utc_now())
    assert result.created == 0 and CommissionRepository(main_table()).for_order(placed["order_id"]) == []
    # In rebate mode the same buyer pays the list price.
    configure(self_purchase="rebate")
    status, full = mall.place(token, {"lines": [{"product_id": "p_tea", "quantity": 1}]})
    assert status == 201 and full["discount_fen"] == 0 and full["amount_fen"] == 16_800
