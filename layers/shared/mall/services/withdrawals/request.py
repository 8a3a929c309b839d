"""The promoter's request (提现申请), and the hand-over of an approved withdrawal to the payout."""

from __future__ import annotations

import random
import time
from datetime import datetime
from typing import TYPE_CHECKING

from aws_lambda_powertools import Logger

from mall.clock import iso
from mall.dal import risk as _risk_holds  # noqa: F401 (below)
from mall.dal.ledger import Wallet
from mall.dal.request_markers import MarkedRequest
from mall.dal.settings import SettingsRepository
from mall.dal.withdrawals import RequestRefused, WithdrawalRepository, bank_context, new_withdrawal_id
from mall.domain import masking
from mall.domain import withdrawals as rules
from mall.domain.withdrawals import Refusal, Today, Withdrawal, WithdrawalStatus
from mall.errors import Conflict, FieldProblem, InvalidInput
from mall.integrations import pii_crypto
from mall.schemas.withdrawals import BankAccountIn, WithdrawalRequest, WithdrawalView
from mall.services.request_replay import replay
from mall.services.withdrawal_debt import PayoutQueue
from mall.services.withdrawals.views import withdrawal_view

# ``_risk_holds``: every request's transaction checks the promoter's risk hold; the withdrawals' repository
# imports its modules where it uses them (a payout never does), so the request's function loads them at
# cold start, here.

if TYPE_CHECKING:
    from mall.domain.settings import WithdrawalRules

logger = Logger(child=True)

#: The request's transaction is conditional on the balance and on owing nothing, not on the wallet's
#: version, so concurrent requests do not invalidate each other; a refusal re-reads the wallet to
#: name the rule, and tries again only when the re-read shows the request would now fit.
MAX_REQUEST_ATTEMPTS = 5


def _refuse(refusal: Refusal | None) -> None:
    if refusal is not None:
        logger.info("withdrawal refused", extra={"code": refusal.code, "rule": refusal.rule})
        raise refusal.error()


def _sealed_bank(bank: BankAccountIn, withdrawal_id: str) -> dict[str, str]:
    context = bank_context(withdrawal_id)
    sealed = {"bank_name": bank.bank_name, "account_name_enc": pii_crypto.encrypt(bank.account_name, context=context),
              "account_no_enc": pii_crypto.encrypt(bank.account_no, context=context),
              "account_name_masked": masking.mask_name(bank.account_name), "account_no_last4": bank.account_no[-4:]}
    if bank.branch:
        sealed["branch"] = bank.branch
    return sealed


