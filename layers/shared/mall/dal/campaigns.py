"""The book of commission campaigns (``mall.domain.campaigns``): one item, ``CAMPAIGNS_KEY``.

Every campaign that has not left the book (``KEPT_AFTER_END`` after it closed) is in that one item,
so the payment path reads the campaigns in the same BatchGetItem as the settings (no extra round
trip) and ``GET /rules`` and the promoter's boosted products pay one read. Each save replaces the
item conditionally on the book's ``version`` (two admins saving at once cannot both win; the loser
reads again), with its audit entry in the same transaction; each campaign also carries its own
``version`` that an edit must name (409 when stale)."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from mall.clock import iso
from mall.dal.audit import AuditEntry, AuditLog
from mall.dal.keys import CAMPAIGNS_KEY
from mall.dal.table import Item, Key, Table, TransactionCancelled, Write
from mall.domain.campaigns import KEPT_AFTER_END, Campaign
from mall.domain.wake_up import WakeUpRule, weighed_at_save


class BookMoved(Exception):
    """Someone else saved the book since it was read."""


@dataclass(frozen=True, slots=True)
class CampaignBook:
    version: int = 0
    campaigns: tuple[Campaign, ...] = field(default_factory=tuple)
    #: the wake-up rule (沉睡唤醒) rides in the same item: GET /rules reads it with the campaigns
    wake_up: WakeUpRule = field(default_factory=WakeUpRule)

    def get(self, campaign_id: str) -> Campaign | None:
        return next((c for c in self.campaigns if c.campaign_id == campaign_id), None)

    def weighed_at_save(self, now: datetime) -> list[Campaign]:
        """What a save of rates or campaigns is checked against (``mall.domain.wake_up.weighed_at_save``)."""
        return weighed_at_save(self.campaigns, self.wake_up, now)


def book_from_item(item: Item | None) -> CampaignBook:
    if not item:
        return CampaignBook()
    return CampaignBook(int(item.get("version", 0)),
                        tuple(Campaign.from_dict(raw) for raw in item.get("campaigns") or ()),
                        WakeUpRule.from_dict(item.get("wake_up")))


class CampaignRepository:
    def __init__(self, table: Table) -> None:
        self._table = table

    @property
    def key(self) -> Key:
        """For a use case that reads the book in its own batch (``book_from_item`` reads it)."""
        return CAMPAIGNS_KEY

    def read(self, *, consistent: bool = False) -> CampaignBook:
        return book_from_item(self._table.get(CAMPAIGNS_KEY, consistent=consistent))

    def save(self, book: CampaignBook, campaigns: list[Campaign], *, now: datetime,
             audit: AuditEntry, wake_up: WakeUpRule | None = None) -> CampaignBook:
        """Replace the book read as ``book`` with ``campaigns`` (those closed long ago drop out) and
        ``wake_up`` (default: the book's). Raises ``BookMoved`` when the book is no longer at ``book.version``."""
        rule = book.wake_up if wake_up is None else wake_up
        kept = tuple(c for c in campaigns if c.closes_at > now - KEPT_AFTER_END)
        version = book.version + 1
        item: Item = {**CAMPAIGNS_KEY, "entity": "campaign_book", "version": version, "saved_at": iso(now),
                      "campaigns": [c.as_dict() for c in kept], "wake_up": rule.as_dict()}
        condition = "attribute_not_exists(pk)" if book.version == 0 else "version = :v"
        values = None if book.version == 0 else {":v": book.version}
        try:
            self._table.transact([Write.put(self._table.name, item, condition=condition, values=values),
                                  AuditLog(self._table).write(audit, now)])
        except TransactionCancelled as exc:
            raise BookMoved() from exc
        return CampaignBook(version, kept, rule)
