"""Promoters, binding, team views, the paid-order stream worker and the downgrade job, through the
real handlers against moto's DynamoDB."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from mall.clock import iso, utc_now
from mall.dal.referral import BindingRepository, PromoterRepository
from mall.dal.settings import SettingsRepository
from mall.dal.table import main_table
from mall.domain.settings import BindingMode, DistributionSettings, LevelUpgrade, PromoterLevel, PromoterThreshold
from mall.domain.tokens import Role
from tests.conftest import bearer
from tests.unit.conftest import FakeContext, Invoke, http_event, load_function

pytestmark = pytest.mark.usefixtures("moto_table")


def auth(subject: str, *roles: Role) -> dict[str, str]:
    return bearer(subject, *(roles or (Role.CUSTOMER,)))


ADMIN = auth("admin:alice", Role.ADMIN)


def customer(uid: str, *, nickname: str | None = None, paid_total_fen: int = 0, paid_orders: int = 0) -> str:
    main_table().put({"pk": f"USER#{uid}", "sk": "PROFILE", "entity": "customer", "user_id": uid, "openid": f"o{uid}",
                      "roles": ["customer"], "created_at": iso(utc_now()), "nickname": nickname,
                      "paid_total_fen": paid_total_fen, "paid_order_count": paid_orders})
    return uid


def configure(**changes: Any) -> int:
    repo = SettingsRepository(main_table())
    current = repo.current(consistent=True)
    document = current.settings.model_copy(update=changes)
    return repo.save(DistributionSettings.model_validate(document.model_dump()), based_on=current.version,
                     saved_by="admin:test", now=utc_now()).version


def apply(invoke: Invoke, uid: str, version: int = 0, key: str | None = None,
          **extra: Any) -> tuple[int, dict[str, Any]]:
    headers = {**auth(uid), "idempotency-key": key or f"apply-{uid}-{version}"}
    status, body, _ = invoke("promoter_apply", "POST", "/promoter/apply",
                             body={"accepted_rules_version": version, **extra}, headers=headers)
    return status, body


def active_promoter(invoke: Invoke, uid: str, *, nickname: str | None = None) -> str:
    """A customer who applied (manual review) and was approved; returns the share code."""
    customer(uid, nickname=nickname)
    status, body = apply(invoke, uid, version=SettingsRepository(main_table()).current().version)
    assert status == 201, body
    if body["status"] == "applied":
        status, body, _ = invoke("admin_promoters", "POST", f"/admin/promoters/{uid}/approve", body={},
                                 headers=ADMIN)
        assert status == 200, body
    return str(body["code"])


# -- applying and reviewing ---------------------------------------------------------------------


def test_apply_manual_review_then_approve_grants_the_role(invoke: Invoke) -> None:
    customer("u_alice")
    status, body = apply(invoke, "u_alice", nickname="小艾")
    assert status == 201, body
    assert body["status"] == "applied" and body["level_id"] == "basic" and body["accepted_rules_version"] == 0
    assert 1 <= len(body["code"]) <= 32 and body["code"].isalnum()
    assert body["share_link"] == f"pages/index/index?scene={body['code']}"
    assert PromoterRepository(main_table()).get_by_code(body["code"]).user_id == "u_alice"  # type: ignore[union-attr]
    status, listed, _ = invoke("admin_promoters", "GET", "/admin/promoters", headers=ADMIN)
    assert status == 200 and [p["user_id"] for p in listed["items"]] == ["u_alice"]
    status, approved, _ = invoke("admin_promoters", "POST", "/admin/promoters/u_alice/approve", body={},
                                 headers=ADMIN)
    assert status == 200 and approved["status"] == "active" and approved["activated_at"]
    profile = main_table().get({"pk": "USER#u_alice", "sk": "PROFILE"})
    assert profile is not None and profile["roles"] == ["customer", "promoter"]
    status, again, _ = invoke("admin_promoters", "POST", "/admin/promoters/u_alice/approve", body={},
                              headers=ADMIN)
    assert status == 409 and again["error"]["details"]["status"] == "active"
    status, detail, _ = invoke("admin_promoters", "GET", "/admin/promoters/u_alice", headers=ADMIN)
    assert [h["action"] for h in detail["history"]] == ["approve", "apply"]


def test_auto_review_activates_at_once(invoke: Invoke) -> None:
    version = configure(promoter_review="auto")
    customer("u_bob")
    status, body = apply(invoke, "u_bob", version=version)
    assert status == 201 and body["status"] == "active"
    assert "promoter" in main_table().get({"pk": "USER#u_bob", "sk": "PROFILE"})["roles"]  # type: ignore[index]


def test_a_first_activation_issues_the_new_promoter_gift_by_approval_or_auto_review(invoke: Invoke) -> None:
    # The gift's coupon modules are imported by the activation that issues it, not at cold start: both the
    # admin's approval and an application activated at once (auto review) still issue it.
    from mall.dal.coupons import CouponRepository
    from mall.schemas.coupons import CouponTemplateIn
    from mall.services import coupons as coupon_service

    coupons = CouponRepository(main_table())
    body = CouponTemplateIn(name="推广员礼", kind="amount", amount_off_fen=500, min_spend_fen=0, valid_days=7,
                            total_quantity=10, per_user_limit=1, auto_issue="becomes_promoter")
    gift = coupon_service.create_template(coupons=coupons, body=body, by="admin:t", source_ip=None,
                                          now=utc_now()).template_id
    customer("u_appl")
    assert apply(invoke, "u_appl")[0] == 201
    assert coupons.coupons_of("u_appl") == []  # waiting for review: no gift yet
    status, approved, _ = invoke("admin_promoters", "POST", "/admin/promoters/u_appl/approve", body={},
                                 headers=ADMIN)
    assert status == 200 and approved["status"] == "active"
    assert [c.template_id for c in coupons.coupons_of("u_appl")] == [gift]
    version = configure(promoter_review="auto")
    customer("u_auto")
    status, applied = apply(invoke, "u_auto", version=version)
    assert status == 201 and applied["status"] == "active"
    assert [c.template_id for c in coupons.coupons_of("u_auto")] == [gift]


def test_the_current_rules_version_must_be_accepted(invoke: Invoke) -> None:
    configure(promoter_title="推客")
    customer("u_c")
    status, body = apply(invoke, "u_c", version=0)
    assert status == 409 and body["error"]["code"] == "rules_changed"
    assert body["error"]["details"]["current_version"] == 1
    assert PromoterRepository(main_table()).get("u_c") is None


def test_threshold_spent_at_least_reads_the_profile(invoke: Invoke) -> None:
    version = configure(promoter_threshold=PromoterThreshold(kind="spent_at_least", spent_at_least_fen=10_000))
    customer("u_poor", paid_total_fen=9_999)
    status, body = apply(invoke, "u_poor", version=version)
    assert status == 403 and body["error"]["code"] == "promoter_threshold_not_met"
    customer("u_rich", paid_total_fen=10_000)
    assert apply(invoke, "u_rich", version=version)[0] == 201


def test_threshold_bought_product_reads_the_purchase_counter(invoke: Invoke) -> None:
    version = configure(promoter_threshold=PromoterThreshold(kind="bought_product", product_ids=["p_gift"]))
    customer("u_x")
    assert apply(invoke, "u_x", version=version)[0] == 403
    main_table().put({"pk": "USER#u_x", "sk": "PURCHASE#p_gift", "paid_quantity": 1, "reserved_quantity": 1})
    assert apply(invoke, "u_x", version=version, key="apply-second-time")[0] == 201


def test_duplicate_application_and_banned_nickname(invoke: Invoke) -> None:
    customer("u_d")
    status, body = apply(invoke, "u_d", nickname="躺赚小王")
    assert status == 422 and body["error"]["fields"][0]["field"] == "nickname"
    assert apply(invoke, "u_d", key="apply-ok-0001")[0] == 201
    status, body = apply(invoke, "u_d", key="apply-again-0001")
    assert status == 409 and body["error"]["code"] == "promoter_exists"


def test_reject_needs_a_reason_and_a_rejected_customer_may_apply_again(invoke: Invoke) -> None:
    customer("u_r")
    first = apply(invoke, "u_r")[1]
    status, body, _ = invoke("admin_promoters", "POST", "/admin/promoters/u_r/reject", body={}, headers=ADMIN)
    assert status == 422 and body["error"]["fields"][0]["field"] == "reason"
    status, body, _ = invoke("admin_promoters", "POST", "/admin/promoters/u_r/reject",
                             body={"reason": "incomplete"}, headers=ADMIN)
    assert status == 200 and body["status"] == "rejected" and body["reason"] == "incomplete"
    status, again = apply(invoke, "u_r", key="apply-after-reject")
    assert status == 201 and again["status"] == "applied" and again["code"] == first["code"]


def test_freeze_unfreeze_disable(invoke: Invoke) -> None:
    active_promoter(invoke, "u_f")
    path = "/admin/promoters/u_f"
    assert invoke("admin_promoters", "POST", f"{path}/freeze", body={"reason": "risk"}, headers=ADMIN)[1][
        "status"] == "frozen"
    assert invoke("admin_promoters", "POST", f"{path}/freeze", body={"reason": "risk"}, headers=ADMIN)[0] == 409
    assert invoke("admin_promoters", "POST", f"{path}/unfreeze", body={}, headers=ADMIN)[1]["status"] == "active"
    assert invoke("admin_promoters", "POST", f"{path}/disable", body={"reason": "fraud"}, headers=ADMIN)[1][
        "status"] == "disabled"
    assert invoke("admin_promoters", "POST", f"{path}/unfreeze", body={}, headers=ADMIN)[0] == 409
    listed = invoke("admin_promoters", "GET", "/admin/promoters", headers=ADMIN)[1]
    assert listed["items"] == []
    assert invoke("admin_promoters", "POST", "/admin/promoters/u_nobody/approve", body={}, headers=ADMIN)[0] == 404


def test_override_is_capped_with_the_level_points_and_can_be_cleared(invoke: Invoke) -> None:
    active_promoter(invoke, "u_o")
    path = "/admin/promoters/u_o/override"
    status, body, _ = invoke("admin_promoters", "PUT", path, body={"l1_override_bp": 2600}, headers=ADMIN)
    assert status == 422 and body["error"]["code"] == "override_exceeds_cap"
    status, body, _ = invoke("admin_promoters", "PUT", path, body={"l1_override_bp": 1500, "reason": "key"},
                             headers=ADMIN)
    assert status == 200 and body["l1_override_bp"] == 1500 and body["l2_override_bp"] is None
    status, body, _ = invoke("admin_promoters", "PUT", path, body={}, headers=ADMIN)
    assert status == 200 and body["l1_override_bp"] is None


def test_level_change_needs_a_known_level_and_a_reason(invoke: Invoke) -> None:
    configure(levels=[PromoterLevel(id="basic", name="普通"), PromoterLevel(id="senior", name="高级")])
    active_promoter(invoke, "u_l")
    path = "/admin/promoters/u_l/level"
    assert invoke("admin_promoters", "PUT", path, body={"level_id": "senior"}, headers=ADMIN)[0] == 422
    status, body, _ = invoke("admin_promoters", "PUT", path, body={"level_id": "gold", "reason": "x"}, headers=ADMIN)
    assert status == 422 and body["error"]["code"] == "unknown_level"
    status, body, _ = invoke("admin_promoters", "PUT", path, body={"level_id": "senior", "reason": "star"},
                             headers=ADMIN)
    assert status == 200 and body["level_id"] == "senior"
    detail = invoke("admin_promoters", "GET", "/admin/promoters/u_l", headers=ADMIN)[1]
    assert detail["history"][0] == {**detail["history"][0], "action": "set_level", "from_level": "basic",
                                    "to_level": "senior", "reason": "star", "by": "admin:alice"}


def test_customers_cannot_use_admin_routes(invoke: Invoke) -> None:
    assert invoke("admin_promoters", "GET", "/admin/promoters", headers=auth("u_x"))[0] == 403


# -- binding -------------------------------------------------------------------------------------


def visit(invoke: Invoke, code: str, who: str | None = None, **extra: Any) -> tuple[int, dict[str, Any]]:
    headers = auth(who) if who else {}
    status, body, _ = invoke("share_visit", "POST", "/share/visits",
                             body={"code": code, "source": "link", **extra}, headers=headers)
    return status, body


def test_a_visit_binds_a_logged_in_customer_in_first_click_mode(invoke: Invoke) -> None:
    code = active_promoter(invoke, "u_p", nickname="推广甲")
    customer("u_v", nickname="微信好友")
    status, anonymous = visit(invoke, code, device_id="dev-1")
    assert status == 201 and anonymous["outcome"] == "not_logged_in"
    status, bound = visit(invoke, code, who="u_v", product_id="p_1")
    assert status == 201 and bound["outcome"] == "bound" and bound["binding"]["parent_id"] == "u_p"
    assert bound["binding"]["source"] == "link" and bound["binding"]["trigger"] == "visit"
    status, again = visit(invoke, code, who="u_v")
    assert again["outcome"] == "unchanged"
    stored = main_table().query(partition=("pk", "PVISITS#u_p"), limit=10).items
    assert len(stored) == 3 and stored[0]["device_id"] == "dev-1" and stored[0]["source_ip"] == "127.0.0.1"
    promoter_headers = auth("u_p", Role.CUSTOMER, Role.PROMOTER)
    status, profile, _ = invoke("promoter_profile", "GET", "/promoter/profile", headers=promoter_headers)
    assert status == 200 and profile["direct_members"] == 1 and profile["code"] == code
    status, team, _ = invoke("promoter_team", "GET", "/promoter/team", headers=promoter_headers)
    assert status == 200 and [m["nickname"] for m in team["items"]] == ["微**友"]
    assert team["items"][0]["depth"] == 1 and "u_v" not in json.dumps(team)


def test_a_visit_to_an_unknown_code_is_404_and_a_refused_bind_is_not_an_error(invoke: Invoke) -> None:
    assert visit(invoke, "NOSUCH")[0] == 404
    code = active_promoter(invoke, "u_self")
    status, body = visit(invoke, code, who="u_self")
    assert status == 201 and body["outcome"] == "not_bound" and body["binding_refused"] == "self_binding"


def test_invite_code_binding_and_its_refusals(invoke: Invoke) -> None:
    code_a = active_promoter(invoke, "u_a")
    code_b = active_promoter(invoke, "u_b")
    customer("u_c")

    def bind(who: str, code: str) -> tuple[int, dict[str, Any]]:
        status, body, _ = invoke("referral_bind", "POST", "/referral/bind", body={"code": code}, headers=auth(who))
        return status, body

    status, body = bind("u_a", code_a)
    assert status == 422 and body["error"]["code"] == "self_binding"
    assert bind("u_c", "NOSUCH1")[0] == 404
    status, body = bind("u_b", code_a)
    assert status == 200 and body["outcome"] == "bound"
    status, body = bind("u_a", code_b)  # a would sit under its own member b
    assert status == 409 and body["error"]["code"] == "binding_cycle"
    assert BindingRepository(main_table()).get("u_a") is None
    status, body = bind("u_c", code_b)
    assert status == 200
    status, body = bind("u_c", code_a)
    assert status == 409 and body["error"]["details"]["binding"]["parent_id"] == "u_b"
    invoke("admin_promoters", "POST", "/admin/promoters/u_a/freeze", body={"reason": "risk"}, headers=ADMIN)
    customer("u_e")
    status, body = bind("u_e", code_a)
    assert status == 409 and body["error"]["code"] == "promoter_not_active"
    a = PromoterRepository(main_table()).get("u_a")
    assert a is not None and (a.direct_members, a.second_level_members) == (1, 1)


def test_admin_changes_and_removes_a_binding_with_a_reason(invoke: Invoke) -> None:
    code_a = active_promoter(invoke, "u_a")
    code_b = active_promoter(invoke, "u_b")
    customer("u_c")
    invoke("referral_bind", "POST", "/referral/bind", body={"code": code_a}, headers=auth("u_c"))
    path = "/admin/customers/u_c/binding"
    assert invoke("admin_bindings", "PUT", path, body={"promoter_code": code_b}, headers=ADMIN)[0] == 422
    status, body, _ = invoke("admin_bindings", "PUT", path, body={"promoter_code": code_b, "reason": "asked"},
                             headers=ADMIN)
    assert status == 200 and body["outcome"] == "rebound" and body["binding"]["parent_id"] == "u_b"
    status, body, _ = invoke("admin_bindings", "POST", f"{path}/remove", body={"reason": "mistake"}, headers=ADMIN)
    assert status == 200 and body["outcome"] == "unbound"
    status, body, _ = invoke("admin_bindings", "GET", path, headers=ADMIN)
    assert body["binding"] is None
    assert [(h["action"], h["to_parent"], h["reason"]) for h in body["history"]] == [
        ("unbind", None, "mistake"), ("rebind", "u_b", "asked"), ("bind", "u_a", None)]
    repo = PromoterRepository(main_table())
    assert repo.get("u_a").direct_members == 0 and repo.get("u_b").direct_members == 0  # type: ignore[union-attr]


def test_level_two_team_is_derived_from_the_current_bindings(invoke: Invoke) -> None:
    code_a = active_promoter(invoke, "u_a", nickname="甲")
    code_b = active_promoter(invoke, "u_b", nickname="乙乙乙")
    for uid in ("u_c1", "u_c2", "u_c3"):
        customer(uid, nickname=f"客户{uid[-1]}号")
        invoke("referral_bind", "POST", "/referral/bind", body={"code": code_b}, headers=auth(uid))
    invoke("referral_bind", "POST", "/referral/bind", body={"code": code_a}, headers=auth("u_b"))
    headers = auth("u_a", Role.CUSTOMER, Role.PROMOTER)
    seen: list[str] = []
    cursor = None
    for _ in range(5):
        status, page, _ = _team(headers, 2, 2, cursor)
        assert status == 200, page
        seen += [m["nickname"] for m in page["items"]]
        assert all(m["depth"] == 2 and m["via"] == "乙**乙" for m in page["items"])
        cursor = page["next_cursor"]
        if not cursor:
            break
    assert sorted(seen) == ["客**号"] * 3
    profile = invoke("promoter_profile", "GET", "/promoter/profile", headers=headers)[1]
    assert (profile["direct_members"], profile["second_level_members"]) == (1, 3)


def _team(headers: dict[str, str], depth: int, limit: int,
          cursor: str | None) -> tuple[int, dict[str, Any], dict[str, str]]:
    function = load_function("promoter_team")
    event = http_event("GET", "/promoter/team", headers=headers)
    params = {"depth": str(depth), "limit": str(limit), **({"cursor": cursor} if cursor else {})}
    event["queryStringParameters"] = params
    event["rawQueryString"] = "&".join(f"{k}={v}" for k, v in params.items())
    result = function.handler(event, FakeContext())
    return result["statusCode"], json.loads(result["body"]), result.get("headers") or {}


def test_promoter_routes_need_the_promoter_role(invoke: Invoke) -> None:
    # The profile takes a customer's token (a promoter made by the merchant reads that their agreement
    # is pending there); a customer who is no promoter finds none.
    status, body, _ = invoke("promoter_profile", "GET", "/promoter/profile", headers=auth("u_x"))
    assert status == 404 and body["error"]["code"] == "promoter_not_found"
    assert invoke("promoter_team", "GET", "/promoter/team", headers=auth("u_x"))[0] == 403


# -- the paid-order stream worker and the downgrade job -----------------------------------------


def stream_event(order: dict[str, Any], seq: str = "1") -> dict[str, Any]:
    from boto3.dynamodb.types import TypeSerializer

    ser = TypeSerializer()
    new = {k: ser.serialize(v) for k, v in order.items()}
    old = {**new, "status": {"S": "CREATED"}}
    return {"Records": [{"eventID": seq, "eventName": "MODIFY", "eventVersion": "1.1", "eventSource": "aws:dynamodb",
                         "awsRegion": "us-east-1",
                         "dynamodb": {"Keys": {"pk": new["pk"], "sk": new["sk"]}, "NewImage": new, "OldImage": old,
                                      "SequenceNumber": seq, "SizeBytes": 100,
                                      "StreamViewType": "NEW_AND_OLD_IMAGES"},
                         "eventSourceARN": "arn:aws:dynamodb:us-east-1:000000000000:table/t/stream/x"}]}


def order(order_id: str, buyer: str, amount: int, l1: str | None, l2: str | None, *,
          share: dict[str, Any] | None = None) -> dict[str, Any]:
    return {"pk": f"ORDER#{order_id}", "sk": "ORDER", "entity": "order", "order_id": order_id, "buyer_id": buyer,
            "status": "PAID", "amount_fen": amount, "share_source": share,
            "lines": [{"line_id": "l1", "product_id": "p_1", "paid_fen": amount, "distribution_enabled": True}],
            "attribution": {"l1_promoter_id": l1, "l2_promoter_id": l2, "settings_version": 0,
                            "basis": "binding", "self_purchase": False}}


def test_paid_orders_count_once_and_upgrade_the_level(invoke: Invoke) -> None:
    configure(levels=[PromoterLevel(id="basic", name="普通"),
                      PromoterLevel(id="senior", name="高级", upgrade=LevelUpgrade(own_sales_at_least_fen=10_000))])
    code_a = active_promoter(invoke, "u_a")
    code_b = active_promoter(invoke, "u_b")
    customer("u_c")
    invoke("referral_bind", "POST", "/referral/bind", body={"code": code_a}, headers=auth("u_b"))
    invoke("referral_bind", "POST", "/referral/bind", body={"code": code_b}, headers=auth("u_c"))
    worker = load_function("referral_order_paid")
    event = stream_event(order("o_1", "u_c", 12_000, "u_b", "u_a"))
    for _ in range(3):  # at-least-once: redelivered
        assert worker.handler(event, FakeContext()) == {"batchItemFailures": []}
    repo = PromoterRepository(main_table())
    b, a = repo.get("u_b"), repo.get("u_a")
    assert b is not None and a is not None
    assert (b.own_sales_fen, b.team_sales_fen, b.level_id) == (12_000, 12_000, "senior")
    assert (a.own_sales_fen, a.team_sales_fen, a.level_id) == (0, 12_000, "basic")
    team = _team(auth("u_b", Role.PROMOTER), 1, 10, None)[1]
    assert team["items"][0]["sales_fen"] == 12_000


def test_first_payment_mode_binds_from_the_first_paid_orders_share_source(invoke: Invoke) -> None:
    code = active_promoter(invoke, "u_s")
    configure(binding_mode=BindingMode.FIRST_PAYMENT)
    customer("u_n")
    main_table().update({"pk": "USER#u_n", "sk": "PROFILE"}, "SET first_paid_order_id = :o", values={":o": "o_9"})
    worker = load_function("referral_order_paid")
    share = {"promoter_code": code, "source": "poster", "product_id": "p_1"}
    worker.handler(stream_event(order("o_8", "u_n", 100, None, None, share=share)), FakeContext())
    assert BindingRepository(main_table()).get("u_n") is None  # not the first paid order
    worker.handler(stream_event(order("o_9", "u_n", 100, "u_s", None, share=share)), FakeContext())
    binding = BindingRepository(main_table()).get("u_n")
    assert binding is not None and (binding.parent_id, binding.source, binding.trigger) == (
        "u_s", "poster", "first_payment")
    worker.handler(stream_event(order("o_9", "u_n", 100, "u_s", None, share=share)), FakeContext())
    s = PromoterRepository(main_table()).get("u_s")
    assert s is not None and s.direct_members == 1 and s.own_sales_fen == 100


def test_a_record_that_fails_is_reported_and_the_others_are_handled(invoke: Invoke) -> None:
    active_promoter(invoke, "u_a")
    worker = load_function("referral_order_paid")
    good = stream_event(order("o_ok", "u_x", 500, "u_a", None), seq="2")["Records"][0]
    bad = stream_event(order("o_bad", "u_x", 500, "u_a", None), seq="3")["Records"][0]
    del bad["dynamodb"]["NewImage"]["order_id"]
    result = worker.handler({"Records": [good, bad]}, FakeContext())
    assert result == {"batchItemFailures": [{"itemIdentifier": "3"}]}
    assert PromoterRepository(main_table()).get("u_a").own_sales_fen == 500  # type: ignore[union-attr]


def test_the_downgrade_job_lowers_idle_promoters_one_level(invoke: Invoke) -> None:
    configure(levels=[PromoterLevel(id="basic", name="普通"), PromoterLevel(id="senior", name="高级")],
              level_downgrade_inactive_days=30)
    active_promoter(invoke, "u_idle")
    active_promoter(invoke, "u_busy")
    invoke("admin_promoters", "PUT", "/admin/promoters/u_idle/level", body={"level_id": "senior", "reason": "x"},
           headers=ADMIN)
    invoke("admin_promoters", "PUT", "/admin/promoters/u_busy/level", body={"level_id": "senior", "reason": "x"},
           headers=ADMIN)
    later = utc_now() + timedelta(days=31)
    repo = PromoterRepository(main_table())
    busy = repo.get("u_busy")
    assert busy is not None
    main_table().transact([repo.activity_write("u_busy", later - timedelta(days=1))])
    job = load_function("level_downgrade")
    result = job.handler({"time": later.astimezone(UTC).isoformat()}, FakeContext())
    assert result == {"downgraded": 1}
    assert repo.get("u_idle").level_id == "basic" and repo.get("u_busy").level_id == "senior"  # type: ignore[union-attr]
    assert job.handler({"time": later.isoformat()}, FakeContext()) == {"downgraded": 0}
    history = repo.history("u_idle", limit=5, start_key=None)[0]
    assert history[0]["action"] == "downgrade" and history[0]["by"] == "system"


def test_scheduled_time_falls_back_to_now() -> None:
    job = load_function("level_downgrade")
    assert job.scheduled_time({"time": "nonsense"}) <= datetime.now(UTC)


def test_a_succeeded_refund_on_the_stream_takes_its_base_off_the_counters(invoke: Invoke) -> None:
    configure(levels=[PromoterLevel(id="basic", name="普通"),
                      PromoterLevel(id="senior", name="高级", upgrade=LevelUpgrade(own_sales_at_least_fen=10_000))])
    code_b = active_promoter(invoke, "u_b")
    customer("u_c")
    invoke("referral_bind", "POST", "/referral/bind", body={"code": code_b}, headers=auth("u_c"))
    worker = load_function("referral_order_paid")
    paid = order("o_1", "u_c", 12_000, "u_b", None)
    main_table().put(paid)
    worker.handler(stream_event(paid), FakeContext())
    refund = {"pk": "ORDER#o_1", "sk": "REFUND#o_1-r1", "entity": "refund", "refund_id": "o_1-r1", "order_id": "o_1",
              "kind": "customer", "status": "SUCCEEDED", "amount_fen": 5_000, "shipping_fen": 0,
              "lines": [{"line_id": "l1", "amount_fen": 5_000}]}
    for _ in range(2):
        assert worker.handler(stream_event(refund, seq="2"), FakeContext()) == {"batchItemFailures": []}
    b = PromoterRepository(main_table()).get("u_b")
    assert b is not None and (b.own_sales_fen, b.level_id) == (7_000, "basic")


@pytest.mark.parametrize("nickname", ["躺\u200b赚小王", "躺賺小王", "無限代", "躺.赚", "\u202e代限无"])
def test_a_banned_nickname_in_any_spelling_is_refused(invoke: Invoke, nickname: str) -> None:
    customer("u_dodge")
    status, body = apply(invoke, "u_dodge", nickname=nickname)
    assert (status, body["error"]["code"]) == (422, "banned_phrase"), body
    assert body["error"]["fields"][0]["field"] == "nickname"


@pytest.mark.parametrize("nickname", ["小\x00王", "小\n王", "小\u202d王", "小\t王"])
def test_a_nickname_is_one_line_of_plain_text(invoke: Invoke, nickname: str) -> None:
    customer("u_line")
    status, body = apply(invoke, "u_line", nickname=nickname)
    assert (status, body["error"]["code"]) == (422, "invalid_text"), body
    assert body["error"]["fields"][0]["field"] == "nickname"


def test_a_flood_from_one_source_gets_429_with_retry_after(invoke: Invoke, monkeypatch: pytest.MonkeyPatch) -> None:
    from mall.config import get_settings

    code = active_promoter(invoke, "u_p", nickname="推广甲")
    monkeypatch.setenv("SHARE_VISIT_RATE_LIMIT", "3")
    monkeypatch.setenv("SHARE_VISIT_RATE_WINDOW_SECONDS", "3600")
    get_settings.cache_clear()
    try:
        answers = [invoke("share_visit", "POST", "/share/visits", headers={"x-device-id": f"dev-{n}"},
                          body={"code": code, "source": "link"}) for n in range(5)]
    finally:
        get_settings.cache_clear()
    assert [status for status, _, _ in answers] == [201, 201, 201, 429, 429]
    _, refused, headers = answers[3]
    assert refused["error"]["code"] == "too_many_visits"
    assert 1 <= int(headers["Retry-After"]) <= 3600
