"""The customer's erasure request (个人信息删除): ``POST /me/erasure``.

Anonymises the customer's personal data and keeps every financial record (rules:
``mall.domain.erasure``; reads and writes: ``mall.dal.erasure``; docs/personal-data.md):

1. refuse (409 ``withdrawal_in_flight``, naming them) while a withdrawal still moves money — nothing
   is changed then; likewise (409 ``order_awaiting_delivery``) while a paid order's parcel is not yet
   received: its address is what the parcel is shipped to;
2. erase each order's shipping name, phone and street address (the ``ERASED`` marker) and the device
   and IP captured with it; amounts, lines, commissions and the ledger are untouched;
3. erase each bank withdrawal's holder name and account number;
4. remove device ids and IPs from the customer's share visits, and every personal-data attribute from
   the items of their own partition (promoter and binding nicknames, login devices …); the binding
   itself stays: it attributes commission;
5. last, the profile is tombstoned (nickname, avatar, phone, unionid, devices removed; ``erased_at``
   set once) together with the audit entry ``customer.erase`` (actor = the customer).

Steps 2–5 are one transaction (``mall.dal.erasure.ErasureWrites``), each change conditional on what
was read, so a request cancelled by a concurrent change reads and decides again, and one that fails
half-way is simply repeated. The reads are one Query of the customer's own partition (with the
profile and the address book), one of their gsi1 ``BUYER#`` partition (orders, the orders' addresses
indexed there, their share visits: an order tells whether it has an address item, which is erased by
its key when not read) and, for a promoter only, one of their withdrawals: three round trips with the
transaction for a customer, four for a promoter.
A repeat that finds nothing left to erase answers ``already_erased: true`` and writes no new audit
entry. The account is *marked* erased, not closed: its tokens keep working until they expire (≤ 2 h),
logging in again works (the openid is the account that holds the money), and personal data the
customer gives later (a new order's address) is new data, kept until the next request."""

from __future__ import annotations

import random
import time
from datetime import datetime

from aws_lambda_powertools import Logger

from mall.clock import iso
from mall.dal.audit import AuditEntry
from mall.dal.erasure import (
    ErasureRaced,
    ErasureRepository,
    attributes_to_remove,
    is_profile,
    is_promoter_record,
)
from mall.domain import erasure as rules
from mall.errors import Conflict, NotFound
from mall.schemas.rules import ErasureResult

logger = Logger(child=True)

ACTION = "customer.erase"


#: Reads and decisions again after a concurrent change cancelled the request's transaction.
ATTEMPTS = 4


def erase_customer(*, repo: ErasureRepository, user_id: str, now: datetime) -> ErasureResult:
    for attempt in range(ATTEMPTS):
        try:
            return _erase(repo, user_id, now)
        except ErasureRaced:
            time.sleep(random.uniform(0.01, 0.05) * 2**attempt)  # noqa: S311 - jitter, not a secret
    raise Conflict("your account changed while it was being erased; retry", code="retry_later")


def _erase(repo: ErasureRepository, user_id: str, now: datetime) -> ErasureResult:
    own_items = list(repo.own_items_with_personal_data(user_id))
    profile = next((item for item in own_items if is_profile(item, user_id)), None)
    if profile is None:
        raise NotFound("account no longer exists", code="account_not_found")
    # Only a promoter has withdrawals: a customer who never became one costs no query for them.
    is_promoter = any(is_promoter_record(item, user_id) for item in own_items)
    withdrawals = list(repo.withdrawals(user_id)) if is_promoter else []
    busy = rules.withdrawals_in_flight(withdrawals)
    if busy:
        raise Conflict("a withdrawal is still in progress; erase your data once it is paid, failed or rejected",
                       code="withdrawal_in_flight", details={"withdrawals": busy})
    records = repo.buyer_records(user_id)
    own_orders = records.orders
    parcels = rules.orders_awaiting_delivery(own_orders, unread=records.unread_addresses)
    if parcels:
        raise Conflict("an order is still to be delivered to your address; erase your data once it is received",
                       code="order_awaiting_delivery", details={"orders": parcels})
    stamp = iso(now)
    changes = repo.writes()

    orders = 0
    for order in own_orders:
        extra = rules.personal_attributes(order)
        if rules.holds_address(order, records.unread_addresses):
            orders += changes.replace_map(order, "address", rules.erased_address(stamp), remove=extra)
        elif extra:
            orders += changes.remove_attributes(order, extra)

    banks = 0
    for w in withdrawals:
        if rules.bank_needs_erasure(w.get("bank")):
            banks += changes.replace_bank_of_final_withdrawal(w, rules.erased_bank(w["bank"], stamp))

    cleaned = 0
    for item in [*records.visits, *own_items]:
        if is_profile(item, user_id):
            continue  # the profile goes last, with the audit entry
        cleaned += changes.remove_attributes(item, attributes_to_remove(item))

    profile_removes = attributes_to_remove(profile)
    already = bool(profile.get("erased_at")) and not (orders or banks or cleaned or profile_removes)
    if not already:
        cleaned += bool(profile_removes)
        audit = AuditEntry(action=ACTION, actor=user_id, entity_type="customer", entity_id=user_id,
                           subject_user=user_id, before={"removed": sorted(profile_removes)},
                           after={"erased": True},
                           details={"orders_erased": orders, "withdrawals_erased": banks, "records_cleaned": cleaned,
                                    "first_erasure": not profile.get("erased_at")})
        won = repo.erase(changes, user_id, remove=profile_removes, erased_at=stamp,
                         seen_last_erasure=profile.get("last_erasure_at"), audit=audit, now=now)
        if not won:  # a request running at the same time finished first: it erased and audited
            latest = repo.profile(user_id) or profile
            return ErasureResult(user_id=user_id, status="erased", erased_at=str(latest.get("erased_at") or stamp),
                                 already_erased=True, orders_erased=orders, withdrawals_erased=banks,
                                 records_cleaned=cleaned)
    logger.info("personal data erased", extra={"user_id": user_id, "orders": orders, "withdrawals": banks,
                                               "records": cleaned, "already_erased": already})
    return ErasureResult(user_id=user_id, status="erased", erased_at=str(profile.get("erased_at") or stamp),
                         already_erased=already, orders_erased=orders, withdrawals_erased=banks,
                         records_cleaned=cleaned)
