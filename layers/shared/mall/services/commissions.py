"""Commission (佣金): keeping an order's commission records in step with the order (the self-purchase
discount at placing: ``mall.services.self_purchase``; the views and the preview:
``mall.services.commission_views``).

``sync_order`` is the whole computation. It is driven by the order stream (through
``CommissionQueue``: at-least-once, in any order, possibly concurrently) and converges: it reads
the order and its records and brings the records to what the order implies, one conditional
write at a time, re-reading after anything it lost a race on.

1. Create (once per order): when the order was ever paid, every line's L1 / L2 commission is
   decided (``mall.domain.commission.decide_order_commissions``) and the records, their
   ``commission_frozen`` postings and the order's plan item go in ONE ledger transaction, all
   conditional on not existing. The plan makes the decision final, even when it created nothing.
   Who earns and at which rates comes from the order's commission basis, fixed when its payment was
   recorded (``COMMISSION_BASIS``, docs/commission-snapshot.md); an order waiting for its
   ``first_payment`` binding has it made first. Only orders paid before bases existed read the
   promoters and categories as they are now.
2. Due date: once the record's line is complete (``mall.domain.settlement.line_completed_at``: a
   service line at its 核销, any other line when the order completed), each FROZEN record gets
   ``due_at = line completed + settlement_days`` (of the record's rules version) and enters the
   settlement due index.
3. Refunds: a line's ``refunded_fen`` above the record's ``refunded_base_fen`` reduces the record to
   ``remaining_after_refund`` of the line's total refund: cancelled from frozen before settlement
   (CANCELLED at zero), clawed back from available after (a shortfall becomes debt).
4. Team bonus: once the records are in step, an order with refunds recomputes the team bonus already
   paid for its month to each promoter it counts for (``mall.services.team_bonus.recompute_for_order``).
   The creation transaction also writes the order's team order items (the month index the team bonus
   reads, ``mall.dal.team_bonus.team_order_writes``).

Steps 2 and 3 are one conditional update per record (``version``, ``status``,
``refunded_base_fen`` as read) in the transaction of its posting: a concurrent or repeated sync
applies each adjustment once.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any, Self

from aws_lambda_powertools import Logger

from mall.clock import iso, parse_instant
from mall.dal.catalog import CategoryRepository, ProductRepository
from mall.dal.commission_sync import CommissionSyncStore, OrderCommissions, applied_record
from mall.dal.ledger import LedgerRefused, LedgerRepository
from mall.dal.payment_snapshot import snapshot_from_item
from mall.dal.referral import PromoterRepository
from mall.dal.risk import RiskHoldRepository
from mall.dal.settings import SettingsRepository
from mall.dal.withdrawals import WithdrawalRepository
from mall.domain.campaigns import campaign_boost
from mall.domain.catalog import Category
from mall.domain.commission import (
    Beneficiary,
    LevelDecision,
    decide_order_commissions,
    ever_paid,
)
from mall.domain.commission_changes import plan_record_change
from mall.domain.commission_records import CommissionRecord, CommissionStatus, commission_id
from mall.domain.ledger import Posting, commission_cancelled, commission_clawed_back, commission_frozen
from mall.domain.payment_snapshot import PaymentSnapshot
from mall.domain.settlement import line_completed_at
from mall.domain.stats_funnel import order_channel
from mall.services.payment_snapshot import BasisRepositories, resolve_binding
from mall.services.team_bonus import TeamBonusRepositories, recompute_for_order
from mall.services.withdrawal_debt import PayoutQueue, cancel_withdrawals_for_debt

if TYPE_CHECKING:
    from mall.dal.table import Item, Table, Write
    from mall.domain.settings import DistributionSettings

logger = Logger(child=True)

#: Rounds of read-and-apply. One round normally creates, the next applies refunds and due dates,
#: a third confirms; more only when concurrent syncs keep winning races.
MAX_ROUNDS = 12


@dataclass(frozen=True)
class CommissionRepositories:
    """What the commission sync and the commission views read and write through."""

    store: CommissionSyncStore
    ledger: LedgerRepository
    settings: SettingsRepository
    holds: RiskHoldRepository
    promoters: PromoterRepository
    categories: CategoryRepository
    products: ProductRepository
    team_bonus: TeamBonusRepositories
    #: A promoter who owes has their withdrawals in flight cancelled (``mall.services.withdrawal_debt``).
    withdrawals: WithdrawalRepository
    #: Makes the ``first_payment`` binding an order's basis waits for (``mall.services.payment_snapshot``).
    basis: BasisRepositories

    @classmethod
    def on(cls, table: Table) -> Self:
        return cls(
            store=CommissionSyncStore(table), ledger=LedgerRepository(table), settings=SettingsRepository(table),
            holds=RiskHoldRepository(table), promoters=PromoterRepository(table),
            categories=CategoryRepository(table), products=ProductRepository(table),
            team_bonus=TeamBonusRepositories.on(table), withdrawals=WithdrawalRepository(table),
            basis=BasisRepositories.on(table))


class SyncIncomplete(RuntimeError):
    """The records did not settle after ``MAX_ROUNDS`` (constant contention): the message is
    retried by the queue, and a retry continues where this one stopped."""


@dataclass
class SyncResult:
    order_id: str
    outcome: str = "synced"  # synced | no_order | not_paid
    created: int = 0  # records created by this call
    due_set: int = 0  # records given their due date by this call
    cancelled_fen: int = 0  # taken back before settlement by this call
    clawed_back_fen: int = 0  # taken back after settlement by this call
    rounds: int = 0
    records: int = 0  # records of the order after this call

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def _when(value: Any) -> datetime | None:
    return parse_instant(str(value)) if value else None


class Rules:
    """Settings versions, read once per sync."""

    def __init__(self, repo: SettingsRepository) -> None:
        self._repo = repo
        self._cache: dict[int, DistributionSettings] = {}

    def version(self, version: int) -> DistributionSettings:
        if version not in self._cache:
            found = self._repo.get(version)
            if found is None:  # never deleted: a missing version is a data error, not a zero commission
                raise LookupError(f"settings version {version} does not exist")
            self._cache[version] = found.settings
        return self._cache[version]


def sync_order(repos: CommissionRepositories, *, order_id: str, now: datetime,
               payouts: PayoutQueue | None = None, seen_version: int | None = None) -> SyncResult:
    """Bring the commission records of ``order_id`` to what the order implies (module doc).
    Idempotent and safe to run concurrently; raises ``SyncIncomplete`` (retry) under endless
    contention and ``LookupError`` if the order's rules version is missing. ``seen_version``: the
    order's version in the change that asked for this sync; the first read of the order is then
    eventually consistent when it shows at least that version (``CommissionSyncStore.read``)."""
    store = repos.store
    rules = Rules(repos.settings)
    result = SyncResult(order_id=order_id)
    # After this call's own writes all committed, the next round starts from what they wrote instead
    # of reading it back: every write was conditional on the state it was computed from, so that
    # state plus the writes is what a read would return. A change of the order meanwhile reaches
    # the sync again through the order stream (a later delivery reads it); a race lost reads again.
    known: OrderCommissions | None = None
    refused_once = False
    for round_number in range(1, MAX_ROUNDS + 1):
        result.rounds = round_number
        # A later round (after a lost race) reads consistently.
        state, known = known or store.read(order_id, at_least_version=seen_version if round_number == 1 else None), None
        if state.order is None:
            result.outcome = "no_order"
            return result
        if not ever_paid(state.order):
            result.outcome = "not_paid"
            return result
        result.records = len(state.records)
        if state.plan is None and not state.records:  # records never exist without the plan: decided
            basis = snapshot_from_item(state.basis) if state.basis is not None else None
            if basis is not None and basis.waits_for_binding:
                resolve_binding(repos.basis, basis, now=now)  # the first_payment binding this order waits for
                continue
            try:
                created = _create(repos, rules, state.order, now, basis, consistent_holds=refused_once)
            except LedgerRefused as refused:  # another sync created them first (read what it wrote), or a hold
                refused_once = True          # opened or lifted since it was read (read it consistently now)
                logger.info("commission creation lost a race", extra={"order_id": order_id,
                                                                      "labels": refused.labels[:5]})
                continue
            result.created += len(created)
            known = store.as_created(state, created)
            continue
        again, changed = _adjust(repos, rules, state, now, result)
        if again:
            if changed is not None:
                known = store.as_changed(state, changed)
            continue
        recomputed = recompute_for_order(repos.team_bonus, order=state.order, records=state.records, now=now)
        # A clawback (of commission, or of a team bonus the refund reduced) that left a debt
        # cancels the promoter's withdrawals in flight: run on every delivery (idempotent), so a
        # crash after the clawback's commit is finished by the retry.
        owing = {r.beneficiary_id for r in state.records if r.clawed_back_fen} | {
            bonus.promoter_id for bonus in recomputed}
        for uid in sorted(owing):
            cancel_withdrawals_for_debt(withdrawals=repos.withdrawals, promoter_id=uid, now=now, queue=payouts)
        return result
    raise SyncIncomplete(f"commission of order {order_id} still changing after {MAX_ROUNDS} rounds")


@dataclass(frozen=True)
class Creation:
    """An order's commission as decided: its ``commission_frozen`` postings and the writes that go
    in their transaction (the plan, the records, the team order items, the hold checks) and, per
    beneficiary, whether their wallet must carry the risk-hold flag or not (``held``)."""

    order_id: str
    records: Sequence[CommissionRecord]
    postings: Sequence[Posting]
    also: Sequence[Write]
    held: Mapping[str, bool] = field(default_factory=dict)


def _create(repos: CommissionRepositories, rules: Rules, order: Item, now: datetime,
            basis: PaymentSnapshot | None, *, consistent_holds: bool = False) -> Sequence[CommissionRecord]:
    """Decide and record the order's commission in one ledger transaction; the records it created."""
    creation = decide_creation(repos, rules, order, now, basis, consistent_holds=consistent_holds)
    repos.ledger.post(creation.postings, also=creation.also, held=creation.held, now=now)
    logger.info("commission created", extra={"order_id": creation.order_id, "records": len(creation.records),
                                              "amount_fen": sum(r.amount_fen for r in creation.records)})
    return creation.records


