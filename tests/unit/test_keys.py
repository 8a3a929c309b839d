"""The single-table keys are built in one package, ``mall.dal.keys``, and are exactly the keys stored.

Every public builder is pinned below to a literal key for fixed arguments: a builder whose output
changes fails here, because a changed key is a change to stored data (and needs a migration)."""

from __future__ import annotations

import ast
import re
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import pytest

from mall.dal import keys
from mall.domain.ledger import Leg, Posting
from mall.domain.reconciliation import Mismatch
from mall.domain.stats import Target
from tests.conftest import ROOT
from tests.unit.test_single_definitions import _only_in

KEYS_PACKAGE = ROOT / "layers" / "shared" / "mall" / "dal" / "keys"
_POSTING = Posting("pst_1", "u_1", "commission_frozen", (Leg("frozen", 100), Leg("merchant:commission", -100)),
                   datetime(2026, 3, 1, 9, 45, 12, tzinfo=UTC))
_BINDING = {"pk": "USER#u_2", "sk": "BINDING", "gsi1pk": "TEAM#u_1", "gsi1sk": "2026-03-01T00:00:00Z#u_2",
            "entity": "binding"}

#: builder name → (arguments, the key stored today).
BUILT: dict[str, tuple[tuple[Any, ...], Any]] = {
    # users
    "user_partition": (("u_1",), "USER#u_1"),
    "customer_profile_key": (("u_1",), {"pk": "USER#u_1", "sk": "PROFILE"}),
    "address_book_key": (("u_1",), {"pk": "USER#u_1", "sk": "ADDRESS_BOOK"}),
    "subscribe_grant_key": (("u_1", "tpl_1"), {"pk": "USER#u_1", "sk": "SUBSCRIBE_GRANT#tpl_1"}),
    "unionid_partition": (("un_1",), "UNIONID#un_1"),
    "admin_key": (("root",), {"pk": "ADMIN#root", "sk": "PROFILE"}),
    "login_throttle_key": (("root", "ALL"), {"pk": "LOGIN#root", "sk": "ALL"}),
    "password_check_key": (("root", "1.2.3.4"), {"pk": "LOGIN#root", "sk": "PASSWORD#1.2.3.4"}),
    "staff_index_key": (("root",), {"gsi1pk": "STAFF", "gsi1sk": "ADMIN#root"}),
    "staff_partition": ((), ("gsi1pk", "STAFF")),
    "login_source_key": (("root", "10.0.0.1"), {"pk": "LOGIN#root", "sk": "IP#10.0.0.1"}),
    "known_login_source_key": (("root", "10.0.0.1"), {"pk": "LOGIN#root", "sk": "KNOWN#10.0.0.1"}),
    "wechat_refresh_key": (("wx_app",), {"pk": "WECHAT#wx_app", "sk": "FORCE_REFRESH"}),
    # coupons
    "coupon_template_key": (("ct_1",), {"pk": "COUPON_TEMPLATES", "sk": "TEMPLATE#ct_1"}),
    "user_coupon_key": (("u_1", "cp_1"), {"pk": "USER#u_1", "sk": "COUPON#cp_1"}),
    "coupon_claims_key": (("u_1", "ct_1"), {"pk": "USER#u_1", "sk": "COUPON_CLAIMS#ct_1"}),
    # customers
    "registration_sort_key": (("2026-03-01T09:45:12Z", "u_1"), "2026-03-01T09:45:12Z#u_1"),
    "directory_key": (("u_1",), {"pk": "USER#u_1", "sk": "DIRECTORY"}),
    "phone_search_partition": (("ab12",), "CUSTOMER_PHONE#ab12"),
    "nickname_search_partition": (("茶",), "CUSTOMER_NICK#茶"),
    "nickname_search_sort_key": (("茶香小筑", "u_1"), "茶香小筑#u_1"),
    "tag_definition_key": (("tg_1",), {"pk": "CUSTOMER_TAGS", "sk": "TAG#tg_1"}),
    "tag_name_key": (("vip",), {"pk": "CUSTOMER_TAGS", "sk": "NAME#vip"}),
    "tag_membership_key": (("u_1", "tg_1"), {"pk": "USER#u_1", "sk": "TAG#tg_1"}),
    "tag_members_partition": (("tg_1",), "TAG_MEMBERS#tg_1"),
    "customer_search_partition": (("nickname", "茶香"), ("gsi2pk", "CUSTOMER_NICK#茶")),
    "tag_member_sort_key": (("2026-03-01T09:45:12Z", "u_1"), "2026-03-01T09:45:12Z#u_1"),
    # referral
    "promoter_key": (("u_1",), {"pk": "USER#u_1", "sk": "PROMOTER"}),
    "binding_key": (("u_1",), {"pk": "USER#u_1", "sk": "BINDING"}),
    "code_key": (("AB12CD",), {"pk": "PCODE#AB12CD", "sk": "PCODE"}),
    "activity_key": (("u_1",), {"pk": "USER#u_1", "sk": "PROMOTER_ACTIVITY"}),
    "activity_partition": (("2026-03-01",), "PROMOTER_ACTIVE_ON#2026-03-01"),
    "promoter_status_partition": (("active",), "PROMOTERS#active"),
    "promoters_partition": (("active",), ("gsi1pk", "PROMOTERS#active")),
    "promoter_history_partition": (("u_1",), ("pk", "USER#u_1")),
    "team_partition": (("u_1",), "TEAM#u_1"),
    "team_index_key": ((_BINDING,), {"pk": "USER#u_2", "sk": "BINDING", "gsi1pk": "TEAM#u_1",
                                     "gsi1sk": "2026-03-01T00:00:00Z#u_2"}),
    "team_bindings_partition": (("u_1",), "TEAM_BINDINGS#u_1"),
    "visit_seen_partition": (("u_1", "2026-03-01"), "VISIT_SEEN#u_1#2026-03-01"),
    "visit_seen_key": (("u_1", "2026-03-01", "fp"), {"pk": "VISIT_SEEN#u_1#2026-03-01", "sk": "fp"}),
    "visitor_partition": (("u_2",), "VISITOR#u_2"),
    "buyer_visit_sort_key": (("2026-03-01T09:45:12Z", "v_1"), "!VISIT#2026-03-01T09:45:12Z#v_1"),
    "buyer_address_sort_key": (("2026-03-01T09:45:12Z", "o_1"), "!ADDRESS#2026-03-01T09:45:12Z#o_1"),
    "share_visit_key": (("u_1", "2026-03-01T09:45:12Z", "v_1"),
                        {"pk": "PVISITS#u_1", "sk": "VISIT#2026-03-01T09:45:12Z#v_1"}),
    "visit_rate_key": (("ip:abc", 1772358300), {"pk": "VISIT_RATE#ip:abc", "sk": "1772358300"}),
    "referral_order_partition": (("o_1",), "REFERRAL_ORDER#o_1"),
    "referral_counted_key": (("o_1",), {"pk": "REFERRAL_ORDER#o_1", "sk": "COUNTED"}),
    "referral_refund_key": (("o_1", "r_1"), {"pk": "REFERRAL_ORDER#o_1", "sk": "REFUND#r_1"}),
    # orders
    "order_pk": (("o_1",), "ORDER#o_1"),
    "order_key": (("o_1",), {"pk": "ORDER#o_1", "sk": "ORDER"}),
    "auto_confirm_key": (("o_1",), {"pk": "ORDER#o_1", "sk": "AUTOCONFIRM"}),
    "order_address_key": (("o_1",), {"pk": "ORDER#o_1", "sk": "ADDRESS"}),
    "trail_key": (("o_1", "SF123"), {"pk": "ORDER#o_1", "sk": "PARCEL#T#SF123"}),
    "order_history_sk": (("2026-03-01T09:45:12Z", "paid"), "HISTORY#2026-03-01T09:45:12Z#paid"),
    "unpaid_marker_key": (("o_1",), {"pk": "UNPAID#o_1", "sk": "UNPAID"}),
    "purchase_key": (("u_1", "p_1"), {"pk": "USER#u_1", "sk": "PURCHASE#p_1"}),
    "sku_purchase_key": (("u_1", "p_1", "k_1"), {"pk": "USER#u_1", "sk": "PURCHASE#p_1#SKU#k_1"}),
    "buyer_partition": (("u_1",), "BUYER#u_1"),
    "order_status_partition": (("paid",), "ORDERS#paid"),
    "order_status_index": (("PAID",), {"gsi3pk": "ORDERS#PAID"}),
    "refund_sk": (("r_1",), "REFUND#r_1"),
    "refund_key": (("o_1", "r_1"), {"pk": "ORDER#o_1", "sk": "REFUND#r_1"}),
    "refunds_partition": (("pending",), "REFUNDS#pending"),
    "plan_key": (("o_1",), {"pk": "ORDER#o_1", "sk": "COMMISSION_PLAN"}),
    "basis_key": (("o_1",), {"pk": "ORDER#o_1", "sk": "COMMISSION_BASIS"}),
    "parcel_key": (("o_1", 3), {"pk": "ORDER#o_1", "sk": "PARCEL#03"}),
    "shipping_upload_key": (("o_1",), {"pk": "ORDER#o_1", "sk": "SHIPPING_UPLOAD"}),
    "shipping_uploads_partition": (("FAILED",), "SHIPUPLOADS#FAILED"),
    "carrier_list_key": (("wx_app",), {"pk": "WECHAT#wx_app", "sk": "DELIVERY_LIST"}),
    # cart
    "cart_key": (("u_1",), {"pk": "USER#u_1", "sk": "CART"}),
    "cart_line_key": (("u_1", "cl_1"), {"pk": "USER#u_1", "sk": "CART_LINE#cl_1"}),
    "cart_partition": (("u_1",), (("pk", "USER#u_1"), ("sk", "CART"))),
    # catalog
    "shelf_partition": ((True,), "SHELF#on"),
    "category_key": (("c_1",), {"pk": "CATEGORY#c_1", "sk": "CATEGORY"}),
    "product_key": (("p_1",), {"pk": "PRODUCT#p_1", "sk": "PRODUCT"}),
    "product_detail_key": (("p_1",), {"pk": "PRODUCT#p_1", "sk": "DETAIL"}),
    "low_stock_key": (("p_1",), {"pk": "PRODUCT#p_1", "sk": "LOWSTOCK"}),
    "stock_adjustment_key": (("p_1", "2026-03-01T09:45:12Z", "adj_1"),
                             {"pk": "PRODUCT#p_1", "sk": "STOCKADJ#2026-03-01T09:45:12Z#adj_1"}),
    "upload_key": (("m_1",), {"pk": "MEDIA_UPLOAD#m_1", "sk": "UPLOAD"}),
    "material_key": (("mat_1",), {"pk": "MATERIAL#mat_1", "sk": "MATERIAL"}),
    "material_scope": ((None,), "G#"),
    "material_sort_key": (("p_1", "text", "mat_1"), "P#p_1#text#mat_1"),
    # money
    "wallet_key": (("u_1",), {"pk": "USER#u_1", "sk": "WALLET"}),
    "posting_sort_key": ((_POSTING,), "LEDGER#2026-03-01T09:45:12Z#pst_1"),
    "posting_sort_bound": (("2026-03-01",), "LEDGER#2026-03-01"),
    "postings_partition": (("u_1",), ("pk", "USER#u_1")),
    "posting_shard": (("pst_1",), 2),
    "settlement_posting_shard": (("pst_4",), 1),
    "posting_partition": (("u_1", 0), "USER#u_1"),
    "posting_partitions": (("u_1",), ["USER#u_1", "USER#u_1#LEDGER#1", "USER#u_1#LEDGER#2"]),
    "posting_key": ((_POSTING,), {"pk": "USER#u_1#LEDGER#2", "sk": "LEDGER#2026-03-01T09:45:12Z#pst_1"}),
    "is_posting_key": (({"pk": "USER#u_1", "sk": "LEDGER#2026-03-01T09:45:12Z#pst_1"},), True),
    "merchant_key": (("platform_revenue", 3), {"pk": "MERCHANT_ACCOUNT#platform_revenue#03", "sk": "BALANCE"}),
    "commission_sk": (("l_1", 2), "COMMISSION#l_1#2"),
    "commission_key": (("o_1", "l_1", 2), {"pk": "ORDER#o_1", "sk": "COMMISSION#l_1#2"}),
    "beneficiary_partition": (("u_1",), "COMMISSIONS#u_1"),
    "beneficiary_shard": (("cm_o_4_l_1_1",), 1),
    "beneficiary_shard_partition": (("u_1", 1), "COMMISSIONS#u_1#1"),
    "beneficiary_partitions": (("u_1",), ["COMMISSIONS#u_1", "COMMISSIONS#u_1#1"]),
    "commission_index_partition": (("u_1", "cm_o_4_l_1_1"), "COMMISSIONS#u_1#1"),
    "due_partition": ((7,), "SETTLE_DUE#07"),
    "withdrawal_pk": (("w_1",), "WITHDRAWAL#w_1"),
    "withdrawal_key": (("w_1",), {"pk": "WITHDRAWAL#w_1", "sk": "WITHDRAWAL"}),
    "adjustment_key": (("adj_1",), {"pk": "ADJUSTMENT#adj_1", "sk": "ADJUSTMENT"}),
    "adjustment_status_partition": (("PENDING",), "ADJUSTMENTS#PENDING"),
    "withdrawal_status_partition": (("pending",), "WITHDRAWALS#pending"),
    "withdrawal_promoter_partition": (("u_1",), "PROMOTER_WITHDRAWALS#u_1"),
    "withdrawal_list_key": (("2026-11-17T06:21:09Z", "w_1"),
                            {"pk": "WITHDRAWAL_LIST", "sk": "2026-11-17T06:21:09Z#w_1"}),
    "promoter_list_partition": (("u_1",), ("gsi2pk", "PROMOTER_WITHDRAWALS#u_1")),
    "daily_counter_key": (("u_1", "2026-03-01"), {"pk": "USER#u_1", "sk": "WITHDRAW_DAY#2026-03-01"}),
    "team_orders_partition": (("2026-03", 5), "TEAM_ORDERS#2026-03#05"),
    "team_order_key": (("u_a", "2026-03", "o_1"), {"pk": "TEAM_ORDERS#2026-03#07", "sk": "USER#u_a#ORDER#o_1"}),
    "bonus_month_partition": (("2026-03",), "BONUSES#2026-03"),
    "bonus_key": (("u_1", "2026-03"), {"pk": "BONUSES#2026-03", "sk": "USER#u_1"}),
    "bonus_promoter_partition": (("u_1",), "PROMOTER_BONUSES#u_1"),
    "prize_month_partition": (("2026-03",), "PRIZES#2026-03"),
    "prize_ranking_key": (("2026-03",), {"pk": "PRIZES#2026-03", "sk": "RANKING"}),
    "prize_key": (("2026-03", 2), {"pk": "PRIZES#2026-03", "sk": "RANK#02"}),
    "held_prize_key": (("2026-03", 2), {"pk": "PRIZES_HELD", "sk": "2026-03#02"}),
    # ops
    "audit_partition": ((datetime(2026, 3, 1, 23, 30, tzinfo=UTC),), "AUDIT#2026-03-01"),
    "actor_partition": (("admin",), "AUDIT_ACTOR#admin"),
    "audit_entity_partition": (("order", "o_1"), "AUDIT_ENTITY#order#o_1"),
    "risk_hold_key": (("u_1",), {"pk": "USER#u_1", "sk": "RISK_HOLD"}),
    "risk_case_key": (("k_1",), {"pk": "RISK_CASE#k_1", "sk": "CASE"}),
    "risk_status_partition": (("open",), "RISK_CASES#open"),
    "promoter_cases_partition": (("u_1",), "PROMOTER_RISK_CASES#u_1"),
    "hit_key": (("self_purchase", "2026-03-01", "u_1"), {"pk": "RISK_HIT#self_purchase#2026-03-01", "sk": "USER#u_1"}),
    "hits_partition": (("2026-03-01",), "RISK_HITS#2026-03-01"),
    "feed_partition": ((datetime(2026, 3, 1, 9, 45, 12, tzinfo=UTC), 2), "RISK_FEED#2026-03-01T09#2"),
    "notification_key": (("n_1",), {"pk": "NOTIFICATION#n_1", "sk": "NOTIFICATION"}),
    "notification_status_partition": (("pending",), "NOTIFICATIONS#pending"),
    "recipient_partition": (("u_1",), "USER_NOTIFICATIONS#u_1"),
    "report_partition": (("2026-03-01",), "RECONCILIATION#2026-03-01"),
    "runs_list_partition": ((), ("gsi1pk", "RECONCILIATIONS")),
    "mismatches_list_partition": (("2026-03-01",), ("pk", "RECONCILIATION#2026-03-01")),
    "run_key": (("2026-03-01",), {"pk": "RECONCILIATION#2026-03-01", "sk": "RUN"}),
    "mismatch_key": (("2026-03-01", Mismatch("wallet", "u_1", "available", 100, 90)),
                     {"pk": "RECONCILIATION#2026-03-01", "sk": "MISMATCH#wallet#u_1#available"}),
    "job_key": (("e_1",), {"pk": "EXPORT#e_1", "sk": "JOB"}),
    "weekly_report_key": (("wr_2026-W48",), {"pk": "OPS_REPORT#wr_2026-W48", "sk": "REPORT"}),
    "key_item_key": (("k_2026",), {"pk": "PII_KEY#k_2026", "sk": "KEY"}),
    "settings_version_sk": ((42,), "V#0000000042"),
    "settings_version_key": ((42,), {"pk": "SETTINGS#distribution", "sk": "V#0000000042"}),
    "idempotency_partition": (("payment_webhook",), "IDEMPOTENCY#payment_webhook"),
    "request_marker_key": (("PlaceOrderFunction", "ab12"),
                           {"pk": "IDEMPOTENCY#PlaceOrderFunction", "sk": "REQUEST#ab12"}),
    # stats
    "applied_key": (("ev_1", 2), {"pk": "STATS_APPLIED#ev_1", "sk": "PART#2"}),
    "applied_group": (("ORDER#o_1",), "ORDER#o_1"),
    "applied_group_key": (("ORDER#o_1",), {"pk": "STATS_APPLIED#ORDER#o_1", "sk": "CHANGES"}),
    "day_key": (("2026-03-01", 3), {"pk": "STATS_DAY#2026-03-01#3", "sk": "STATS"}),
    "month_key": (("2026-03", 3), {"pk": "STATS_MONTH#2026-03#3", "sk": "STATS"}),
    "totals_key": ((3,), {"pk": "STATS_TOTALS#3", "sk": "STATS"}),
    "stats_entity_partition": (("promoter", "DAY", "2026-03-01"), "STATS_PROMOTER_DAY#2026-03-01"),
    "stats_entities_partition": (("DAY", "2026-03-01"), "STATS_ENTITIES_DAY#2026-03"),
    "stats_entity_sort_key": (("buyer", "2026-03-01", "u_1"), "2026-03-01#BUYER#u_1"),
    "stats_entity_kind": (("2026-03#PRODUCT#p_1",), "product"),
    "commission_rate_key": (("PROMOTER", "u_1"), {"pk": "COMMISSION_RATES", "sk": "PROMOTER#u_1"}),
    "team_sales_key": (("2026-03", "u_a"), {"pk": "TEAM_SALES#2026-03#07", "sk": "USER#u_a"}),
    "board_partition": (("sales", "M2026-03"), "BOARD#sales#M2026-03"),
    "board_key": (("sales", "M2026-03", "u_1"), {"pk": "BOARD#sales#M2026-03", "sk": "USER#u_1"}),
    "board_sort_key": ((-25, "u_1"), "0999999999999975#u_1"),
    "board_entry_board": (("sales", "2026-W45", "2026-11-02"), "commission"),
    "sales_board_folded": (("2026-W45", "2026-11-03"), False),
    "buyer_key": (("u_1",), {"pk": "USER#u_1", "sk": "STATS_BUYER"}),
    "distinct_scope": ((Target("team_sales", "2026-03", "u_1"),), "TEAM_ORDER#2026-03#u_1"),
    "distinct_key": ((Target("team_sales", "2026-03", "u_1"), "u_9"),
                     {"pk": "STATS_SEEN#TEAM_ORDER#2026-03#u_1", "sk": "u_9"}),
    "distinct_group": ((Target("team_sales", "2026-03", "u_1"), "o_9"), "ORDER#o_9"),
    "distinct_token": ((Target("team_sales", "2026-03", "u_1"),), "2026-03#u_1"),
    "funnel_partition": (("u_1",), "FUNNEL#u_1"),
    "funnel_key": (("u_1", "2026-03-01", "qr", "p_1"), {"pk": "FUNNEL#u_1", "sk": "2026-03-01#qr#p_1"}),
    "change_shard": (("ev_1",), 6),
    "key_id": (({"pk": "A#1", "sk": "B"},), ("A#1", "B")),
    "wechat_message_key": (("m_1",), {"pk": "WXMSG#m_1", "sk": "MESSAGE"}),
    "wechat_messages_partition": (("2026-03-01",), "WXMSGS#2026-03-01"),
    "receipt_reminder_key": (("o_1",), {"pk": "ORDER#o_1", "sk": "RECEIPT_REMINDER"}),
    "counter_items": ((Target("promoter", "2026-03-01", "u_1"), 2), [
        ({"pk": "STATS_ENTITIES_DAY#2026-03", "sk": "2026-03-01#PROMOTER#u_1"},
         {"entity": "stats_promoter_day", "day": "2026-03-01", "user_id": "u_1"})]),
}

