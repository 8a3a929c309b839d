"""Typed views of WeChat Pay resources: decrypted notification resources and API responses.

Strict about the types of the fields the business relies on (amounts must be JSON integers in
fen: no strings, floats or booleans), tolerant of unknown extra fields and of documented-optional
ones. A mismatch raises ``NotificationRejected("malformed_resource")``; the field paths are in the
message, the values never are (they may be personal data).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Annotated

from pydantic import AwareDatetime, BaseModel, BeforeValidator, ConfigDict, Field, ValidationError

from mall.integrations.wechatpay.errors import NotificationRejected

__all__ = [
    "RefundAmount",
    "RefundResource",
    "RefundResult",
    "TransactionAmount",
    "TransactionPayer",
    "TransactionResource",
    "TransferBillCancelled",
    "TransferBillCreated",
    "TransferBillResource",
    "parse_model",
    "parse_refund",
    "parse_transaction",
    "parse_transfer_bill",
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


class _Model(BaseModel):
    model_config = ConfigDict(frozen=True, extra="ignore", defer_build=True)  # build on first use (cold start)


class TransactionPayer(_Model):
    openid: OptStr = None


class TransactionAmount(_Model):
    total: Fen
    payer_total: Fen | None = None
    currency: OptStr = None
    payer_currency: OptStr = None


class TransactionResource(_Model):
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


class RefundAmount(_Model):
    total: Fen
    refund: Fen
    payer_total: Fen | None = None
    payer_refund: Fen | None = None
    currency: OptStr = None


class RefundResource(_Model):
    """REFUND.SUCCESS / REFUND.ABNORMAL / REFUND.CLOSED resource (note: ``refund_status``)."""

    mchid: Str
    transaction_id: Str
    out_trade_no: Str
    refund_id: Str
    out_refund_no: Str
    refund_status: Str
    success_time: OptTime = None
    user_received_account: OptStr = None
    amount: RefundAmount


class RefundResult(_Model):
    """Body of ``POST /v3/refund/domestic/refunds`` and ``GET …/refunds/{out_refund_no}``
    (note: the API calls the state ``status``, the notification ``refund_status``)."""

    refund_id: Str
    out_refund_no: Str
    transaction_id: Str
    out_trade_no: Str
    status: Str
    channel: OptStr = None
    user_received_account: OptStr = None
    success_time: OptTime = None
    create_time: OptTime = None
    funds_account: OptStr = None
    amount: RefundAmount


class TransferBillResource(_Model):
    """MCHTRANSFER.BILL.FINISHED resource, and the body of ``GET …/transfer-bills/out-bill-no/…``."""

    out_bill_no: Str
    transfer_bill_no: Str
    state: Str
    transfer_amount: Fen
    openid: Str
    mch_id: OptStr = None
    fail_reason: OptStr = None
    create_time: OptTime = None
    update_time: OptTime = None
    appid: OptStr = None
    transfer_remark: OptStr = None


class TransferBillCreated(_Model):
    """Body of ``POST /v3/fund-app/mch-transfer/transfer-bills``. ``package_info`` is present
    when ``state == "WAIT_USER_CONFIRM"``: the mini-program passes it to
    ``wx.requestMerchantTransfer``."""

    out_bill_no: Str
    transfer_bill_no: Str
    state: Str
    create_time: OptTime = None
    fail_reason: OptStr = None
    package_info: OptStr = None


class TransferBillCancelled(_Model):
    """Body of ``POST …/transfer-bills/out-bill-no/{out_bill_no}/cancel`` (state CANCELING or CANCELLED)."""

    out_bill_no: Str
    transfer_bill_no: Str
    state: Str
    update_time: OptTime = None


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


def parse_refund(data: Mapping[str, object]) -> RefundResource:
    return parse_model(RefundResource, data)


def parse_transfer_bill(data: Mapping[str, object]) -> TransferBillResource:
    return parse_model(TransferBillResource, data)
