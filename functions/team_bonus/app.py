"""Scheduled daily (03:00 China time): team bonus (团队分红) of every month that has become final.

Examines each month that has ended and whose final date (``final_after_days`` after its end) is at most
a week past: lists its team orders (16 shards of ``TEAM_ORDERS#<month>#<shard>``, no scan), reads each
unpaid promoter's commission records, and pays every active promoter whose month is final (each order
settled or refunded, or the final date passed) and whose team sales reach a tier: the bonus record and
its ``bonus_frozen`` posting in one transaction, put only if absent, so a schedule that fires twice (or
two overlapping runs) pays each promoter once per month. The bonus settles like commission (through
``settlement_planner`` / ``settlement_worker``).

The event's ``time`` is the run time (``make schedule FN=TeamBonusFunction TIME=2026-12-01T00:00:00Z``);
``{"month": "2026-11"}`` in the event examines that month only (a re-run after fixing something: it pays
only who was not paid). The same run decides and pays the leaderboard prizes of the months that are
final (``mall.services.leaderboard_prizes``)."""

from __future__ import annotations

import re
from typing import Any

from aws_lambda_powertools.utilities.typing import LambdaContext

from mall.dal.table import main_table
from mall.observability import metrics
from mall.services import leaderboard_prizes as prizes
from mall.services.team_bonus import BonusRunReport, TeamBonusRepositories, run_due, run_month
from mall.workers import scheduled_time, worker_entrypoint

# Composition root: built once per cold start, shared by every invocation.
table = main_table()
repos = TeamBonusRepositories.on(table)
prize_repos = prizes.PrizeRepositories.on(table)

_MONTH = re.compile(r"^\d{4}-(0[1-9]|1[0-2])$")


def run(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    wanted = event.get("month") if isinstance(event, dict) else None
    now = scheduled_time(event)
    if isinstance(wanted, str) and _MONTH.match(wanted) is not None:
        report = run_month(repos, month=wanted, now=now)
        reports = [report]
        result = report.as_dict()
        prize_reports = [prizes.run_month(prize_repos, month=wanted, now=now)]
    else:
        reports = run_due(repos, now=now)
        total = BonusRunReport(month="")
        for report in reports:
            total.merge(report)
        result = {"months": [r.as_dict() for r in reports], "paid": total.paid, "paid_fen": total.paid_fen,
                  "already_paid": total.already_paid, "not_final": total.not_final}
        prize_reports = prizes.run_due(prize_repos, now=now)
    # The leaderboard prizes of a final month are decided by the same schedule, on the same definition
    # of a final month, after the bonus.
    result["prizes"] = [r.as_dict() for r in prize_reports]
    metrics.add_metric(name="TeamBonusesPaid", unit="Count", value=sum(r.paid for r in reports))
    metrics.add_metric(name="TeamBonusPaidFen", unit="Count", value=sum(r.paid_fen for r in reports))
    metrics.add_metric(name="LeaderboardPrizesPaid", unit="Count", value=sum(r.paid for r in prize_reports))
    return result


handler = worker_entrypoint(run)
