"""Subscribe-message grants (订阅授权). Pure.

WeChat lets a mini-program send a subscribe message only where the user allowed it: after
``wx.requestSubscribeMessage`` each template answers ``accept``, ``reject``, ``ban`` (the template is
banned by WeChat) or ``filter`` (filtered for a duplicate title). An ``accept`` of a one-time template
(一次性订阅) allows exactly one message; of a long-term template (长期订阅) every message until the user
turns it off. The mini-program reports the answers; the server keeps, per user and template, the count
of unused one-time grants (or the long-term flag), consumes one per message sent, and sends nothing a
grant does not cover.

Only templates the merchant configured are recorded: any other id is ignored (reported back), so a
client cannot fill a user's partition with made-up templates. A report repeated by the client counts
twice; that costs nothing worse than WeChat's 43101 on a later send (recorded, never retried)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from enum import StrEnum

from mall.domain.notifications import NotificationSettings


class GrantResult(StrEnum):
    ACCEPT = "accept"
    REJECT = "reject"
    BAN = "ban"
    FILTER = "filter"


class GrantScene(StrEnum):
    """Where the mini-program asked (for the record and the admin's reading of it)."""

    CHECKOUT = "checkout"  # 下单
    ORDER = "order"  # 订单详情
    REFUND = "refund"  # 申请退款
    APPLY = "apply"  # 申请成为推广员
    WITHDRAWAL = "withdrawal"  # 提现
    PROMOTER_CENTER = "promoter_center"  # 推广中心
    OTHER = "other"


#: Most templates one report may carry (``wx.requestSubscribeMessage`` asks for up to 3 at a time).
MAX_REPORTED = 10


@dataclass(frozen=True)
class GrantReport:
    template_id: str
    result: GrantResult


@dataclass(frozen=True)
class GrantChange:
    """What one report does to one template's grant record."""

    template_id: str
    added: int  # one-time grants added (accepts of a one-time template)
    long_term: bool | None  # long-term templates: True = on, False = turned off; None: not long-term
    result: GrantResult  # the last answer, kept for the record


def decide_grants(reports: Sequence[GrantReport], settings: NotificationSettings
                  ) -> tuple[list[GrantChange], list[str]]:
    """(changes per configured template, ids ignored because no event uses them). The same template
    reported twice in one report adds up (its last answer is kept)."""
    changes: dict[str, GrantChange] = {}
    ignored: list[str] = []
    for report in reports:
        config = settings.configured(report.template_id)
        if config is None:
            if report.template_id not in ignored:
                ignored.append(report.template_id)
            continue
        accepted = report.result == GrantResult.ACCEPT
        before = changes.get(report.template_id)
        if config.long_term:
            long_term: bool | None = accepted if report.result in (GrantResult.ACCEPT, GrantResult.REJECT) else (
                before.long_term if before else None)
            added = 0
        else:
            long_term = None
            added = (before.added if before else 0) + (1 if accepted else 0)
        changes[report.template_id] = GrantChange(report.template_id, added, long_term, report.result)
    return list(changes.values()), ignored
