"""Fetching an unpaid order's payment parameters (``POST /orders/{order_id}/payment``): the answer, which
placing an order extends (``mall.schemas.orders``). Apart from the placement's request models so that the
payment route builds only its own."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field
from pydantic.config import JsonDict

_PAYMENT: JsonDict = {
    "appId": "wx8f3c2a9d51e7b604", "timeStamp": "1793708108", "nonceStr": "D440E50454F31AF3176813E02EA68EF7",
    "package": "prepay_id=wx03201508374512d9b4c2e71f5a80390000", "signType": "RSA",
    "paySign": "pU3KGCUwux1tEyze1iN7LtkeP3IfyxlxF0SU1kk8nVw0YL4xIB5p/tqg7ui5mX9cfCmZ/a/lkyU81lSvTfrXFCegrrP+6SMvivIh"
               "H57kkcWxC+y1Vjv8Hm+TQn7LyP4pVeXNjkbcjtS3wnZNKlpNdncG+F2GkAJK1r2jQBvpyMvMyTX2zR9hImrhUziuGjQATTO6DSRq"
               "wEyBsbryPjv57vX3nytJNK+H9VILablLDZguhbtVtnKocmN6zXRm/LYODo/xhGOw5LK6KXA0dPBkrGj3APWwKz3GZvRb3qosyu3N"
               "K1FXQQ5N7krys09DCgc0R95jbA6AbJV7poTWQx+16g=="}
#: An order placed and awaiting payment, with its signed parameters (also the placement's example).
AWAITING_PAYMENT: JsonDict = {"order_id": "o_01m6gnbah4xat2qntjhtks", "status": "CREATED", "amount_fen": 41400,
                              "expires_at": "2026-11-03T12:45:08Z", "payment": _PAYMENT, "payment_error": None}


class PaymentParams(BaseModel):
    """Pass as-is to ``wx.requestPayment`` (keys exactly as WeChat names them)."""

    appId: str
    timeStamp: str
    nonceStr: str
    package: str
    signType: str
    paySign: str


class OrderPaymentResponse(BaseModel):
    model_config = ConfigDict(json_schema_extra={"examples": [AWAITING_PAYMENT]})

    order_id: str
    status: str
    amount_fen: int
    expires_at: str = Field(description="ISO-8601 UTC: unpaid orders are closed and their stock released then")
    payment: PaymentParams | None = Field(
        description="the signed `wx.requestPayment` parameters; null when WeChat Pay could not be reached "
                    "(the order stays CREATED: fetch them again with POST /orders/{order_id}/payment)")
    payment_error: str | None = None
