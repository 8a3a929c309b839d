"""The promoter-blocked flag's writes (``mall.dal.promoter_wallet``): written only when the blocking
status changes, and folded with the other writes of one wallet in one transaction."""

from __future__ import annotations

import pytest

from mall.dal.keys import wallet_key
from mall.dal.promoter_wallet import blocked_flag, fold_wallet_writes, status_flag_write
from mall.dal.table import Write


def test_only_changes_into_out_of_or_between_blocking_statuses_write_the_flag() -> None:
    assert [blocked_flag(s) for s in (None, "applied", "active", "rejected", "frozen", "disabled")] == \
        [None, None, None, None, "frozen", "disabled"]
    assert status_flag_write("t", "u1", before="applied", after="active") is None
    assert status_flag_write("t", "u1", before="active", after="frozen") is not None
    assert status_flag_write("t", "u1", before="frozen", after="disabled") is not None
    unfreeze = status_flag_write("t", "u1", before="frozen", after="active")
    assert unfreeze is not None and "REMOVE promoter_blocked" in unfreeze.op["Update"]["UpdateExpression"]


def test_writes_of_one_wallet_fold_into_one_update_under_every_condition() -> None:
    freeze = status_flag_write("t", "u1", before="active", after="frozen")
    assert freeze is not None
    other = Write.update("t", {"pk": "X", "sk": "Y"}, "SET a = :a", values={":a": 1})
    check = Write.check("t", wallet_key("u1"), "frozen_fen = :zero", values={":zero": 0})
    hold = Write.update("t", wallet_key("u1"), "SET risk_hold = :on, entity = :entity, promoter_id = :uid",
                        condition="attribute_exists(pk)", values={":on": True, ":entity": "wallet", ":uid": "u1"})
    folded = fold_wallet_writes([other, check, freeze, hold], "u1")
    assert len(folded) == 2 and folded[0] is other
    update = folded[1].op["Update"]
    assert update["UpdateExpression"] == ("SET promoter_blocked = :blocked_status, entity = :entity, "
                                          "promoter_id = :uid, risk_hold = :on")
    assert update["ConditionExpression"] == "((frozen_fen = :zero)) AND (attribute_exists(pk))"
    assert set(update["ExpressionAttributeValues"]) == {":blocked_status", ":entity", ":uid", ":zero", ":on"}
    assert fold_wallet_writes([other, check], "u1") == [other, check]  # a check alone stays a check


def test_two_writes_of_one_wallet_using_a_placeholder_for_different_values_are_refused() -> None:
    one = Write.update("t", wallet_key("u1"), "SET a = :v", values={":v": 1})
    two = Write.update("t", wallet_key("u1"), "SET b = :v", values={":v": 2})
    with pytest.raises(ValueError, match=":v"):
        fold_wallet_writes([one, two], "u1")
