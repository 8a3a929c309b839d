"""Personal data: encryption is bound to its record, masks never reveal the whole value."""

from __future__ import annotations

import pytest
from cryptography.exceptions import InvalidTag

from mall.domain import masking
from mall.integrations import pii_crypto


def test_round_trip_and_context_binding() -> None:
    token = pii_crypto.encrypt("13812341234", context="ORDER#o1")
    assert "1381234" not in token
    assert pii_crypto.decrypt(token, context="ORDER#o1") == "13812341234"
    with pytest.raises(InvalidTag):
        pii_crypto.decrypt(token, context="ORDER#o2")


def test_each_encryption_differs() -> None:
    assert pii_crypto.encrypt("x", context="c") != pii_crypto.encrypt("x", context="c")


@pytest.mark.parametrize(("value", "masked"), [("13812341234", "138****1234"), ("1234", "**34")])
def test_mask_phone(value: str, masked: str) -> None:
    assert masking.mask_phone(value) == masked


def test_mask_name_address_nickname() -> None:
    assert masking.mask_name("张三丰") == "张**"
    assert masking.mask_address("广东省深圳市南山区科技园1号") == "广东省深圳市****"
    assert masking.mask_nickname("微信好友") == "微**友"
    assert masking.mask_nickname(None) == "微信用户"
