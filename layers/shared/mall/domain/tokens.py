"""Access tokens: compact HS256 JWTs signed with the token signing key.

Short-lived and self-contained, so every function can check the caller without a
database read. Roles in a token are a snapshot; routes that depend on a status that
can change (a frozen promoter) re-check it in the domain. An admin token also carries its
account's session version (``ver``): disabling the account or changing its password bumps the
version, and admin routes refuse a token whose version is not the account's (mall.api.auth).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import re
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum

from mall.errors import Unauthenticated

_HEADER = {"alg": "HS256", "typ": "JWT"}
ISSUER = "mall"
#: Three base64url segments, ASCII only and of sane length: anything else is refused before it
#: reaches the ASCII encoding or the signature comparison (either would raise on other text).
_TOKEN_SHAPE = re.compile(r"[A-Za-z0-9_-]{1,2048}\.[A-Za-z0-9_-]{1,2048}\.[A-Za-z0-9_-]{1,128}")


class Role(StrEnum):
    """Roles a caller can hold. 用户 / 推广员, and the merchant's staff roles (员工角色): 店主 owner,
    财务 finance, 运营 operations, 客服 support, 审计 auditor (what each may do: ``mall.domain.staff``).

    ``ADMIN`` is the single role of before staff roles. No token is issued with it any more, and a
    token that still carries it (issued before the deploy, valid until it expires) is read as
    ``OWNER`` (``verify_token``): the ``admin_owner_roles`` migration makes every account of that
    time an owner, and any later change to the account's roles ends the token (session version)."""

    CUSTOMER = "customer"
    PROMOTER = "promoter"
    ADMIN = "admin"
    OWNER = "owner"
    FINANCE = "finance"
    OPERATIONS = "operations"
    SUPPORT = "support"
    AUDITOR = "auditor"


#: The merchant's staff roles: a token holding any of them is an admin's.
STAFF_ROLES = frozenset({Role.OWNER, Role.FINANCE, Role.OPERATIONS, Role.SUPPORT, Role.AUDITOR})


def read_legacy_roles(roles: frozenset[Role]) -> frozenset[Role]:
    """A token of before staff roles says ``admin``: it is its account's owner (see ``Role``)."""
    if Role.ADMIN not in roles:
        return roles
    return (roles - {Role.ADMIN}) | {Role.OWNER}


@dataclass(frozen=True)
class Principal:
    """Who is calling: the subject id and the roles the token grants."""

    subject: str
    roles: frozenset[Role]
    expires_at: int
    session_version: int = 0

    @property
    def is_admin(self) -> bool:
        return bool(self.roles & STAFF_ROLES)


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def _sign(signing_input: bytes, key: bytes) -> str:
    return _b64(hmac.new(key, signing_input, hashlib.sha256).digest())


def issue_token(subject: str, roles: frozenset[Role], *, key: bytes, now: datetime, ttl_seconds: int,
                session_version: int = 0) -> str:
    issued = int(now.timestamp())
    claims: dict[str, object] = {"iss": ISSUER, "sub": subject, "roles": sorted(r.value for r in roles),
                                 "iat": issued, "exp": issued + ttl_seconds}
    if session_version:
        claims["ver"] = session_version
    head = _b64(json.dumps(_HEADER, separators=(",", ":")).encode())
    body = _b64(json.dumps(claims, separators=(",", ":")).encode())
    signing_input = f"{head}.{body}".encode("ascii")
    return f"{head}.{body}.{_sign(signing_input, key)}"


def verify_token(token: str, *, key: bytes, now: datetime) -> Principal:
    """Check signature, algorithm, issuer and expiry; raise ``Unauthenticated`` otherwise."""
    if not _TOKEN_SHAPE.fullmatch(token):
        raise Unauthenticated("malformed access token", code="invalid_token")
    head_b64, body_b64, signature = token.split(".")
    expected = _sign(f"{head_b64}.{body_b64}".encode("ascii"), key)
    if not hmac.compare_digest(expected, signature):
        raise Unauthenticated("access token signature is invalid", code="invalid_token")
    try:
        header = json.loads(_unb64(head_b64))
        claims = json.loads(_unb64(body_b64))
        roles = read_legacy_roles(frozenset(Role(r) for r in claims["roles"]))
        subject = str(claims["sub"])
        expires_at = int(claims["exp"])
        session_version = int(claims.get("ver", 0))
        issuer = claims.get("iss")
    except (ValueError, KeyError, TypeError, AttributeError) as exc:
        raise Unauthenticated("malformed access token", code="invalid_token") from exc
    if header != _HEADER or issuer != ISSUER:
        raise Unauthenticated("access token was not issued by this service", code="invalid_token")
    if int(now.timestamp()) >= expires_at:
        raise Unauthenticated("access token has expired; log in again", code="token_expired")
    return Principal(subject=subject, roles=roles, expires_at=expires_at, session_version=session_version)
