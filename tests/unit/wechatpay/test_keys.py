"""``local/wechatpay_keys.py``: the shape of a fresh key set and the ``--merge-into`` CLI."""

from __future__ import annotations

import json
import re
from pathlib import Path

from local.wechatpay_keys import KEY_NAMES, generate_local_keys, main
from mall.integrations.wechatpay.crypto import load_private_key, load_public_key

from .helpers import Keys


def test_generated_keys_are_consistent(keys: Keys) -> None:
    raw = keys.raw
    assert set(raw) == set(KEY_NAMES)
    assert json.loads(json.dumps(raw)) == raw
    assert re.fullmatch(r"\d{10}", raw["wechatpay_mchid"])
    assert re.fullmatch(r"[0-9A-F]{40}", raw["wechatpay_merchant_serial"])
    assert re.fullmatch(r"PUB_KEY_ID_0114\d+", raw["wechatpay_public_key_id"])
    assert re.fullmatch(r"[A-Za-z0-9]{32}", raw["wechatpay_apiv3_key"])
    merchant = load_private_key(raw["wechatpay_merchant_private_key"])
    platform = load_private_key(raw["wechatpay_platform_private_key"])
    assert merchant.key_size == platform.key_size == 2048
    merchant_public = load_public_key(raw["wechatpay_merchant_public_key"])
    assert merchant.public_key().public_numbers() == merchant_public.public_numbers()
    assert platform.public_key().public_numbers() == load_public_key(raw["wechatpay_public_key"]).public_numbers()
    assert raw["wechatpay_merchant_private_key"].startswith("-----BEGIN PRIVATE KEY-----")


def test_merge_into_keeps_a_complete_set_and_other_secrets(tmp_path: Path, keys: Keys) -> None:
    target = tmp_path / "secrets.json"
    target.write_text(json.dumps({"jwt_secret": "keep-me", "wechatpay_mchid": "stale"}))
    assert main(["--merge-into", str(target)]) == 0
    first = json.loads(target.read_text())
    assert first["jwt_secret"] == "keep-me" and set(KEY_NAMES) <= set(first)
    assert first["wechatpay_mchid"] != "stale"  # an incomplete set is replaced as a whole
    assert target.stat().st_mode & 0o077 == 0
    assert main(["--merge-into", str(target)]) == 0
    assert json.loads(target.read_text()) == first  # complete: untouched


def test_each_call_gives_fresh_keys() -> None:
    a, b = generate_local_keys(), generate_local_keys()
    assert all(a[name] != b[name] for name in KEY_NAMES)
