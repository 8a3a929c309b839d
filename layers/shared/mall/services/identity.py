"""Use cases of identity: customer login, admin login (audited), the caller's profile."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any, Protocol

from aws_lambda_powertools import Logger

from mall.clock import iso
from mall.dal import first_use
from mall.dal.audit import AuditEntry, AuditLog
from mall.dal.identity import AdminRepository, CustomerRepository, LoginThrottle, phone_context
from mall.domain import identity, masking
from mall.domain.identity import AdminAccount
from mall.domain.normalise import normalise_phone
from mall.domain.passwords import dummy_hash, verify_password
from mall.domain.staff import sorted_roles
from mall.domain.tokens import Principal, issue_token
from mall.errors import DomainError, NotFound
from mall.integrations import pii_crypto
from mall.integrations.wechat import PhoneNumber, WeChatClient
from mall.schemas.identity import CustomerLoginResponse, MeResponse, PhoneView, TokenResponse

if TYPE_CHECKING:
    from mall.dal.coupons import CouponRepository
    from mall.dal.table import Table

logger = Logger(child=True)


@dataclass(frozen=True)
class LogInCustomer:
    """A mini-program login: the ``wx.login`` code of the app ``app_id``, and the device and source IP
    of the request (stored on the profile for the fraud scan, never logged)."""

    js_code: str
    app_id: str
    device_id: str | None = None
    source_ip: str | None = None


@dataclass(frozen=True)
class LoginRepositories:
    """What a customer's login reads and writes: the customers, and the coupons for the 新人礼 of a
    customer it creates."""

    customers: CustomerRepository
    coupons_of: Callable[[], CouponRepository]

    @classmethod
    def on(cls, table: Table) -> LoginRepositories:
        # The coupons' repository, with the coupon rules, is built by the first login that creates a
        # customer: a returning customer's login (most logins) never needs it.
        return cls(customers=CustomerRepository(table), coupons_of=first_use.coupons(table))


@dataclass(frozen=True)
class SessionTokens:
    """How a login's token is made: the signing key (a secret, read per login) and its lifetime."""

    signing_key: bytes
    ttl_seconds: int


def login_customer(*, command: LogInCustomer, wechat: WeChatClient, customers: CustomerRepository,
                   tokens: SessionTokens, now: datetime, coupons_of: Callable[[], CouponRepository] | None = None,
                   ) -> CustomerLoginResponse:
    """``coupons_of``: the coupons' repository, asked for only when this login creates the customer, who
    is issued the 新人礼 templates (once per template: a repeated issue finds the coupon there)."""
    session = wechat.code_to_session(command.js_code)
    customer, created = customers.get_or_create(app_id=command.app_id, openid=session.openid,
                                                unionid=session.unionid, now=now, device_id=command.device_id,
                                                source_ip=command.source_ip)
    if created and coupons_of is not None:
        # Imported for a new customer only: a returning customer's login (most logins) never runs the
        # coupon rules and use cases, which bring the order rules and the referral and claim machinery.
        from mall.domain.coupons import AutoIssue
        from mall.services.coupons import auto_issue_quietly

        auto_issue_quietly(coupons=coupons_of(), user_id=customer.user_id, trigger=AutoIssue.FIRST_LOGIN, now=now)
    token = issue_token(customer.user_id, customer.roles, key=tokens.signing_key, now=now,
                        ttl_seconds=tokens.ttl_seconds)
    return CustomerLoginResponse(access_token=token, expires_in=tokens.ttl_seconds, roles=sorted(customer.roles),
                                 user_id=customer.user_id, is_new_user=created)


#: The source of a login whose caller's IP is not known (a direct call, a test).
UNKNOWN_SOURCE = "unknown"


