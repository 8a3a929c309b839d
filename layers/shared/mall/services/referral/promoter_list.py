"""The merchant's promoter list (推广员列表): one status, optionally one level, newest first or sorted by
a figure (``mall.domain.promoter_list``), each row with the masked phone, cumulative and this month's
commission and team size. Round trips: newest first, the page's Query and one BatchGetItem of its
figures (2); sorted, every page of the status (≤ 2,000 promoters: 1–3 Queries), this month's
commission scores when sorting by them (1) and the figures of the page shown (1)."""

from __future__ import annotations

from datetime import datetime

from mall.api.cursor import cursors
from mall.clock import china_day
from mall.dal.keys import promoters_partition
from mall.dal.promoter_list import PromoterListReads
from mall.domain import promoter_list as rules
from mall.domain import referral as referral_rules
from mall.domain.referral import Promoter
from mall.domain.stats_periods import month_of_day
from mall.errors import FieldProblem, InvalidInput
from mall.schemas.referral import PromoterListItem, PromoterListPage
from mall.services.referral import share_page
from mall.services.referral.views import admin_view


def _bad_cursor() -> InvalidInput:
    return InvalidInput("cursor is not valid for this list", code="invalid_cursor",
                        fields=[FieldProblem("query:cursor", "not a cursor returned by this list")])


def _rows(reads: PromoterListReads, promoters: list[Promoter], month: str) -> list[PromoterListItem]:
    figures = reads.figures([p.user_id for p in promoters], month=month)
    page = share_page()
    out = []
    for p in promoters:
        f = figures[p.user_id]
        out.append(PromoterListItem(
            **admin_view(p, page).model_dump(), phone_masked=(f.profile or {}).get("phone_masked"),
            commission_total_fen=rules.commission_total(f.wallet),
            commission_month_fen=int((f.month_board or {}).get("score_fen", 0)), team_size=rules.team_size(p)))
    return out


def list_promoters(*, reads: PromoterListReads, status: str, level_id: str | None, sort: rules.PromoterSort,
                   limit: int, cursor: str | None, now: datetime) -> PromoterListPage:
    if status not in referral_rules.PROMOTER_STATUSES:
        raise InvalidInput("unknown status", fields=[FieldProblem("query:status",
                                                                  f"one of {list(referral_rules.PROMOTER_STATUSES)}")])
    month = month_of_day(china_day(now))
    if sort == "newest":
        start = cursors.decode(cursor, partition=promoters_partition(status))
        promoters, last = reads.page(status, level_id=level_id, limit=limit, start_key=start)
        return PromoterListPage(items=_rows(reads, promoters, month), next_cursor=cursors.encode(last))
    position = cursors.decode(cursor)
    offset = 0
    if position is not None:
        if position.get("list") != [status, level_id, sort] or not isinstance(position.get("at"), int):
            raise _bad_cursor()
        offset = position["at"]
    everyone, truncated = reads.every(status, level_id=level_id, ceiling=rules.MAX_SORTED)
    scores = reads.month_commissions(month) if sort == "month_commission_desc" else {}
    everyone.sort(key=rules.sort_key(sort, scores), reverse=True)
    shown = everyone[offset:offset + limit]
    more = offset + limit < len(everyone)
    return PromoterListPage(items=_rows(reads, shown, month), truncated=truncated,
                            next_cursor=cursors.encode({"list": [status, level_id, sort], "at": offset + limit})
                            if more else None)
