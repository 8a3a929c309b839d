"""POST /admin/auth/login — merchant admin login, throttled per (username, source IP) and per username
(``LoginThrottle``; every refusal is a 429 with Retry-After). Every attempt,
successful or not, is an audit entry (the username tried and the source IP; never the password)."""

from __future__ import annotations

from mall.api.auth import public, signing_key
from mall.api.http import entrypoint, make_resolver, metrics
from mall.api.params import error_response, source_ip
from mall.clock import utc_now
from mall.config import get_settings
from mall.dal.audit import AuditLog
from mall.dal.identity import AdminRepository, LoginThrottle
from mall.dal.table import main_table
from mall.domain.identity import LockoutPolicy
from mall.schemas.identity import AdminLoginRequest, TokenResponse
from mall.services.identity import login_admin_audited

# Composition root: built once per cold start, shared by every invocation.
table = main_table()
settings = get_settings()
log = AuditLog(table)
admins = AdminRepository(table)
throttle = LoginThrottle(table, LockoutPolicy(settings.admin_max_failed_logins, settings.admin_lockout_seconds,
                                             settings.admin_max_logins_per_username))

app = make_resolver()


@app.post("/admin/auth/login", summary="Log in as a merchant admin", tags=["identity"], **public(),
          responses={200: {"description": "logged in", "content": {"application/json": {"model": TokenResponse}}},
                     401: error_response("wrong credentials"),
                     429: error_response("locked out")})
def login(body: AdminLoginRequest) -> TokenResponse:
    try:
        return login_admin_audited(log=log, admins=admins, throttle=throttle, username=body.username.lower(),
                                   password=body.password, signing_key=signing_key(),
                                   ttl_seconds=settings.admin_token_ttl_seconds, now=utc_now(),
                                   source_ip=source_ip(app))
    except Exception:
        metrics.add_metric(name="AdminLoginFailures", unit="Count", value=1)
        raise


handler = entrypoint(app)