def request_withdrawal(*, withdrawals: WithdrawalRepository, settings: SettingsRepository, promoter_id: str,
                       body: WithdrawalRequest, now: datetime, queue: PayoutQueue | None,
                       marked: MarkedRequest | None = None) -> WithdrawalView:
    """提现申请. Every check is made on what was read (one BatchGetItem), then again by the
    transaction's conditions (balance, daily counter, risk hold, promoter status, wallet version),
    so no interleaving of concurrent requests passes a limit; a refusal changes nothing. With an
    ``Idempotency-Key`` (``marked``), its marker is read with the rest and written in the
    transaction: a retry gets the first withdrawal back."""
    facts = withdrawals.request_facts(promoter_id, now=now, settings=settings, marked=marked)
    if marked is not None and (earlier := replay(facts.marker, marked, WithdrawalView)) is not None:
        return earlier
    limits = facts.current.settings.withdrawal
    _refuse(rules.check_amount(body.amount_fen, body.method, limits))
    if body.method == "bank" and body.bank is None:
        raise InvalidInput("a bank withdrawal needs the bank account", code="bank_account_required",
                           fields=[FieldProblem("bank", "required when method is bank")])
    if body.method == "wechat" and body.bank is not None:
        raise InvalidInput("a WeChat withdrawal takes no bank account", code="bank_account_unexpected",
                           fields=[FieldProblem("bank", "only for method bank")])
    _refuse(rules.check_promoter(facts.promoter_status))
    _refuse(rules.check_risk_hold(facts.risk_held))
    _refuse(rules.check_daily(body.amount_fen, facts.today, limits))
    wallet = facts.wallet
    _refuse(rules.check_account(body.amount_fen, available_fen=wallet.balances.available,
                                owed_fen=wallet.balances.owed_fen))

    # An open risk case refuses the request outright (above); softer risk flags would go here.
    decision = rules.review_of(body.amount_fen, limits, risk_flag=False)
    withdrawal_id = new_withdrawal_id()
    bank = _sealed_bank(body.bank, withdrawal_id) if body.bank is not None else None
    record = rules.new_withdrawal(withdrawal_id=withdrawal_id, promoter_id=promoter_id, amount_fen=body.amount_fen,
                                  method=body.method, rules=limits, decision=decision, at=iso(now), bank=bank)
    view = withdrawal_view(record, for_promoter=True)
    marker = marked.put(view.model_dump_json()) if marked is not None else None
    for attempt in range(MAX_REQUEST_ATTEMPTS):
        try:
            withdrawals.create(record, wallet=wallet, rules=limits, now=now, marker=marker)
            break
        except RequestRefused as exc:
            if exc.by == "marker" and marked is not None:
                earlier = replay(marked.state(exc.current), marked, WithdrawalView)
                if earlier is not None:  # a concurrent request with the same key committed first
                    return earlier
            wallet = _after_refusal(exc, withdrawals=withdrawals, promoter_id=promoter_id, amount_fen=body.amount_fen,
                                    limits=limits, now=now)
            time.sleep(random.uniform(0, min(0.005 * 2 ** min(attempt, 6), 0.2)))  # noqa: S311 - jitter
    else:
        raise Conflict("too many simultaneous withdrawals on this account; retry", code="withdrawal_contention")
    logger.info("withdrawal requested", extra={"withdrawal_id": withdrawal_id, "amount_fen": body.amount_fen,
                                               "review": decision.review})
    if record.status == WithdrawalStatus.APPROVED:
        send_to_payout(queue, record)
    return view


def _after_refusal(exc: RequestRefused, *, withdrawals: WithdrawalRepository, promoter_id: str, amount_fen: int,
                   limits: WithdrawalRules, now: datetime) -> Wallet:
    """Turn the transaction's refusal into the rule's 4xx, or return the fresh wallet to retry
    with when the refusal was only a race (another request moved the wallet first)."""
    if exc.by == "promoter":
        _refuse(rules.check_promoter(withdrawals.promoter_status(promoter_id)))
    elif exc.by == "risk_hold":
        _refuse(rules.check_risk_hold(True))
    elif exc.by == "daily_limit":
        current = exc.current or {}
        seen = Today(int(current.get("count", 0)), int(current.get("amount_fen", 0)))
        _refuse(rules.check_daily(amount_fen, seen, limits)
                or rules.check_daily(amount_fen, withdrawals.today(promoter_id, now), limits))
    elif exc.by == "exists":
        raise Conflict("this withdrawal was already recorded", code="withdrawal_exists")
    wallet = withdrawals.ledger.wallet(promoter_id)
    _refuse(rules.check_account(amount_fen, available_fen=wallet.balances.available, owed_fen=wallet.balances.owed_fen))
    return wallet


def send_to_payout(queue: PayoutQueue | None, w: Withdrawal) -> None:
    """After the commit; never fails the request (the payout reconciler finds unsent ones). A bank
    withdrawal is not sent: an admin pays it by hand and marks it (``mall.services.payouts``)."""
    if w.method != "wechat":
        return
    withdrawal_id = w.withdrawal_id
    if queue is None:
        logger.warning("no payout queue configured; the payout reconciler will start it",
                       extra={"withdrawal_id": withdrawal_id})
        return
    try:
        queue.send({"withdrawal_id": withdrawal_id})
    except Exception:  # any failure: the reconciler recovers it
        logger.exception("sending to the payout queue failed; the payout reconciler will start it",
                         extra={"withdrawal_id": withdrawal_id})
