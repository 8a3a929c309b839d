"""Cryptographic primitives of WeChat Pay API v3, on ``cryptography`` only.

- Signatures: RSA PKCS#1 v1.5 with SHA-256, base64 (``WECHATPAY2-SHA256-RSA2048``).
- Resources in notifications: AES-256-GCM with the 32-byte APIv3 key; the nonce and the
  associated data are the UTF-8 bytes of the JSON strings; ciphertext = base64(ct ‖ 16-byte tag).
- Sensitive fields (e.g. a payee's real name): RSA-OAEP with SHA-1 and MGF1-SHA-1, base64.
"""

from __future__ import annotations

import base64
import binascii
from typing import TYPE_CHECKING

# ``cryptography`` is imported by each function when it first signs, verifies or decrypts, not with this
# module: the WeChat Pay client loads with many functions' cold start and is called on some requests only
# (a refund to send, an expired order to close, a withdrawal to pay out).
if TYPE_CHECKING:
    from cryptography.hazmat.primitives.asymmetric import padding, rsa

__all__ = [
    "AeadError",
    "aes_gcm_decrypt",
    "aes_gcm_encrypt",
    "load_private_key",
    "load_public_key",
    "public_key_from_certificate",
    "rsa_oaep_decrypt",
    "rsa_oaep_encrypt",
    "rsa_sign",
    "rsa_verify",
]

APIV3_KEY_LENGTH = 32
_MIN_RSA_BITS = 2048


class AeadError(ValueError):
    """AES-256-GCM decryption failed: wrong key, nonce, associated data, or tampered ciphertext."""


def _pem_bytes(pem: str | bytes, kind: str) -> bytes:
    """Accept a PEM, or the bare base64 body that WeChat Pay's console sometimes shows."""
    text = pem.decode("ascii") if isinstance(pem, bytes) else pem
    text = text.strip()
    if not text.startswith("-----BEGIN"):
        body = "".join(text.split())
        lines = [body[i:i + 64] for i in range(0, len(body), 64)]
        text = "\n".join([f"-----BEGIN {kind}-----", *lines, f"-----END {kind}-----"])
    return text.encode("ascii")


def load_private_key(pem: str | bytes) -> rsa.RSAPrivateKey:
    """The merchant API private key (``apiclient_key.pem``, PKCS#8 or PKCS#1), RSA ≥ 2048 bits."""
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import rsa

    key = serialization.load_pem_private_key(_pem_bytes(pem, "PRIVATE KEY"), password=None)
    if not isinstance(key, rsa.RSAPrivateKey) or key.key_size < _MIN_RSA_BITS:
        raise ValueError("expected an RSA private key of at least 2048 bits")
    return key


def load_public_key(pem: str | bytes) -> rsa.RSAPublicKey:
    """A WeChat Pay public key (``pub_key.pem``, SubjectPublicKeyInfo), RSA ≥ 2048 bits."""
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import rsa

    key = serialization.load_pem_public_key(_pem_bytes(pem, "PUBLIC KEY"))
    if not isinstance(key, rsa.RSAPublicKey) or key.key_size < _MIN_RSA_BITS:
        raise ValueError("expected an RSA public key of at least 2048 bits")
    return key


def public_key_from_certificate(pem: str | bytes) -> tuple[str, rsa.RSAPublicKey]:
    """A platform certificate (legacy mode) → (upper-case hex serial, its RSA public key).

    The serial is the value WeChat Pay puts in ``Wechatpay-Serial``. Validity dates are not
    checked here: whoever loads the certificate decides when to rotate it.
    """
    from cryptography import x509
    from cryptography.hazmat.primitives.asymmetric import rsa

    cert = x509.load_pem_x509_certificate(pem.encode("ascii") if isinstance(pem, str) else pem)
    key = cert.public_key()
    if not isinstance(key, rsa.RSAPublicKey) or key.key_size < _MIN_RSA_BITS:
        raise ValueError("expected a certificate with an RSA public key of at least 2048 bits")
    return format(cert.serial_number, "X"), key