def decide_creation(repos: CommissionRepositories, rules: Rules, order: Item, now: datetime,
                    basis: PaymentSnapshot | None, *, consistent_holds: bool = False) -> Creation:
    """Decide the order's commission (nothing is written). With a ``basis`` (taken at payment)
    everything that can change later comes from it; an order paid before bases existed reads its
    attribution from the order and the promoters and categories as they are now.

    The beneficiaries' holds are read eventually consistent unless ``consistent_holds``: the
    transaction commits only if each is still held or not as read (``Creation.held``), so a stale
    read is refused, never recorded; the caller then decides again with a consistent read."""
    order_id = str(order["order_id"])
    attribution: Mapping[str, Any] = order.get("attribution") or {}
    l1_id = attribution.get("l1_promoter_id") or None
    l2_id = attribution.get("l2_promoter_id") or None
    version = int(attribution.get("settings_version", order.get("settings_version", 0)) or 0)
    context = {"settings_version": version, "basis": str(attribution.get("basis", "none")),
               "self_purchase": bool(attribution.get("self_purchase", False))}
    if basis is not None:
        l1_id, l2_id = basis.earning()
        version = basis.settings_version
        context = {"settings_version": version, "basis": basis.basis, "self_purchase": basis.self_purchase}
    decisions: list[LevelDecision] = []
    holds: dict[str, dict[str, Any]] = {}
    if l1_id is not None or l2_id is not None:
        settings = rules.version(version)
        wanted = [uid for uid in (l1_id, l2_id) if uid is not None]
        holds = repos.holds.get_many(wanted, consistent=consistent_holds)
        lines: Sequence[Mapping[str, Any]] = order.get("lines") or []
        found: dict[str, Beneficiary | None]
        categories: dict[str, Category] = {}
        if basis is not None:
            found = {uid: basis.promoters.get(uid) for uid in wanted}
            categories = basis.category_objects()
        else:
            found = {uid: repos.promoters.get(uid, consistent=True) for uid in wanted}
            for category_id in {str(line.get("category_id")) for line in lines if line.get("category_id")}:
                category = repos.categories.get(category_id, consistent=True)
                if category is not None:
                    categories[category_id] = category
        decisions = decide_order_commissions(
            lines=lines, l1=found.get(l1_id) if l1_id else None, l2=found.get(l2_id) if l2_id else None,
            l1_id=l1_id, l2_id=l2_id, settings=settings, categories=categories, context=context,
            boost=campaign_boost(basis.campaigns, at=basis.taken_at, l1=found.get(l1_id) if l1_id else None,
                                 l2=found.get(l2_id) if l2_id else None) if basis is not None else None)
    lines_by_id = {str(line["line_id"]): line for line in order.get("lines") or []}
    records: list[CommissionRecord] = []
    postings: list[Posting] = []
    for decision in decisions:
        if decision.outcome != "earn":
            continue
        line = lines_by_id[decision.line_id]
        cid = commission_id(order_id, decision.line_id, decision.level)
        hold = holds.get(decision.beneficiary_id)
        records.append(CommissionRecord(
            commission_id=cid, order_id=order_id, line_id=decision.line_id, level=decision.level,
            beneficiary_id=decision.beneficiary_id, buyer_id=str(order["buyer_id"]),
            product_id=str(line.get("product_id", "")), product_name=str(line.get("name", "")),
            quantity=int(line.get("quantity", 1)), base_fen=int(decision.rule["base_fen"]),
            amount_fen=decision.amount_fen, status=CommissionStatus.FROZEN, rule=decision.rule, created_at=now,
            hold=str(hold.get("case_id") or "open") if hold else None,
            history=[{"at": iso(now), "status": CommissionStatus.FROZEN.value, "amount_fen": decision.amount_fen}],
            share_channel=order_channel(order),
        ))
        postings.append(commission_frozen(
            promoter_id=decision.beneficiary_id, commission_id=cid, amount_fen=decision.amount_fen, at=now,
            ref={"order_id": order_id, "line_id": decision.line_id, "level": str(decision.level),
                 "commission_id": cid}))
    also = [repos.store.plan_write(order_id, decisions, context=context, now=now),
            *map(repos.store.record_put, records)]
    paid_at = _when(order.get("paid_at"))
    if paid_at is not None:
        also += repos.team_bonus.bonuses.team_order_writes(records, paid_at=paid_at)
    # The holds were read before this transaction: it commits only if none opened or lifted since
    # (else the redelivered sync decides again), so no record is born with a stale hold state. The
    # condition rides on each beneficiary's wallet, which the transaction updates anyway.
    checks, held = repos.holds.conditions({r.beneficiary_id: r.beneficiary_id in holds for r in records})
    return Creation(order_id, records, postings, [*also, *checks], held)


