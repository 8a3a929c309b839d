"""A withdrawal as shown (to its promoter, to admins), and the promoter's own list."""

from __future__ import annotations

from collections.abc import Callable, Mapping

from mall.api.cursor import cursors
from mall.dal.keys import promoter_list_partition
from mall.dal.withdrawals import WithdrawalRepository
from mall.domain.withdrawals import AUTO_REVIEWER, SYSTEM, Withdrawal, WithdrawalStatus
from mall.errors import NotFound
from mall.schemas.withdrawals import (
    ApprovalView,
    BankAccountView,
    TimelineEntryView,
    TransferConfirm,
    WithdrawalPage,
    WithdrawalView,
)

WAIT_USER_CONFIRM = "WAIT_USER_CONFIRM"


def _shown_by(by: str, w: Withdrawal) -> str:
    if by == w.promoter_id:
        return "promoter"
    return by if by in {AUTO_REVIEWER, SYSTEM} else "admin"


def bank_view(bank: Mapping[str, str] | None) -> BankAccountView | None:
    if not bank:
        return None
    return BankAccountView(bank_name=str(bank.get("bank_name", "")),
                           account_name=str(bank.get("account_name_masked", "")),
                           account_no=f"****{bank.get('account_no_last4', '')}", branch=bank.get("branch"))


def withdrawal_view(w: Withdrawal, *, for_promoter: bool,
                    merchant_ids: Callable[[], tuple[str, str]] | None = None) -> WithdrawalView:
    """The record as shown. The promoter does not see which admin decided (``admin``)."""
    confirm = None
    if (for_promoter and merchant_ids is not None and w.bill_state == WAIT_USER_CONFIRM and w.package_info
            and w.status == WithdrawalStatus.PAYING and w.cancel_reason is None):
        mch_id, app_id = merchant_ids()
        confirm = TransferConfirm(mch_id=mch_id, app_id=app_id, package_info=w.package_info)
    return WithdrawalView(
        withdrawal_id=w.withdrawal_id, promoter_id=w.promoter_id, status=w.status, method=w.method,
        amount_fen=w.amount_fen, fee_fen=w.fee_fen, net_fen=w.net_fen, review=w.review,
        required_approvals=w.required_approvals,
        approvals=[ApprovalView(admin_id="admin" if for_promoter else a.admin_id, at=a.at) for a in w.approvals],
        created_at=w.created_at, approved_at=w.approved_at, paying_at=w.paying_at, paid_at=w.paid_at,
        failed_at=w.failed_at, rejected_at=w.rejected_at, reason=w.reason,
        rejected_by=None if for_promoter or w.rejected_by is None else w.rejected_by, fail_reason=w.fail_reason,
        out_bill_no=w.out_bill_no, transfer_bill_no=w.transfer_bill_no, bill_state=w.bill_state,
        bank_reference=w.bank_reference, bank=bank_view(w.bank), confirm=confirm,
        timeline=[TimelineEntryView(status=e.status, at=e.at, by=_shown_by(e.by, w) if for_promoter else e.by,
                                    note=e.note) for e in w.timeline],
    )


def withdrawal_or_404(withdrawals: WithdrawalRepository, withdrawal_id: str) -> Withdrawal:
    w = withdrawals.get(withdrawal_id)
    if w is None:
        raise NotFound("no such withdrawal", code="withdrawal_not_found")
    return w


# ---- the promoter's views -----------------------------------------------------------------------


def list_mine(*, withdrawals: WithdrawalRepository, promoter_id: str, status: WithdrawalStatus | None, limit: int,
              cursor: str | None) -> WithdrawalPage:
    start = cursors.decode(cursor, partition=promoter_list_partition(promoter_id))
    found, last = withdrawals.for_promoter(promoter_id, status=status, limit=limit, start_key=start)
    return WithdrawalPage(items=[withdrawal_view(w, for_promoter=True) for w in found],
                          next_cursor=cursors.encode(last))


def get_mine(*, withdrawals: WithdrawalRepository, promoter_id: str, withdrawal_id: str,
             merchant_ids: Callable[[], tuple[str, str]] | None = None) -> WithdrawalView:
    """One of the caller's withdrawals; another promoter's is "not found", never "forbidden"."""
    w = withdrawals.get(withdrawal_id, consistent=False)
    if w is None or w.promoter_id != promoter_id:
        raise NotFound("no such withdrawal", code="withdrawal_not_found")
    return withdrawal_view(w, for_promoter=True, merchant_ids=merchant_ids)
