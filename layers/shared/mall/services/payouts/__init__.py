"""Payouts (提现打款): WeChat merchant transfers (商家转账) and bank transfers marked by an admin.

Modules: ``gateway`` (what payouts need of WeChat Pay, and how transfers are declared), ``start``,
``bills``, ``bank`` and ``reconcile``.

- ``start_payout``: APPROVED → PAYING, then the transfer bill with the withdrawal's ``out_bill_no``
  (safe to repeat: WeChat Pay answers the bill it already has for a number; same amount, same
  openid). ``WAIT_USER_CONFIRM`` stores ``package_info`` for the mini-program's confirm page.
- ``handle_transfer_notification`` (MCHTRANSFER.BILL.FINISHED, via the webhook), the reconciler and
  a repeated create all go through ``apply_bill``: SUCCESS → PAID (``withdrawal_paid``),
  FAIL / CANCELLED → FAILED (``withdrawal_returned``). The status changes in the same transaction
  as its posting, conditional on PAYING and the version, so duplicates and concurrent deliveries
  change it once. A bill whose amount, number or payee is not the withdrawal's changes nothing.
- A terminal failed bill is never retried under the same number: FAILED is final.
- ``mark_bank_paid`` / ``mark_bank_failed``: an admin finishes an APPROVED bank withdrawal (audited).
- ``reconcile_payouts``: bills stuck in a non-terminal state, and APPROVED withdrawals never started.
- A debt (docs/settlement.md, "Debt and withdrawals in flight"): APPROVED → PAYING commits only while
  the promoter owes nothing (else the withdrawal fails, its funds repaying the debt first); a PAYING
  withdrawal with a ``cancel_reason`` has its bill cancelled at WeChat Pay (``_cancel_bill``), never
  created, by the worker and by every reconciler run.
"""
