"""Scheduled monthly (03:00 China time on the 1st): team bonus (团队分红) for the previous China month.

Reads the month's team sales (16 shards of ``TEAM_SALES#<month>#<shard>``, no scan), and pays every
active promoter whose team sales reach a tier: the bonus record and its ``bonus_frozen`` posting in
one transaction, put only if absent, so a schedule that fires twice (or two overlapping runs) pays
each promoter once per month. The bonus settles like commission (due at the month's end + settlement
days, through ``settlement_planner`` / ``settlement_worker``).

The event's ``time`` is the run time (``make schedule FN=TeamBonusFunction TIME=2026-12-01T00:00:00Z``
pays November, China time); ``{"month": "2026-11"}`` in the event pays that month instead (a re-run
after fixing something: it pays only who was not paid)."""

from __future__ import annotations

import re
from typing import Any

from aws_lambda_powertools.utilities.typing import LambdaContext

from mall.clock import utc_now
from mall.dal.table import main_table
from mall.domain.team_bonus import previous_china_month
from mall.observability import metrics
from mall.services.team_bonus import run_month
from mall.workers import scheduled_time, worker_entrypoint

table = main_table()
_MONTH = re.compile(r"^\d{4}-(0[1-9]|1[0-2])$")


def run(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    wanted = event.get("month") if isinstance(event, dict) else None
    explicit = isinstance(wanted, str) and _MONTH.match(wanted) is not None
    month = str(wanted) if explicit else previous_china_month(scheduled_time(event))
    report = run_month(table=table, month=month, now=utc_now())
    metrics.add_metric(name="TeamBonusesPaid", unit="Count", value=report.paid)
    metrics.add_metric(name="TeamBonusPaidFen", unit="Count", value=report.paid_fen)
    return report.as_dict()


handler = worker_entrypoint(run)