def _adjust(repos: CommissionRepositories, rules: Rules, state: OrderCommissions, now: datetime,
            result: SyncResult) -> tuple[bool, list[CommissionRecord] | None]:
    """Apply due dates and refunds; True when anything was written or lost a race (another round),
    with the records as written when every write committed (None: a race was lost, read again)."""
    order = state.order or {}
    refunded = {str(line["line_id"]): int(line.get("refunded_fen", 0) or 0) for line in order.get("lines") or []}
    again = False
    changed: list[CommissionRecord] | None = []
    for record in state.records:
        days = rules.version(int(record.rule.get("settings_version", 0))).commission.settlement_days
        # Each line's T+N starts at its own completion (a service line's at its 核销).
        change = plan_record_change(record, line_refunded_fen=refunded.get(record.line_id, 0),
                                    completed_at=line_completed_at(order, record.line_id), settlement_days=days)
        if change is None:
            continue
        again = True
        ref = {"order_id": record.order_id, "line_id": record.line_id, "level": str(record.level),
               "commission_id": record.commission_id}
        postings: list[Posting] = []
        expect = None
        if change.cancel_fen:
            postings.append(commission_cancelled(promoter_id=record.beneficiary_id, commission_id=record.commission_id,
                                                 amount_fen=change.cancel_fen, at=now, ref=ref, step=change.step))
        if change.claw_back_fen:
            wallet = repos.ledger.wallet(record.beneficiary_id)
            postings.append(commission_clawed_back(balances=wallet.balances, promoter_id=record.beneficiary_id,
                                                   commission_id=record.commission_id,
                                                   amount_fen=change.claw_back_fen, at=now, ref=ref,
                                                   step=change.step))
            expect = {record.beneficiary_id: wallet}
        try:
            repos.ledger.post(postings, also=[repos.store.record_change_write(record, change, now=now)], expect=expect,
                              now=now)
        except LedgerRefused as refused:
            logger.info("commission adjustment lost a race", extra={"commission_id": record.commission_id,
                                                                     "labels": refused.labels[:5]})
            changed = None
            continue
        if changed is not None:
            changed.append(applied_record(record, change))
        result.due_set += 1 if change.due_at is not None else 0
        result.cancelled_fen += change.cancel_fen
        result.clawed_back_fen += change.claw_back_fen
    return again, changed