#: constant → the value stored today.
CONSTANTS: dict[str, Any] = {
    "BOARD_SCORE_FIELDS": {("commission", "commission"): ("score_fen", "gsi1pk", "gsi1sk"),
                           ("sales", "sales"): ("score_fen", "gsi1pk", "gsi1sk"),
                           ("commission", "sales"): ("sales_score_fen", "gsi2pk", "gsi2sk")},
    "COUPON_TEMPLATES_PARTITION": "COUPON_TEMPLATES", "USER_COUPON_PREFIX": "COUPON#",
    "CUSTOMERS_PARTITION": "CUSTOMERS", "CUSTOMER_TAGS_PARTITION": "CUSTOMER_TAGS", "DIRECTORY_SK": "DIRECTORY",
    "TAG_DEFINITION_PREFIX": "TAG#", "TAG_MEMBERSHIP_PREFIX": "TAG#",
    "CART_SK": "CART", "CART_LINE_PREFIX": "CART_LINE#",
    "PROFILE_SK": "PROFILE", "STAFF_PARTITION": "STAFF", "ADDRESS_BOOK_SK": "ADDRESS_BOOK",
    "SUBSCRIBE_GRANT_PREFIX": "SUBSCRIBE_GRANT#", "BUYER_ORDERS_FLOOR": "0",
    "BINDING_HISTORY_PREFIX": "BINDING_HISTORY#", "UNPAID_INDEX": "UNPAID_ORDERS",
    "ORDER_SK": "ORDER", "AUTO_CONFIRM_SK": "AUTOCONFIRM", "AUTO_CONFIRM_PARTITION": "AUTOCONFIRM",
    "TRAIL_PREFIX": "PARCEL#T#", "PARCEL_RANGE": ("PARCEL#00", "PARCEL#99"),
    "STATUS_SK": "STATUS", "PLAN_SK": "COMMISSION_PLAN", "BASIS_SK": "COMMISSION_BASIS",
    "PARCEL_PREFIX": "PARCEL#", "SHIPPING_UPLOAD_SK": "SHIPPING_UPLOAD",
    "LEASED_UPLOADS_PARTITION": "SHIPUPLOADS#SENDING",
    "CATEGORIES_PARTITION": "CATEGORIES", "COMMISSION_RATES_PARTITION": "COMMISSION_RATES",
    "COMMISSION_RATES_READY_SK": "READY", "LOW_STOCK_PARTITION": "LOWSTOCK", "LOW_STOCK_LIST": ("gsi1pk", "LOWSTOCK"),
    "SHELF_PLAN_PARTITION": "SHELFPLAN",
    "POSTING_PREFIX": "LEDGER#", "POSTING_SHARDS": 3, "COMMISSION_INDEX_SHARDS": 2, "COMMISSION_PREFIX": "COMMISSION#",
    "HELD_PRIZES_PARTITION": "PRIZES_HELD",
    "RUNS_PARTITION": "RECONCILIATIONS",
    "SETTINGS_PK": "SETTINGS#distribution", "RISK_SCAN_WATERMARK_KEY": {"pk": "RISK_SCAN", "sk": "WATERMARK"},
    "SETTINGS_CURRENT_KEY": {"pk": "SETTINGS#distribution", "sk": "CURRENT"},
    "CAMPAIGNS_KEY": {"pk": "SETTINGS#campaigns", "sk": "CURRENT"},
    "SETTINGS_HISTORY_PARTITION": ("pk", "SETTINGS#distribution"),
    "STATS_SK": "STATS", "DAY_SHARDS": 8, "FOLD_SHARD": 0, "SCORE_OFFSET": 10**15, "SCORE_DIGITS": 16,
    "WITHDRAWAL_LIST_PARTITION": "WITHDRAWAL_LIST", "RECEIPT_REMINDER_SK": "RECEIPT_REMINDER",
    "MATERIALS_PARTITION": "MATERIALS", "GENERAL_SCOPE": "G#",
}