def rsa_sign(private_key: rsa.RSAPrivateKey, message: bytes) -> str:
    """base64(RSA PKCS#1 v1.5 SHA-256 signature of ``message``)."""
    from cryptography.hazmat.primitives import hashes
    from cryptography.hazmat.primitives.asymmetric import padding

    signature = private_key.sign(message, padding.PKCS1v15(), hashes.SHA256())
    return base64.b64encode(signature).decode("ascii")


def rsa_verify(public_key: rsa.RSAPublicKey, message: bytes, signature_b64: str) -> bool:
    """True when ``signature_b64`` is a valid PKCS#1 v1.5 SHA-256 signature of ``message``."""
    from cryptography.exceptions import InvalidSignature
    from cryptography.hazmat.primitives import hashes
    from cryptography.hazmat.primitives.asymmetric import padding

    try:
        signature = base64.b64decode(signature_b64.encode("ascii"), validate=True)
    except (binascii.Error, UnicodeEncodeError, ValueError):
        return False
    try:
        public_key.verify(signature, message, padding.PKCS1v15(), hashes.SHA256())
    except InvalidSignature:
        return False
    return True


def _check_apiv3_key(apiv3_key: bytes) -> None:
    if len(apiv3_key) != APIV3_KEY_LENGTH:
        raise ValueError("the APIv3 key must be exactly 32 bytes")


def aes_gcm_decrypt(apiv3_key: bytes, nonce: str, associated_data: str, ciphertext_b64: str) -> bytes:
    """Decrypt a notification resource; raises ``AeadError`` on any failure."""
    from cryptography.exceptions import InvalidTag
    from cryptography.hazmat.primitives.ciphers.aead import AESGCM

    _check_apiv3_key(apiv3_key)
    try:
        data = base64.b64decode(ciphertext_b64.encode("ascii"), validate=True)
        return AESGCM(apiv3_key).decrypt(nonce.encode("utf-8"), data, associated_data.encode("utf-8"))
    except (InvalidTag, binascii.Error, UnicodeEncodeError, ValueError) as exc:
        raise AeadError("AES-256-GCM decryption failed") from exc


def aes_gcm_encrypt(apiv3_key: bytes, nonce: str, associated_data: str, plaintext: bytes) -> str:
    """base64(ct ‖ tag): the inverse of ``aes_gcm_decrypt`` (used by tests and the sandbox)."""
    from cryptography.hazmat.primitives.ciphers.aead import AESGCM

    _check_apiv3_key(apiv3_key)
    sealed = AESGCM(apiv3_key).encrypt(nonce.encode("utf-8"), plaintext, associated_data.encode("utf-8"))
    return base64.b64encode(sealed).decode("ascii")


def _oaep() -> padding.OAEP:
    from cryptography.hazmat.primitives import hashes
    from cryptography.hazmat.primitives.asymmetric import padding

    # WeChat Pay specifies RSA/ECB/OAEPWithSHA-1AndMGF1Padding for sensitive fields.
    sha1 = hashes.SHA1()  # noqa: S303 (mandated by the protocol; OAEP-SHA1 is not a signature use)
    return padding.OAEP(mgf=padding.MGF1(algorithm=sha1), algorithm=sha1, label=None)


def rsa_oaep_encrypt(public_key: rsa.RSAPublicKey, plaintext: str) -> str:
    """Encrypt a sensitive request field (e.g. ``user_name`` of a transfer) for WeChat Pay.

    Send the id of ``public_key`` in the ``Wechatpay-Serial`` request header."""
    return base64.b64encode(public_key.encrypt(plaintext.encode("utf-8"), _oaep())).decode("ascii")


def rsa_oaep_decrypt(private_key: rsa.RSAPrivateKey, ciphertext_b64: str) -> str:
    """Decrypt a sensitive response field that WeChat Pay encrypted with the merchant key."""
    return private_key.decrypt(base64.b64decode(ciphertext_b64, validate=True), _oaep()).decode("utf-8")
