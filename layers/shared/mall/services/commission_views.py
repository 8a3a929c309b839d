"""The commission views: a promoter's own records and an admin's view of any promoter's. Buyers are
shown masked. (The preview of what a promoter would earn on a product, 佣金预估, is
``mall.services.commission_preview``.)"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, NamedTuple, Protocol

from mall.api.cursor import cursors
from mall.clock import iso
from mall.dal.commission_sync import CommissionSyncStore
from mall.dal.commissions import commission_from_item
from mall.dal.keys import beneficiary_partition
from mall.domain.commission import explain_rule
from mall.domain.commission_records import CommissionRecord
from mall.domain.masking import mask_nickname, mask_user_id
from mall.domain.settings_terms import COMMISSION_CAP_LIMIT_BP
from mall.errors import NotFound
from mall.schemas.commissions import (
    AdminCommissionPage,
    AdminCommissionView,
    CommissionPage,
    CommissionRule,
    CommissionView,
)

if TYPE_CHECKING:
    from mall.dal.referral import PromoterRepository


class CommissionViewRepositories(Protocol):
    """What the admin's view reads (``mall.services.commissions.CommissionRepositories`` has both): the
    records and the buyers' nicknames, and the promoter. The views do not import the commission sync's
    use cases, which a promoter's list never runs."""

    @property
    def store(self) -> CommissionSyncStore: ...

    @property
    def promoters(self) -> PromoterRepository: ...


class ViewReads(NamedTuple):
    """The admin's view's two reads, as its function builds them: not the commission sync's repositories,
    whose use cases that function never runs."""

    store: CommissionSyncStore
    promoters: PromoterRepository


def _view_fields(record: CommissionRecord, nickname: str | None) -> dict[str, Any]:
    rule = {"level": record.level, "base_fen": record.base_fen, "quantity": record.quantity, "source": "global",
            "mode": "ratio", "ratio_bp": 0, "fixed_fen": 0, "level_points_bp": 0, "level_id": "",
            "cap_bp": COMMISSION_CAP_LIMIT_BP, "cap_fen": 0, "wanted_fen": record.amount_fen, "capped": False,
            "settings_version": 0, "basis": "binding", "self_purchase": False, **record.rule}
    return {
        "commission_id": record.commission_id, "order_id": record.order_id, "line_id": record.line_id,
        "level": record.level, "product_id": record.product_id, "product_name": record.product_name,
        "quantity": record.quantity, "buyer": mask_nickname(nickname), "buyer_id": mask_user_id(record.buyer_id),
        "base_fen": record.base_fen, "amount_fen": record.amount_fen, "cancelled_fen": record.cancelled_fen,
        "clawed_back_fen": record.clawed_back_fen, "current_fen": record.current_fen, "status": record.status.value,
        "created_at": iso(record.created_at), "due_at": iso(record.due_at) if record.due_at else None,
        "settled_at": iso(record.settled_at) if record.settled_at else None, "on_hold": bool(record.hold),
        "explanation": explain_rule(rule, record.amount_fen), "rule": CommissionRule.model_validate(rule),
    }


def _page(store: CommissionSyncStore, user_id: str, *, status: str | None, limit: int,
          cursor: str | None) -> tuple[list[CommissionRecord], dict[str, str | None], str | None]:
    start = cursors.decode(cursor, partition=("gsi1pk", beneficiary_partition(user_id)))
    page = store.for_beneficiary(user_id, status=status, limit=limit, start_key=start)
    records = [commission_from_item(item) for item in page.items]
    nicknames = store.nicknames(r.buyer_id for r in records)
    return records, nicknames, cursors.encode(page.last_key)


def my_commissions(store: CommissionSyncStore, *, user_id: str, status: str | None, limit: int,
                   cursor: str | None) -> CommissionPage:
    """The caller's own commission records, newest first (one gsi1 Query per page)."""
    records, nicknames, next_cursor = _page(store, user_id, status=status, limit=limit, cursor=cursor)
    return CommissionPage(items=[CommissionView(**_view_fields(r, nicknames.get(r.buyer_id))) for r in records],
                          next_cursor=next_cursor)


def promoter_commissions(repos: CommissionViewRepositories, *, user_id: str, status: str | None, limit: int,
                         cursor: str | None) -> AdminCommissionPage:
    """Admin: any promoter's commission records, newest first; 404 for someone who never applied."""
    if repos.promoters.get(user_id) is None:
        raise NotFound("no such promoter", code="promoter_not_found")
    records, nicknames, next_cursor = _page(repos.store, user_id, status=status, limit=limit, cursor=cursor)
    return AdminCommissionPage(
        items=[AdminCommissionView(**_view_fields(r, nicknames.get(r.buyer_id)), beneficiary_id=r.beneficiary_id,
                                   hold=r.hold) for r in records],
        next_cursor=next_cursor)