def _exported() -> dict[str, Any]:
    return {name: getattr(keys, name) for name in keys.__all__}


def test_every_public_builder_and_constant_is_pinned() -> None:
    exported = _exported()
    builders = {name for name, value in exported.items() if callable(value)}
    assert builders == set(BUILT), "pin every builder of mall.dal.keys in BUILT (and only those)"
    assert set(exported) - builders == set(CONSTANTS)


@pytest.mark.parametrize("name", sorted(BUILT))
def test_each_builder_returns_the_stored_key(name: str) -> None:
    args, expected = BUILT[name]
    builder: Callable[..., Any] = getattr(keys, name)
    assert builder(*args) == expected


def test_each_constant_is_the_stored_value() -> None:
    assert {name: getattr(keys, name) for name in CONSTANTS} == CONSTANTS


def test_the_package_re_exports_each_submodule_name_once() -> None:
    defined: list[str] = []
    for module in sorted(KEYS_PACKAGE.glob("*.py")):
        if module.name != "__init__.py":
            tree = ast.parse(module.read_text(encoding="utf-8"))
            defined += [node.name for node in tree.body if isinstance(node, ast.FunctionDef)
                        and not node.name.startswith("_")]
            defined += [target.id for node in tree.body if isinstance(node, (ast.Assign, ast.AnnAssign))
                        for target in (node.targets if isinstance(node, ast.Assign) else [node.target])
                        if isinstance(target, ast.Name) and not target.id.startswith("_")]
    assert sorted(defined) == sorted(keys.__all__)


