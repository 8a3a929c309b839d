"""A transfer bill's WeChat Pay resources (商家转账): the MCHTRANSFER.BILL.FINISHED notification's and the
transfer API's answers (typed as ``mall.integrations.wechatpay.resources`` types a payment's)."""

from __future__ import annotations

from collections.abc import Mapping

from mall.integrations.wechatpay.resources import Fen, OptStr, OptTime, Str, WeChatPayModel, parse_model


class TransferBillResource(WeChatPayModel):
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


class TransferBillCreated(WeChatPayModel):
    """Body of ``POST /v3/fund-app/mch-transfer/transfer-bills``. ``package_info`` is present
    when ``state == "WAIT_USER_CONFIRM"``: the mini-program passes it to
    ``wx.requestMerchantTransfer``."""

    out_bill_no: Str
    transfer_bill_no: Str
    state: Str
    create_time: OptTime = None
    fail_reason: OptStr = None
    package_info: OptStr = None


class TransferBillCancelled(WeChatPayModel):
    """Body of ``POST …/transfer-bills/out-bill-no/{out_bill_no}/cancel`` (state CANCELING or CANCELLED)."""

    out_bill_no: Str
    transfer_bill_no: Str
    state: Str
    update_time: OptTime = None


def parse_transfer_bill(data: Mapping[str, object]) -> TransferBillResource:
    return parse_model(TransferBillResource, data)
