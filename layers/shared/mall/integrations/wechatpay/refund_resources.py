"""A refund's WeChat Pay resources: the REFUND.* notification's and the refund API's answers (typed as
``mall.integrations.wechatpay.resources`` types a payment's)."""

from __future__ import annotations

from collections.abc import Mapping

from mall.integrations.wechatpay.resources import Fen, OptStr, OptTime, Str, WeChatPayModel, parse_model


class RefundAmount(WeChatPayModel):
    total: Fen
    refund: Fen
    payer_total: Fen | None = None
    payer_refund: Fen | None = None
    currency: OptStr = None


class RefundResource(WeChatPayModel):
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


class RefundResult(WeChatPayModel):
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


def parse_refund(data: Mapping[str, object]) -> RefundResource:
    return parse_model(RefundResource, data)
