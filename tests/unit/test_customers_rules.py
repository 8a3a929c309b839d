"""The customer search's pure rules: nickname folding, which filter drives a search, matching the
others, lifetime spend and the refund numbers an order can hold."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from mall.domain.customers import (
    CustomerFacts,
    CustomerFilter,
    check_nickname_query,
    check_tag_name,
    fold_nickname,
    lifetime_spend_fen,
    matches,
    order_spend_fen,
    refund_ids_of,
)
from mall.errors import InvalidInput


def test_nicknames_fold_full_width_and_case_alike() -> None:
    assert fold_nickname(" ＴＥＡ茶香 ") == fold_nickname("tea茶香") == "tea茶香"
    with pytest.raises(InvalidInput):
        check_nickname_query("a#b")
    assert check_tag_name(" 高复购 ") == ("高复购", "高复购")
    with pytest.raises(InvalidInput):
        check_tag_name("x" * 21)


def test_the_most_selective_filter_drives_the_search() -> None:
    assert CustomerFilter(user_id="u_1", tag_id="t").driver() == "user"
    assert CustomerFilter(phone_hash="h", tag_id="t").driver() == "phone"
    assert CustomerFilter(tag_id="t", promoter_id="p", nickname_prefix="a").driver() == "tag"
    assert CustomerFilter(promoter_id="p", nickname_prefix="a").driver() == "promoter"
    assert CustomerFilter(nickname_prefix="a").driver() == "nickname"
    assert CustomerFilter(registered_from=datetime(2026, 1, 1, tzinfo=UTC)).driver() == "registered"


def test_every_filter_given_must_hold() -> None:
    facts = CustomerFacts(user_id="u_1", created_at="2026-11-10T00:00:00Z", nickname="Tea茶", phone_hash="h1",
                          tags=frozenset({"t1"}), parent_id="p1")
    assert matches(CustomerFilter(nickname_prefix="tea", tag_id="t1", promoter_id="p1", phone_hash="h1"), facts)
    assert not matches(CustomerFilter(nickname_prefix="tea", tag_id="t2"), facts)
    assert not matches(CustomerFilter(promoter_id="p2"), facts)
    assert matches(CustomerFilter(registered_from=datetime(2026, 11, 10, tzinfo=UTC),
                                  registered_before=datetime(2026, 11, 11, tzinfo=UTC)), facts)
    assert not matches(CustomerFilter(registered_before=datetime(2026, 11, 10, tzinfo=UTC)), facts)


def test_spend_is_paid_less_refunded_and_nothing_for_unpaid_or_paid_after_expiry() -> None:
    paid = {"order_id": "o_1", "status": "COMPLETED", "paid_at": "x", "amount_fen": 10_000,
            "shipping_refunded_fen": 500, "lines": [{"refunded_fen": 2_000}, {"refunded_fen": 0}]}
    assert order_spend_fen(paid) == 7_500
    assert order_spend_fen({**paid, "paid_at": None}) == 0
    assert order_spend_fen({**paid, "status": "PAID_AFTER_EXPIRY"}) == 0
    assert lifetime_spend_fen([paid, {**paid, "order_id": "o_2"}]) == 15_000


def test_refund_numbers_come_from_the_orders_counter() -> None:
    assert refund_ids_of({"order_id": "o_1", "refund_count": 2}) == ["o_1-r2", "o_1-r1"]
    assert refund_ids_of({"order_id": "o_1", "status": "PAID_AFTER_EXPIRY"}) == ["rxo_1"]
