"""What the user or the bank does at WeChat Pay (pay, a refund ending, a transfer finishing), each
followed by its notification."""

from __future__ import annotations

from datetime import datetime

from local.wechatpay_sandbox.common import (
    Json,
    SandboxError,
    SandboxEvent,
    _digits,
    _fmt,
)
from local.wechatpay_sandbox.notifications import Notifications


class Actions(Notifications):
    """State changes made outside the API, then notified."""

    # ---- actions ----------------------------------------------------------------------------

    def pay(self, out_trade_no: str, *, bank_type: str = "OTHERS", background: bool = False) -> SandboxEvent:
        """The customer pays: NOTPAY → SUCCESS, then TRANSACTION.SUCCESS is delivered."""
        now = self._clock()
        with self._state() as state:
            order = state["orders"].get(out_trade_no)
            if order is None:
                raise SandboxError(f"no order {out_trade_no}")
            if order["trade_state"] != "NOTPAY":
                raise SandboxError(f"order {out_trade_no} is {order['trade_state']}, not NOTPAY")
            expire = order.get("time_expire")
            if expire and datetime.fromisoformat(expire) <= now:
                raise SandboxError(f"order {out_trade_no} expired at {expire}")
            order.update(
                trade_state="SUCCESS", transaction_id="4200" + _digits(24), success_time=_fmt(now), bank_type=bank_type
            )
            snapshot = dict(order)
        resource = self.transaction_resource(
            out_trade_no, snapshot["total"], snapshot["openid"], transaction_id=snapshot["transaction_id"],
            success_time=now, attach=snapshot.get("attach") or "", bank_type=bank_type,
        )
        return self._deliver("TRANSACTION.SUCCESS", resource, "transaction", snapshot["notify_url"],
                             background=background)

    def complete_refund(self, out_refund_no: str, *, status: str = "SUCCESS", background: bool = False) -> SandboxEvent:
        """The refund ends: PROCESSING → SUCCESS | ABNORMAL | CLOSED, then REFUND.<status> is delivered."""
        if status not in {"SUCCESS", "ABNORMAL", "CLOSED"}:
            raise SandboxError("status must be SUCCESS, ABNORMAL or CLOSED")
        now = self._clock()
        with self._state() as state:
            refund = state["refunds"].get(out_refund_no)
            if refund is None:
                raise SandboxError(f"no refund {out_refund_no}")
            if refund["status"] not in {"PROCESSING", "ABNORMAL"}:
                raise SandboxError(f"refund {out_refund_no} is already {refund['status']}")
            refund["status"] = status
            if status == "SUCCESS":
                refund["success_time"] = _fmt(now)
                state["orders"][refund["out_trade_no"]]["trade_state"] = "REFUND"
            snapshot = dict(refund)
        resource = self.refund_resource(
            out_refund_no, snapshot["out_trade_no"], snapshot["refund"], snapshot["total"], refund_status=status,
            transaction_id=snapshot["transaction_id"], refund_id=snapshot["refund_id"], success_time=now,
        )
        return self._deliver(f"REFUND.{status}", resource, "refund", snapshot["notify_url"], background=background)

    def _deliver_bill(self, bill: Json, *, background: bool = False) -> SandboxEvent:
        resource = self.transfer_bill_resource(
            bill["out_bill_no"], bill["transfer_amount"], bill["openid"], state=bill["state"],
            transfer_bill_no=bill["transfer_bill_no"], fail_reason=bill.get("fail_reason"),
            create_time=bill["create_time"], update_time=bill["update_time"],
        )
        return self._deliver("MCHTRANSFER.BILL.FINISHED", resource, "mch_payment", bill["notify_url"],
                             background=background)

    def finish_transfer(
        self, out_bill_no: str, *, state: str = "SUCCESS", fail_reason: str | None = None, background: bool = False
    ) -> SandboxEvent:
        """The bill reaches a terminal state (the user confirmed → SUCCESS, or FAIL / CANCELLED after
        24 h unconfirmed), then MCHTRANSFER.BILL.FINISHED is delivered."""
        if state not in {"SUCCESS", "FAIL", "CANCELLED"}:
            raise SandboxError("state must be SUCCESS, FAIL or CANCELLED")
        now = self._clock()
        with self._state() as data:
            bill = data["bills"].get(out_bill_no)
            if bill is None:
                raise SandboxError(f"no transfer bill {out_bill_no}")
            if bill["state"] in {"SUCCESS", "FAIL", "CANCELLED"}:
                raise SandboxError(f"bill {out_bill_no} is already {bill['state']}")
            bill.update(state=state, update_time=_fmt(now),
                        fail_reason=(fail_reason or "PAYEE_ACCOUNT_ABNORMAL") if state == "FAIL" else None)
            snapshot = dict(bill)
        return self._deliver_bill(snapshot, background=background)

    def confirm_transfer(self, out_bill_no: str) -> SandboxEvent:
        """The promoter confirms the receipt in the mini-program (wx.requestMerchantTransfer)."""
        return self.finish_transfer(out_bill_no, state="SUCCESS")

    def fail_transfer(self, out_bill_no: str, reason: str = "PAYEE_ACCOUNT_ABNORMAL") -> SandboxEvent:
        return self.finish_transfer(out_bill_no, state="FAIL", fail_reason=reason)

    def redeliver_last(self, *, background: bool = False) -> SandboxEvent:
        """Deliver the last notification again (same id, fresh signature): WeChat Pay's duplicates."""
        with self._state(write=False) as state:
            last = state["last_notification"]
        if not last:
            raise SandboxError("no notification was delivered yet")
        return self._deliver(last["event_type"], last["resource"], last["original_type"], last["url"],
                             notification_id=last["id"], background=background)