def login_admin(*, username: str, password: str, admins: AdminRepository, throttle: LoginThrottle,
                signing_key: bytes, ttl_seconds: int, now: datetime, source_ip: str | None = None,
                audit: AuditLog | None = None, success: AuditEntry | None = None) -> TokenResponse:
    """The attempt is counted before the password is checked (``LoginThrottle.reserve``), so parallel
    attempts cannot check more passwords than the policy allows; a refusal says when to retry. A
    success is recorded in one transaction: the source's fresh start, the account's last login and,
    given ``audit`` and ``success``, the audit entry (a known source: three round trips in all)."""
    source = source_ip or UNKNOWN_SOURCE
    counted_for_username, account = throttle.reserve(username, source, now)
    if account is None:
        verify_password(password, dummy_hash())  # same cost as a real check: no username probing by timing
        raise identity.reject_login()
    if not verify_password(password, account.password_hash) or account.disabled:
        raise identity.reject_login()
    writes = throttle.succeeded(username, source, now, counted_for_username=counted_for_username)
    if audit is not None and success is not None:
        writes.append(audit.write(success, now))
    admins.record_success(username, now, also=writes)
    return admin_token(account, signing_key=signing_key, ttl_seconds=ttl_seconds, now=now)


def login_admin_audited(*, log: AuditLog, admins: AdminRepository, throttle: LoginThrottle, username: str,
                        password: str, signing_key: bytes, ttl_seconds: int, now: datetime,
                        source_ip: str | None) -> TokenResponse:
    """``login_admin`` with an audit entry for the success or the failure
    (who tried — the username, never the password —, from where, and why it failed)."""
    entry: dict[str, Any] = {"actor": f"admin:{username}", "entity_type": "admin", "entity_id": username,
                             "source_ip": source_ip}
    try:
        return login_admin(username=username, password=password, admins=admins, throttle=throttle,
                           signing_key=signing_key, ttl_seconds=ttl_seconds, now=now, source_ip=source_ip,
                           audit=log, success=AuditEntry(action="admin.login", **entry))
    except DomainError as exc:
        log.append(AuditEntry(action="admin.login_failed", details={"code": exc.code}, **entry), now)
        raise


def admin_token(account: AdminAccount, *, signing_key: bytes, ttl_seconds: int, now: datetime) -> TokenResponse:
    """A token of the account's staff roles at its current session version."""
    token = issue_token(f"admin:{account.username}", account.roles, key=signing_key, now=now,
                        ttl_seconds=ttl_seconds, session_version=account.session_version)
    return TokenResponse(access_token=token, expires_in=ttl_seconds, roles=sorted_roles(account.roles))


def profile(principal: Principal, *, customers: CustomerRepository, admins: AdminRepository) -> MeResponse:
    if principal.is_admin and principal.subject.startswith("admin:"):
        account = admins.get(principal.subject.removeprefix("admin:"))
        if account is None or account.disabled:
            raise NotFound("admin account no longer exists", code="account_not_found")
        return MeResponse(kind="admin", id=account.username, roles=sorted_roles(principal.roles),
                          display_name=account.display_name or account.username,
                          created_at=iso(account.created_at))
    customer = customers.get(principal.subject)
    if customer is None:
        raise NotFound("account no longer exists", code="account_not_found")
    return MeResponse(kind="customer", id=customer.user_id, roles=sorted(customer.roles | principal.roles),
                      nickname=customer.nickname, created_at=iso(customer.created_at), phone=customer.phone_masked)


class PhoneSource(Protocol):
    """What binding a phone needs of ``mall.integrations.wechat.WeChatServerClient``."""

    def phone_number(self, code: str) -> PhoneNumber: ...


def bind_phone(*, code: str, user_id: str, wechat: PhoneSource, customers: CustomerRepository,
               now: datetime) -> PhoneView:
    """手机号快速验证: WeChat turns the ``getPhoneNumber`` code into the customer's number, which is
    stored sealed (with its mask and a keyed hash for the fraud scan) on the profile; the answer and
    the log show only the mask. A new binding replaces the previous number. The profile is checked
    first, so a deleted account spends no single-use code."""
    if customers.get(user_id) is None:
        raise NotFound("account no longer exists", code="account_not_found")
    number = wechat.phone_number(code)
    masked = masking.mask_phone(number.pure)
    customers.bind_phone(
        user_id, phone_enc=pii_crypto.encrypt(number.pure, context=phone_context(user_id)), phone_masked=masked,
        phone_fp=pii_crypto.fingerprint(normalise_phone(number.pure), kind="phone"),
        country_code=number.country_code, now=now)
    logger.info("phone bound", extra={"user_id": user_id, "phone": masked})
    return PhoneView(phone=masked, country_code=number.country_code, bound_at=iso(now))
