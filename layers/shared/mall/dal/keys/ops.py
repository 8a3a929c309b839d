"""Keys of the operations: the audit trail, risk holds, cases, hits and feed, notifications,
reconciliation reports, export jobs, PII data keys, the distribution settings and the idempotency
records (docs/data-model.md)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import TYPE_CHECKING

from mall.clock import iso
from mall.dal.keys.users import user_partition
from mall.dal.table import Key

if TYPE_CHECKING:
    from mall.domain.reconciliation import Mismatch

RUNS_PARTITION = "RECONCILIATIONS"
#: Up to when the risk scan has read the feed (one item; its runs never overlap past it).
RISK_SCAN_WATERMARK_KEY: dict[str, str] = {"pk": "RISK_SCAN", "sk": "WATERMARK"}
#: Partition of the distribution settings: ``CURRENT`` and one ``V#<version>`` per saved version.
SETTINGS_PK = "SETTINGS#distribution"
#: The item holding the version in force (read in a batch with other items by the payment path).
SETTINGS_CURRENT_KEY: dict[str, str] = {"pk": SETTINGS_PK, "sk": "CURRENT"}
#: The partition the saved versions are listed from (what a cursor of the history is bound to).
SETTINGS_HISTORY_PARTITION: tuple[str, str] = ("pk", SETTINGS_PK)
#: The book of commission campaigns (one item, read in the payment path's first batch with the settings).
CAMPAIGNS_KEY: dict[str, str] = {"pk": "SETTINGS#campaigns", "sk": "CURRENT"}


def audit_partition(day: datetime) -> str:
    return f"AUDIT#{day.astimezone(UTC).date().isoformat()}"


def actor_partition(actor: str) -> str:
    return f"AUDIT_ACTOR#{actor}"


def audit_entity_partition(entity_type: str, entity_id: str) -> str:
    return f"AUDIT_ENTITY#{entity_type}#{entity_id}"


def risk_hold_key(uid: str) -> Key:
    return {"pk": user_partition(uid), "sk": "RISK_HOLD"}


def risk_case_key(case_id: str) -> Key:
    return {"pk": f"RISK_CASE#{case_id}", "sk": "CASE"}


def risk_status_partition(status: str) -> str:
    return f"RISK_CASES#{status}"


def promoter_cases_partition(uid: str) -> str:
    return f"PROMOTER_RISK_CASES#{uid}"


def hit_key(rule: str, window_key: str, promoter_id: str) -> Key:
    return {"pk": f"RISK_HIT#{rule}#{window_key}", "sk": user_partition(promoter_id)}


def hits_partition(day: str) -> str:
    return f"RISK_HITS#{day}"


def feed_partition(at: datetime, shard: int) -> str:
    """The hour bucket (UTC) and shard of a risk feed entry."""
    return f"RISK_FEED#{iso(at)[:13]}#{shard}"


def notification_key(notification_id: str) -> Key:
    return {"pk": f"NOTIFICATION#{notification_id}", "sk": "NOTIFICATION"}


def notification_status_partition(status: str) -> str:
    return f"NOTIFICATIONS#{status}"


def recipient_partition(user_id: str) -> str:
    return f"USER_NOTIFICATIONS#{user_id}"


def report_partition(day: str) -> str:
    return f"RECONCILIATION#{day}"


def runs_list_partition() -> tuple[str, str]:
    """The index partition the reconciliation runs are listed from (what a cursor of that list is bound to)."""
    return "gsi1pk", RUNS_PARTITION


def mismatches_list_partition(day: str) -> tuple[str, str]:
    """The partition a day's mismatches are listed from (what a cursor of that list is bound to)."""
    return "pk", report_partition(day)


def run_key(day: str) -> Key:
    return {"pk": report_partition(day), "sk": "RUN"}


def mismatch_key(day: str, mismatch: Mismatch) -> Key:
    return {"pk": report_partition(day), "sk": f"MISMATCH#{mismatch.key}"}


def job_key(export_id: str) -> Key:
    return {"pk": f"EXPORT#{export_id}", "sk": "JOB"}


def weekly_report_key(report_id: str) -> Key:
    return {"pk": f"OPS_REPORT#{report_id}", "sk": "REPORT"}


def key_item_key(key_ref: str) -> dict[str, str]:
    return {"pk": f"PII_KEY#{key_ref}", "sk": "KEY"}


def settings_version_sk(version: int) -> str:
    return f"V#{version:010d}"


def settings_version_key(version: int) -> dict[str, str]:
    """One saved version of the distribution settings (immutable)."""
    return {"pk": SETTINGS_PK, "sk": settings_version_sk(version)}


def idempotency_partition(function: str) -> str:
    """The one partition of a function's idempotency records (Powertools' static partition key)."""
    return f"IDEMPOTENCY#{function}"


def request_marker_key(function: str, digest: str) -> dict[str, str]:
    """An ``Idempotency-Key`` marker written inside the use case's own transaction (beside
    Powertools' records, in the function's idempotency partition)."""
    return {"pk": idempotency_partition(function), "sk": f"REQUEST#{digest}"}
