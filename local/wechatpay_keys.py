"""Fresh WeChat Pay test keys for the local stack (dev only, never deployed).

``generate_local_keys()`` returns JSON-serialisable secrets:

- the merchant's API key pair and serial (the backend signs requests with the private key;
  the sandbox verifies them with the public key),
- a WeChat Pay "platform" key pair in public-key mode: ``wechatpay_public_key_id``
  (``PUB_KEY_ID_0114…``) and ``wechatpay_public_key`` are what the backend is configured with;
  ``wechatpay_platform_private_key`` is the sandbox's own secret, used only to sign as WeChat Pay,
- a random 32-character APIv3 key.

CLI::

    python local/wechatpay_keys.py                      # print a fresh set as JSON
    python local/wechatpay_keys.py --merge-into FILE    # add missing keys to a JSON secrets file
"""

from __future__ import annotations

import argparse
import json
import secrets
import string
import sys
from pathlib import Path

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

__all__ = ["KEY_NAMES", "generate_local_keys"]

KEY_NAMES = (
    "wechatpay_mchid",
    "wechatpay_merchant_serial",
    "wechatpay_merchant_private_key",
    "wechatpay_merchant_public_key",
    "wechatpay_public_key_id",
    "wechatpay_public_key",
    "wechatpay_platform_private_key",
    "wechatpay_apiv3_key",
)


def _key_pair() -> tuple[str, str]:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    private_pem = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    ).decode("ascii")
    public_pem = key.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    ).decode("ascii")
    return private_pem, public_pem


def _digits(n: int) -> str:
    return "".join(secrets.choice(string.digits) for _ in range(n))


def generate_local_keys() -> dict[str, str]:
    """A fresh, self-consistent set of test merchant and WeChat Pay keys (see the module doc)."""
    mchid = "19" + _digits(8)
    merchant_private, merchant_public = _key_pair()
    platform_private, platform_public = _key_pair()
    alphabet = string.ascii_letters + string.digits
    return {
        "wechatpay_mchid": mchid,
        "wechatpay_merchant_serial": secrets.token_hex(20).upper(),
        "wechatpay_merchant_private_key": merchant_private,
        "wechatpay_merchant_public_key": merchant_public,
        "wechatpay_public_key_id": f"PUB_KEY_ID_0114{mchid}{_digits(14)}",
        "wechatpay_public_key": platform_public,
        "wechatpay_platform_private_key": platform_private,
        "wechatpay_apiv3_key": "".join(secrets.choice(alphabet) for _ in range(32)),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--merge-into", type=Path, help="JSON file to add the keys to (existing ones are kept)")
    args = parser.parse_args(argv)
    if args.merge_into is None:
        json.dump(generate_local_keys(), sys.stdout, indent=2)
        sys.stdout.write("\n")
        return 0
    path: Path = args.merge_into
    current: dict[str, object] = json.loads(path.read_text("utf-8")) if path.exists() else {}
    if all(current.get(name) for name in KEY_NAMES):
        return 0  # a complete set is already there: keep it (and the sandbox state signed with it)
    # Never mix a new key with old ones: replace the whole WeChat Pay set together.
    current.update(generate_local_keys())
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(path.suffix + ".tmp")
    tmp.write_text(json.dumps(current, indent=2, ensure_ascii=False) + "\n", "utf-8")
    tmp.chmod(0o600)
    tmp.replace(path)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
