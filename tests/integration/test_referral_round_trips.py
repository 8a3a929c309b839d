"""The customer and promoter routes of the referral network stay within three DynamoDB round trips
(HTTP calls to DynamoDB, counted on the client as they are sent), on DynamoDB Local: binding with an
invite code, reporting a share visit (anonymous, and binding a logged-in visitor in first_click
mode), applying to become a promoter; and what erasing one's personal data costs."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from mall.api.request_key import marked
from mall.dal.erasure import ErasureRepository
from mall.dal.referral import BindingRepository, PromoterRepository, VisitRateLimiter, VisitRepository
from mall.dal.request_markers import RequestMarkers
from mall.dal.settings import SettingsRepository
from mall.dal.table import Table
from mall.dal.withdrawals import WithdrawalRepository
from mall.domain.referral import VisitRate
from mall.domain.settings import BindingMode, BindingValidity, DistributionSettings, PromoterThreshold
from mall.errors import Conflict, InvalidInput
from mall.schemas.referral import ApplyRequest
from mall.services.erasure import erase_customer
from mall.services.referral import ReferralRepositories
from mall.services.referral.binding import BindWithCode, bind_with_code
from mall.services.referral.promoters import apply
from mall.services.referral.visits import RecordVisit, record_visit
from mall.services.withdrawals.review import reject_withdrawal
from tests.integration.test_erasure_records import DEVICE, IP, UID, sealed_address, seed
from tests.integration.test_referral_concurrency import customer, promoter
from tests.unit.test_fulfilment_factory import order_item

NOW = datetime(2026, 11, 22, 8, 0, tzinfo=UTC)
TARGET = 3  # round trips of a customer or promoter route


@contextmanager
def counted(ddb_client: Any) -> Iterator[list[str]]:
    """The DynamoDB operations sent inside the block (one entry per HTTP call, a retry included)."""
    sent: list[str] = []

    def count(**kwargs: Any) -> None:
        sent.append(str(kwargs.get("event_name", "")).rsplit(".", 1)[-1])

    ddb_client.meta.events.register("before-send.dynamodb", count, unique_id="referral-trips")
    try:
        yield sent
    finally:
        ddb_client.meta.events.unregister("before-send.dynamodb", unique_id="referral-trips")


def configure(table: Table, **changes: Any) -> None:
    repo = SettingsRepository(table)
    current = repo.current(consistent=True)
    document = current.settings.model_copy(update=changes)
    repo.save(DistributionSettings.model_validate(document.model_dump()), based_on=current.version,
              saved_by="admin:test", now=NOW - timedelta(days=1))


def bind(table: Table, who: str, code: str) -> str:
    return bind_with_code(BindWithCode(customer_id=who, code=code, now=NOW),
                          network=ReferralRepositories.on(table)).outcome


def test_binding_with_an_invite_code_takes_at_most_three_round_trips(table: Table, ddb_client: Any) -> None:
    top, middle = promoter(table, "u_top"), promoter(table, "u_mid")
    assert bind(table, "u_mid", top) == "bound"  # the new parent has a parent: the L2 count moves too
    customer(table, "u_new")
    with counted(ddb_client) as sent:
        assert bind(table, "u_new", middle) == "bound"
    assert len(sent) <= TARGET, sent
    repo = PromoterRepository(table)
    mid, root = repo.get("u_mid"), repo.get("u_top")
    assert mid is not None and root is not None
    assert (mid.direct_members, root.second_level_members) == (1, 1)
    binding = BindingRepository(table).get("u_new")
    assert binding is not None and binding.parent_id == "u_mid"


def test_a_rebind_after_the_protection_period_takes_at_most_three_round_trips(table: Table, ddb_client: Any) -> None:
    configure(table, binding_validity=BindingValidity(kind="protection", protection_days=1))
    first, second = promoter(table, "u_p1"), promoter(table, "u_p2")
    customer(table, "u_c")
    bind_with_code(BindWithCode(customer_id="u_c", code=first, now=NOW - timedelta(days=3)),
                   network=ReferralRepositories.on(table))
    with counted(ddb_client) as sent:
        assert bind(table, "u_c", second) == "rebound"
    assert len(sent) <= TARGET, sent
    repo = PromoterRepository(table)
    assert [repo.get(uid).direct_members for uid in ("u_p1", "u_p2")] == [0, 1]  # type: ignore[union-attr]


def visit(table: Table, code: str, visitor: str | None, *, ip: str = "203.0.113.7") -> Any:
    return record_visit(RecordVisit(code=code, source="link", product_id=None, visitor_id=visitor,
                                    device_id="dev-1", source_ip=ip, now=NOW,
                                    rate=VisitRate(limit=30, window_seconds=60)),
                        network=ReferralRepositories.on(table), visits=VisitRepository(table),
                        visit_rate=VisitRateLimiter(table))


def test_an_anonymous_share_visit_takes_at_most_three_round_trips(table: Table, ddb_client: Any) -> None:
    code = promoter(table, "u_sharer")
    with counted(ddb_client) as sent:
        result = visit(table, code, None)
    assert result.outcome == "not_logged_in"
    assert len(sent) <= TARGET, sent


def test_a_visit_binding_a_logged_in_visitor_takes_at_most_three_round_trips(table: Table, ddb_client: Any) -> None:
    configure(table, binding_mode=BindingMode.FIRST_CLICK)
    top, code = promoter(table, "u_top"), promoter(table, "u_sharer")
    assert bind(table, "u_sharer", top) == "bound"
    customer(table, "u_visitor")
    with counted(ddb_client) as sent:
        result = visit(table, code, "u_visitor")
    assert result.outcome == "bound", result
    assert len(sent) <= TARGET, sent
    binding = BindingRepository(table).get("u_visitor")
    assert binding is not None and binding.parent_id == "u_sharer"


def application(table: Table, uid: str, key: str, nickname: str = "小店") -> Any:
    body = ApplyRequest(nickname=nickname)
    request = marked(RequestMarkers(table, "PromoterApplyFunction"), key, uid, body, NOW)
    return apply(network=ReferralRepositories.on(table), user_id=uid, body=body, now=NOW, marked=request)


def test_applying_to_become_a_promoter_takes_at_most_three_round_trips(table: Table, ddb_client: Any) -> None:
    configure(table, promoter_review="auto")
    customer(table, "u_applicant")
    with counted(ddb_client) as sent:
        view = application(table, "u_applicant", "key-0001")
    assert view.status == "active"
    assert len(sent) <= TARGET, sent
    with counted(ddb_client) as sent:  # a retry with the same key: the first answer, nothing written
        again = application(table, "u_applicant", "key-0001")
    assert again == view and len(sent) <= TARGET, sent
    with pytest.raises(InvalidInput) as reused:
        application(table, "u_applicant", "key-0001", nickname="另一个")
    assert reused.value.code == "idempotency_key_reused"
    with pytest.raises(Conflict) as twice:  # another key: a second application is refused
        application(table, "u_applicant", "key-0002")
    assert twice.value.code == "promoter_exists"


def test_a_bought_product_threshold_still_takes_at_most_three_round_trips(table: Table, ddb_client: Any) -> None:
    configure(table, promoter_threshold=PromoterThreshold(kind="bought_product", product_ids=["p_gift"]))
    customer(table, "u_buyer")
    table.put({"pk": "USER#u_buyer", "sk": "PURCHASE#p_gift", "entity": "purchase", "paid_quantity": 1})
    with counted(ddb_client) as sent:
        assert application(table, "u_buyer", "key-0003").status == "applied"
    assert len(sent) <= TARGET, sent


# -- erasure: its reads are Queries of separate index partitions (the customer's own partition with
# the profile, their orders, their share visits, and a promoter's withdrawals), which no batch can
# join; every change it makes is one transaction with the tombstone. A customer: four round trips
# (six before), a promoter: five (six plus one per changed item before).

def test_erasing_a_customer_is_four_round_trips_whatever_it_changes(table: Table, ddb_client: Any) -> None:
    customer(table, UID, last_device_id=DEVICE, last_source_ip=IP)
    for n in range(3):
        order = order_item(buyer_id=UID, with_address=False, device_id=DEVICE, status="COMPLETED",
                           created_at=f"2026-11-1{n}T08:00:00Z")
        order["address"] = sealed_address(order["order_id"])
        table.put(order)
    for n in range(2):
        VisitRepository(table).record(promoter_id="u_upline", promoter_code="UPLINE01", source="qr", product_id=None,
                                      visitor_id=UID, device_id=DEVICE, source_ip=IP, now=NOW + timedelta(minutes=n))
    with counted(ddb_client) as sent:
        result = erase_customer(repo=ErasureRepository(table), user_id=UID, now=NOW + timedelta(hours=1))
    assert (result.orders_erased, result.records_cleaned, result.already_erased) == (3, 3, False)
    assert len(sent) <= 4, sent
    assert sent.count("TransactWriteItems") == 1, sent
    with counted(ddb_client) as sent:
        assert erase_customer(repo=ErasureRepository(table), user_id=UID, now=NOW + timedelta(hours=2)).already_erased
    assert len(sent) <= 3, sent  # nothing left: reads only


def test_erasing_a_promoter_with_a_bank_withdrawal_is_five_round_trips(table: Table, ddb_client: Any) -> None:
    seeded = seed(table)
    reject_withdrawal(withdrawals=WithdrawalRepository(table), withdrawal_id=seeded["withdrawal"], admin="admin:t",
                      reason="资料不符", now=NOW, source_ip=None)
    with counted(ddb_client) as sent:
        result = erase_customer(repo=ErasureRepository(table), user_id=UID, now=NOW + timedelta(hours=1))
    assert (result.orders_erased, result.withdrawals_erased) == (2, 1)
    assert len(sent) <= 5, sent
