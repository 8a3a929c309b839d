"""Typed views of WeChat Pay resources: decrypted notification resources and API responses.

Strict about the types of the fields the business relies on (amounts must be JSON integers in
fen: no strings, floats or booleans), tolerant of unknown extra fields and of documented-optional
ones. A mismatch raises ``NotificationRejected("malformed_resource")``; the field paths are in the
message, the values never are (they may be personal data).

A payment's resource here; a refund's in ``refund_resources``, a transfer bill's in ``transfer_resources``
(most notifications are payments: the webhook's cold start builds those two on the first that is not).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Annotated

from pydantic import AwareDatetime, BaseModel, BeforeValidator, ConfigDict, Field, ValidationError

from mall.integrations.wechatpay.errors import NotificationRejected

__all__ = [
    "Fen",
    "OptStr",
    "OptTime",
    "Str",
    "TransactionAmount",
    "TransactionPayer",
    "TransactionResource",
    "WeChatPayModel",
    "parse_model",
    "parse_transaction",
]

# trade_state
TRADE_SUCCESS = "SUCCESS"
TRADE_NOTPAY = "NOTPAY"
TRADE_CLOSED = "CLOSED"
TRADE_REFUND = "REFUND"
TRADE_USERPAYING = "USERPAYING"
TRADE_PAYERROR = "PAYERROR"
TRADE_REVOKED = "REVOKED"
# refund status
REFUND_SUCCESS = "SUCCESS"
REFUND_CLOSED = "CLOSED"
REFUND_PROCESSING = "PROCESSING"
REFUND_ABNORMAL = "ABNORMAL"
# transfer bill state
TRANSFER_ACCEPTED = "ACCEPTED"
TRANSFER_PROCESSING = "PROCESSING"
TRANSFER_WAIT_USER_CONFIRM = "WAIT_USER_CONFIRM"
TRANSFER_TRANSFERING = "TRANSFERING"
TRANSFER_SUCCESS = "SUCCESS"
TRANSFER_FAIL = "FAIL"
TRANSFER_CANCELING = "CANCELING"
TRANSFER_CANCELLED = "CANCELLED"
TRANSFER_TERMINAL_STATES = frozenset({TRANSFER_SUCCESS, TRANSFER_FAIL, TRANSFER_CANCELLED})


def _time_text(value: object) -> object:
    """Times arrive as RFC 3339 strings; "" counts as absent; numbers are refused."""
    if value is None or value == "":
        return None
    if not isinstance(value, str):
        raise ValueError("expected an RFC 3339 time string")  # pydantic turns this into a ValidationError
    return value


Fen = Annotated[int, Field(strict=True, ge=0)]
Str = Annotated[str, Field(strict=True)]
OptStr = Annotated[str | None, Field(strict=True)]
OptTime = Annotated[AwareDatetime | None, BeforeValidator(_time_text)]
"""RFC 3339 with offset (``2018-06-08T10:34:56+08:00``); an empty string counts as absent."""


class WeChatPayModel(BaseModel):
    model_config = ConfigDict(frozen=True, extra="ignore", defer_build=True)  # build on first use (cold start)


class TransactionPayer(WeChatPayModel):
    openid: OptStr = None


class TransactionAmount(WeChatPayModel):
    total: Fen
    payer_total: Fen | None = None
    currency: OptStr = None
    payer_currency: OptStr = None


class TransactionResource(WeChatPayModel):
    """TRANSACTION.SUCCESS resource, and the body of ``GET /v3/pay/transactions/out-trade-no/…``.

    Before marking an order paid, check ``trade_state == "SUCCESS"``, that ``mchid``/``appid``
    are ours and that ``amount.total`` equals the order's amount."""

    appid: Str
    mchid: Str
    out_trade_no: Str
    trade_state: Str
    transaction_id: OptStr = None
    trade_type: OptStr = None
    trade_state_desc: OptStr = None
    bank_type: OptStr = None
    attach: OptStr = None
    success_time: OptTime = None
    payer: TransactionPayer | None = None
    amount: TransactionAmount | None = None

    @property
    def payer_openid(self) -> str | None:
        return self.payer.openid if self.payer is not None else None


def parse_model[M: BaseModel](model: type[M], data: Mapping[str, object]) -> M:
    """Validate ``data`` into ``model``; ``NotificationRejected("malformed_resource")`` if it does not fit."""
    try:
        return model.model_validate(dict(data))
    except ValidationError as exc:
        fields = sorted({".".join(str(p) for p in err["loc"]) or "(root)" for err in exc.errors()})
        raise NotificationRejected(
            "malformed_resource", f"{model.__name__}: bad or missing {', '.join(fields)[:300]}"
        ) from None


def parse_transaction(data: Mapping[str, object]) -> TransactionResource:
    return parse_model(TransactionResource, data)
