"""POST /auth/login — mini-program login (小程序登录): exchange a ``wx.login`` code for a token.

The customer is created on first login. ``session_key`` stays on the server. The device id
(body ``device_id`` or header ``x-device-id``) and the source IP are stored on the profile for the
fraud scan, never logged."""

from __future__ import annotations

from mall.api.auth import public, signing_key
from mall.api.client_info import client
from mall.api.http import entrypoint, make_resolver, metrics
from mall.api.params import error_response
from mall.clock import utc_now
from mall.config import get_settings
from mall.dal.table import main_table
from mall.integrations.wechat import login_client
from mall.schemas.identity import CustomerLoginRequest, CustomerLoginResponse
from mall.services.identity import LogInCustomer, LoginRepositories, SessionTokens, login_customer

# Composition root: built once per cold start, shared by every invocation.
table = main_table()
settings = get_settings()
repos = LoginRepositories.on(table)

app = make_resolver()


@app.post("/auth/login", summary="Log in from the mini-program", tags=["identity"], **public(),
          responses={
              200: {"description": "logged in", "content": {"application/json": {"model": CustomerLoginResponse}}},
              422: error_response("invalid code"),
          })
def login(body: CustomerLoginRequest) -> CustomerLoginResponse:
    # Built per login, not at cold start: it holds the app secret, which rotates.
    wechat = login_client()
    device, ip = client(app, body.device_id)  # stored for the fraud scan, never logged
    command = LogInCustomer(js_code=body.code, app_id=settings.wechat_app_id, device_id=device, source_ip=ip)
    tokens = SessionTokens(signing_key=signing_key(), ttl_seconds=settings.customer_token_ttl_seconds)
    result = login_customer(command=command, wechat=wechat, customers=repos.customers, tokens=tokens, now=utc_now(),
                            coupons_of=repos.coupons_of)
    metrics.add_metric(name="CustomerLogins", unit="Count", value=1)
    if result.is_new_user:
        metrics.add_metric(name="CustomersCreated", unit="Count", value=1)
    return result


handler = entrypoint(app)
