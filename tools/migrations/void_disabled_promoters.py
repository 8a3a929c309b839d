"""Unsettled money of promoters disabled before disabling voided it.

A disable now voids the promoter's unsettled commission and team bonus records through the ledger
(``commission_voided``, audited; ``mall.services.settlement.void_disabled_promoter``). Promoters
disabled earlier still have FROZEN records: this voids each one whose promoter is disabled, exactly
as the disable does (actor ``migration``). Run it again at any time to finish a disable whose
follow-up was interrupted (the settlement also voids such a record once it is due).

Idempotent: each void is one transaction conditional on the record being FROZEN at the version
read, with a deterministic posting id; a voided record is CANCELLED and no longer scanned."""

from __future__ import annotations

from mall.clock import utc_now
from mall.dal.keys import promoter_key
from mall.dal.settlement import SettlementRepository
from mall.dal.table import Item, Table
from mall.domain.commission_records import CommissionStatus
from mall.domain.settlement import voids_unsettled
from tools.migrations import Migration

NAME = "void_disabled_promoters"
ACTOR = "migration"


def apply(table: Table, item: Item, dry_run: bool) -> bool:
    if item.get("entity") not in {"commission", "bonus"} or item.get("status") != CommissionStatus.FROZEN.value:
        return False
    promoter = table.get(promoter_key(str(item["beneficiary_id"])), consistent=True)
    if promoter is None or not voids_unsettled(str(promoter.get("status"))):
        return False
    if dry_run:
        return True
    report = SettlementRepository(table).void_one({"pk": item["pk"], "sk": item["sk"]}, by=ACTOR, now=utc_now())
    return report.voided > 0


MIGRATION = Migration(
    name=NAME,
    description="void the unsettled commission and team bonus records of promoters who are disabled",
    apply=apply,
    filter_expression="entity IN (:commission, :bonus) AND #status = :frozen",
    names={"#status": "status"},
    values={":commission": "commission", ":bonus": "bonus", ":frozen": CommissionStatus.FROZEN.value},
)
