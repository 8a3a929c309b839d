"""Audit entries on DynamoDB Local: an entry is never overwritten (the conditional put), an action
whose transaction fails leaves no entry, and two admins saving at once leave exactly one."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from threading import Barrier

import pytest

from mall.dal import audit as audit_module
from mall.dal.audit import AuditEntry, AuditLog
from mall.dal.keys import audit_partition
from mall.dal.referral import PromoterRepository
from mall.dal.settings import SettingsRepository
from mall.dal.table import ConditionFailed, Table, TransactionCancelled, Write
from mall.domain.referral import Promoter
from mall.domain.settings import DistributionSettings
from mall.errors import Conflict

NOW = datetime(2026, 11, 22, 8, 0, tzinfo=UTC)


def entry(action: str = "settings.save", **changes: object) -> AuditEntry:
    fields: dict[str, object] = {"action": action, "actor": "admin:alice", "entity_type": "settings",
                                 "entity_id": "distribution", "source_ip": "203.0.113.9",
                                 "before": {"promoter_title": "推广员"}, "after": {"promoter_title": "推客"}}
    fields.update(changes)
    return AuditEntry(**fields)  # type: ignore[arg-type]


def entries(table: Table) -> list[dict[str, object]]:
    return AuditLog(table).on(NOW)


def test_the_log_has_no_way_to_change_an_entry() -> None:
    assert not [name for name in dir(AuditLog) if any(w in name.lower() for w in ("update", "delete", "remove"))]


def test_an_existing_entry_cannot_be_overwritten(table: Table, monkeypatch: pytest.MonkeyPatch) -> None:
    log = AuditLog(table)
    monkeypatch.setattr(audit_module, "new_id", lambda prefix: f"{prefix}_fixed")  # the same key twice
    first = log.append(entry(), NOW)
    with pytest.raises(ConditionFailed):
        log.append(entry(after={"promoter_title": "forged"}), NOW)
    with pytest.raises(TransactionCancelled) as cancelled:
        table.transact([log.write(entry(after={"promoter_title": "forged"}), NOW)])
    assert cancelled.value.reasons == ["ConditionalCheckFailed"]
    stored = table.get({"pk": first["pk"], "sk": first["sk"]}, consistent=True)
    assert stored is not None and stored["after"] == {"promoter_title": "推客"}
    assert [e["audit_id"] for e in entries(table)] == ["au_fixed"]


def test_a_failed_settings_save_writes_no_entry(table: Table) -> None:
    repo = SettingsRepository(table)
    repo.save(DistributionSettings(), based_on=0, saved_by="admin:alice", now=NOW, audit=entry())
    with pytest.raises(Conflict):
        repo.save(DistributionSettings(promoter_title="推客"), based_on=0, saved_by="admin:bob", now=NOW,
                  audit=entry(actor="admin:bob"))
    assert [e["actor"] for e in entries(table)] == ["admin:alice"]


def test_a_promoter_change_from_a_stale_state_writes_no_entry(table: Table) -> None:
    repo = PromoterRepository(table)
    promoter = Promoter(user_id="u_p", code="CODE1", status="active", level_id="basic", applied_at=NOW,
                        activated_at=NOW)
    repo.create(promoter, grant_role=False, replaces_rejected=False, now=NOW, reserve_code=True)
    audit = entry("promoter.freeze", entity_type="promoter", entity_id="u_p")
    repo.change_status(promoter, to_status="frozen", action="freeze", by="admin:alice", reason="x", now=NOW,
                       grant_role=False, audit=audit)
    with pytest.raises(TransactionCancelled):  # the same decision again, from the state it no longer has
        repo.change_status(promoter, to_status="frozen", action="freeze", by="admin:bob", reason="x", now=NOW,
                           grant_role=False, audit=entry("promoter.freeze", actor="admin:bob"))
    assert [(e["action"], e["actor"]) for e in entries(table)] == [("promoter.freeze", "admin:alice")]


def test_two_admins_saving_at_once_leave_one_version_and_one_entry(table: Table) -> None:
    repo = SettingsRepository(table)
    workers = 8
    barrier = Barrier(workers)

    def save(n: int) -> str:
        barrier.wait()
        try:
            repo.save(DistributionSettings(promoter_title=f"推客{n}"), based_on=0, saved_by=f"admin:a{n}", now=NOW,
                      audit=entry(actor=f"admin:a{n}", after={"promoter_title": f"推客{n}"}))
        except Conflict:
            return "lost"
        return "won"

    with ThreadPoolExecutor(workers) as pool:
        outcomes = list(pool.map(save, range(workers)))
    assert outcomes.count("won") == 1
    found = entries(table)
    assert len(found) == 1
    winner = repo.current(consistent=True)
    assert found[0]["actor"] == winner.saved_by


def test_writes_that_touch_an_entry_are_only_puts(table: Table) -> None:
    """What the IAM boundary leaves allowed on AUDIT# keys is a conditional put: no code path here
    issues an Update or Delete on one (the boundary would refuse it in AWS)."""
    write = AuditLog(table).write(entry(), NOW)
    assert list(write.op) == ["Put"] and write.op["Put"]["ConditionExpression"] == "attribute_not_exists(pk)"
    assert write.op["Put"]["Item"]["pk"] == {"S": audit_partition(NOW)}
    assert isinstance(write, Write)