def test_the_customer_profile_key_is_the_stored_one() -> None:
    assert keys.customer_profile_key("u_abc123") == {"pk": "USER#u_abc123", "sk": "PROFILE"}
    assert keys.user_partition("u_abc123") == "USER#u_abc123" and keys.PROFILE_SK == "PROFILE"


def test_the_customer_profile_key_is_built_only_there() -> None:
    assert _only_in(r"USER#.*\"PROFILE\"|def (_customer_key|profile_key)\b", "layers/shared/mall/dal/keys/") == []


# ---- nothing outside mall.dal.keys builds a single-table key ---------------------------------------

_SOURCES = sorted([*(ROOT / "layers" / "shared" / "mall").rglob("*.py"), *(ROOT / "functions").glob("*/app.py")])
_OUTSIDE = [path for path in _SOURCES if KEYS_PACKAGE not in path.parents]
#: An f-string opening with a key prefix (``f"ORDER#{...}"``): a stored key built by hand.
_RAW_KEY = re.compile(r"""\bf(["'])[A-Z][A-Z0-9_]*#""")
_KEY_NAME = re.compile(r"_(key|pk|partition)$")


def _returns_a_key(function: ast.FunctionDef) -> bool:
    """Whether a function returns a stored key: annotated ``Key``, or returning a ``{"pk": ...}``
    mapping, a ``PREFIX#...`` string or an index partition ``("gsi1pk", ...)``."""
    if function.returns is not None and ast.unparse(function.returns) == "Key":
        return True
    for node in ast.walk(function):
        if isinstance(node, ast.Return) and node.value is not None:
            value = node.value
            if isinstance(value, ast.Dict) and any(isinstance(k, ast.Constant) and k.value in ("pk", "sk")
                                                   for k in value.keys):
                return True
            if isinstance(value, ast.Tuple) and value.elts and isinstance(value.elts[0], ast.Constant) \
                    and value.elts[0].value in ("pk", "gsi1pk", "gsi2pk"):
                return True
            if isinstance(value, ast.JoinedStr) and value.values and isinstance(value.values[0], ast.Constant) \
                    and re.match(r"[A-Z][A-Z0-9_]*#", str(value.values[0].value)):
                return True
    return False


