"""GET /promoter/withdrawals (mine, newest first) and GET /promoter/withdrawals/{withdrawal_id}
(status, fee, net, timeline; while the WeChat transfer waits for me, what the mini-program's
confirm page needs). Only ever the caller's own: another promoter's withdrawal is a 404."""

from __future__ import annotations

from typing import Annotated, Literal

from mall.api.auth import current_principal, secured
from mall.api.http import entrypoint, make_resolver
from mall.api.params import Cursor, IdPath, Limit, Query, error_response
from mall.config import get_settings
from mall.dal.table import main_table
from mall.dal.withdrawals import WithdrawalRepository
from mall.domain.tokens import Role
from mall.domain.withdrawals import WithdrawalStatus
from mall.schemas.withdrawals import WithdrawalPage, WithdrawalView
from mall.secrets import get_secret
from mall.services.withdrawals.views import get_mine, list_mine

# Composition root: built once per cold start, shared by every invocation.
table = main_table()
withdrawals = WithdrawalRepository(table)

app = make_resolver()

StatusFilter = Literal["PENDING_REVIEW", "APPROVED", "PAYING", "PAID", "FAILED", "REJECTED"]


def merchant_ids() -> tuple[str, str]:
    """(mch_id, appid) for ``wx.requestMerchantTransfer``; read only when a transfer waits."""
    settings = get_settings()
    return settings.wechatpay_mchid or get_secret("wechatpay_mchid"), settings.wechat_app_id


@app.get("/promoter/withdrawals", summary="My withdrawals, newest first", tags=["withdrawals"],
         **secured(Role.PROMOTER))
def list_withdrawals(status: Annotated[StatusFilter | None, Query(description="only this status")] = None,
                     limit: Limit = 20,
                     cursor: Cursor = None) -> WithdrawalPage:
    return list_mine(withdrawals=withdrawals, promoter_id=current_principal(app).subject,
                     status=WithdrawalStatus(status) if status else None, limit=limit, cursor=cursor)


@app.get("/promoter/withdrawals/<withdrawal_id>", summary="One of my withdrawals with its timeline",
         tags=["withdrawals"], responses={404: error_response("`withdrawal_not_found` (also for another promoter's)")},
         **secured(Role.PROMOTER))
def get_withdrawal(withdrawal_id: IdPath) -> WithdrawalView:
    return get_mine(withdrawals=withdrawals, promoter_id=current_principal(app).subject, withdrawal_id=withdrawal_id,
                    merchant_ids=merchant_ids)


handler = entrypoint(app)
