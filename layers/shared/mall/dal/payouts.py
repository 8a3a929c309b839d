"""Payout changes of the withdrawal record (docs/data-model.md, "payouts").

The record and its units of work belong to ``mall.dal.withdrawals``: every change here is
``WithdrawalRepository.transition``, conditional on the status and version read, with its timeline
entry, ``gsi1pk`` moved to ``WITHDRAWALS#<status>``, and, entering PAID or FAILED, its posting
(``withdrawal_paid`` / ``withdrawal_returned``) in the same transaction, so the status changes
once and the money moves once. Payouts add:

- APPROVED → PAYING (``paying_at``), then the bill's ``transfer_bill_no`` / ``bill_state`` /
  ``package_info`` recorded in place while PAYING;
- ``payout_error`` {code, message, at} and ``payout_attempts``: the last transfer call WeChat Pay
  did not confirm (the withdrawal stays PAYING and is retried with the same number);
- the gsi1 reads of the reconciler (``WITHDRAWALS#<status>`` created before a cut-off).
"""

from __future__ import annotations

import contextlib
from collections.abc import Mapping
from datetime import datetime
from typing import Any

from mall.clock import iso
from mall.dal.audit import AuditEntry
from mall.dal.identity import CustomerRepository
from mall.dal.keys import withdrawal_key, withdrawal_status_partition
from mall.dal.ledger import LedgerRepository
from mall.dal.table import ConditionFailed, Key, Page, Table
from mall.dal.withdrawals import StaleWithdrawal, WithdrawalRepository
from mall.domain.payouts import FAILED, PAID, PAYING
from mall.domain.withdrawals import Withdrawal

__all__ = ["AuditEntry", "PayoutRepository"]

INDEX = "gsi1"


class PayoutRepository:
    def __init__(self, table: Table) -> None:
        self._table = table
        self._withdrawals = WithdrawalRepository(table)

    @property
    def withdrawals(self) -> WithdrawalRepository:
        return self._withdrawals

    @property
    def ledger(self) -> LedgerRepository:
        return self._withdrawals.ledger

    # ---- reads ----------------------------------------------------------------------------------

    def get(self, withdrawal_id: str, *, consistent: bool = True) -> Withdrawal | None:
        return self._withdrawals.get(withdrawal_id, consistent=consistent)

    def payee_openid(self, promoter_id: str) -> str | None:
        """The promoter's openid for this mini-program (on the customer profile)."""
        customer = CustomerRepository(self._table).get(promoter_id)
        return customer.openid if customer is not None else None

    def by_status(self, status: str, *, created_before: datetime, limit: int = 100,
                  start_key: Key | None = None) -> Page:
        """Withdrawals in ``status`` created before ``created_before``, oldest first (gsi1)."""
        return self._table.query_where(
            "#pk = :pk AND #sk < :before", names={"#pk": "gsi1pk", "#sk": "gsi1sk"},
            values={":pk": withdrawal_status_partition(status), ":before": iso(created_before)}, index=INDEX,
            limit=limit, start_key=start_key)

    # ---- changes (None: the record moved on meanwhile; read it again) ---------------------------

    def _move(self, w: Withdrawal, **kwargs: Any) -> Withdrawal | None:
        try:
            return self._withdrawals.transition(w, **kwargs)
        except StaleWithdrawal:
            return None

    def start_paying(self, w: Withdrawal, *, now: datetime) -> Withdrawal | None:
        """APPROVED → PAYING (``paying_at``), only while the promoter owes nothing (else ``OwesDebt``)."""
        return self._move(w, to=PAYING, now=now, by="system", note=f"WeChat transfer {w.out_bill_no}",
                          require_no_debt=True)

    def record_bill(self, w: Withdrawal, *, transfer_bill_no: str | None, bill_state: str,
                    package_info: str | None, now: datetime) -> Withdrawal | None:
        """The bill's number and state (and ``package_info`` for the confirm page) while PAYING."""
        return self._move(w, to=PAYING, now=now, by="wechatpay", note=f"transfer bill {bill_state}",
                          sets={"transfer_bill_no": transfer_bill_no, "bill_state": bill_state,
                                "package_info": package_info})

    def record_error(self, w: Withdrawal, *, code: str, message: str, now: datetime) -> None:
        """Why the last transfer call did not go through (stays PAYING; retried with the same number)."""
        with contextlib.suppress(ConditionFailed):  # no longer PAYING: nothing to retry
            self._table.update(withdrawal_key(w.withdrawal_id), "SET payout_error = :error ADD payout_attempts :one",
                               condition="#status = :paying", names={"#status": "status"},
                               values={":error": {"code": code[:64], "message": message[:200], "at": iso(now)},
                                       ":one": 1, ":paying": PAYING.value})

    def clear_error(self, w: Withdrawal) -> None:
        """The transfer call went through after all: forget the last error."""
        with contextlib.suppress(ConditionFailed):
            self._table.update(withdrawal_key(w.withdrawal_id), "REMOVE payout_error", condition="attribute_exists(pk)")

    def mark_paid(self, w: Withdrawal, *, now: datetime, by: str, note: str, bank_reference: str | None = None,
                  bill_state: str | None = None, audit: AuditEntry | None = None) -> Withdrawal | None:
        """PAYING / APPROVED (bank) → PAID with ``withdrawal_paid`` (withdrawing → withdrawn, fee → merchant)."""
        sets: Mapping[str, Any] = {"bank_reference": bank_reference, "bill_state": bill_state}
        return self._move(w, to=PAID, now=now, by=by, note=note, sets=sets, audit=audit)

    def mark_failed(self, w: Withdrawal, *, reason: str, now: datetime, by: str, note: str | None = None,
                    bill_state: str | None = None, audit: AuditEntry | None = None) -> Withdrawal | None:
        """PAYING / APPROVED → FAILED with ``withdrawal_returned`` (withdrawing → available)."""
        sets: Mapping[str, Any] = {"fail_reason": reason, "bill_state": bill_state}
        return self._move(w, to=FAILED, now=now, by=by, note=note or reason, sets=sets, audit=audit)