def test_no_module_outside_the_keys_package_defines_a_key_builder() -> None:
    found = []
    for path in _OUTSIDE:
        for node in ast.parse(path.read_text(encoding="utf-8")).body:
            if isinstance(node, ast.FunctionDef) and _KEY_NAME.search(node.name) and _returns_a_key(node):
                found.append(f"{path.relative_to(ROOT)}:{node.lineno} {node.name}")
    assert found == []


def test_no_module_outside_the_keys_package_builds_a_raw_key() -> None:
    found = [f"{path.relative_to(ROOT)}:{number}" for path in _OUTSIDE
             for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1) if _RAW_KEY.search(line)]
    assert found == []


def test_the_checks_see_a_builder_and_a_raw_key() -> None:
    sample = ast.parse('def order_key(order_id: str) -> dict[str, str]:\n    return {"pk": f"ORDER#{order_id}"}\n')
    function = sample.body[0]
    assert isinstance(function, ast.FunctionDef) and _returns_a_key(function)
    partition = ast.parse('def team_partition(uid: str) -> tuple[str, str]:\n    return "gsi1pk", uid\n').body[0]
    assert isinstance(partition, ast.FunctionDef) and _returns_a_key(partition)
    assert _RAW_KEY.search('x = {"pk": f"ORDER#{order_id}"}') and not _RAW_KEY.search('names[f"#f{i}"] = name')
