"""Customer tags (用户标签): the merchant's tag definitions and which customers carry them.

Every change is one transaction with its audit entry. A tag's name is unique (case-folded, a
reservation item taken in the same transaction); a rename or delete carries the version read
(409 ``tag_changed``). A tag is deleted only once no customer carries it (409 ``tag_in_use`` with
``details.customers``): the members are listed by the tag filter and untagged first, so no customer
is ever left holding a tag that no longer exists."""

from __future__ import annotations

from datetime import datetime

from mall.clock import iso
from mall.dal.audit import AuditEntry
from mall.dal.customers import CustomerDirectory, Tag, TransactionCancelled
from mall.domain.customers import check_customer_tag_room, check_tag_name, check_tag_room
from mall.errors import Conflict, NotFound
from mall.ids import new_id
from mall.schemas.customers import CustomerTagRef, CustomerTags, TagList, TagView


def _view(tag: Tag) -> TagView:
    return TagView(tag_id=tag.tag_id, name=tag.name, customers=max(tag.customers, 0), version=tag.version,
                   created_at=tag.created_at)


def _audit(action: str, tag_id: str, by: str, source_ip: str | None, *, before: dict[str, object] | None = None,
           after: dict[str, object] | None = None, subject: str | None = None) -> AuditEntry:
    return AuditEntry(action=action, actor=by, entity_type="customer_tag", entity_id=tag_id, source_ip=source_ip,
                      before=before, after=after, subject_user=subject)


def list_tags(*, directory: CustomerDirectory) -> TagList:
    return TagList(items=sorted((_view(t) for t in directory.list_tags()), key=lambda t: t.name))


def create_tag(*, directory: CustomerDirectory, name: str, by: str, now: datetime,
               source_ip: str | None = None) -> TagView:
    shown, folded = check_tag_name(name)
    check_tag_room(len(directory.list_tags()))
    tag = Tag(tag_id=new_id("tg"), name=shown, customers=0, version=1, created_at=iso(now), created_by=by)
    try:
        directory.create_tag(tag, folded, now=now,
                             audit=_audit("customer_tag.create", tag.tag_id, by, source_ip, after={"name": shown}))
    except TransactionCancelled as exc:
        raise Conflict("a tag with this name exists", code="tag_name_taken", details={"name": shown}) from exc
    return _view(tag)


def _existing(directory: CustomerDirectory, tag_id: str) -> Tag:
    tag = directory.get_tag(tag_id)
    if tag is None:
        raise NotFound("no such tag", code="tag_not_found")
    return tag


def rename_tag(*, directory: CustomerDirectory, tag_id: str, name: str, version: int, by: str, now: datetime,
               source_ip: str | None = None) -> TagView:
    shown, folded = check_tag_name(name)
    tag = _existing(directory, tag_id)
    if tag.version != version:
        raise Conflict("the tag changed meanwhile; reload it", code="tag_changed", details={"version": tag.version})
    if tag.name == shown:
        return _view(tag)
    try:
        directory.rename_tag(tag, old_folded=check_tag_name(tag.name)[1], new_name=shown, new_folded=folded,
                             now=now, audit=_audit("customer_tag.rename", tag_id, by, source_ip,
                                                   before={"name": tag.name}, after={"name": shown}))
    except TransactionCancelled as exc:
        if exc.reasons and exc.reasons[0] == "ConditionalCheckFailed":
            raise Conflict("the tag changed meanwhile; reload it", code="tag_changed") from exc
        raise Conflict("a tag with this name exists", code="tag_name_taken", details={"name": shown}) from exc
    return _view(Tag(tag_id=tag.tag_id, name=shown, customers=tag.customers, version=tag.version + 1,
                     created_at=tag.created_at, created_by=tag.created_by))


def delete_tag(*, directory: CustomerDirectory, tag_id: str, version: int, by: str, now: datetime,
               source_ip: str | None = None) -> None:
    tag = _existing(directory, tag_id)
    if tag.customers > 0:
        raise Conflict("customers carry this tag; remove it from them first", code="tag_in_use",
                       details={"customers": tag.customers})
    if tag.version != version:
        raise Conflict("the tag changed meanwhile; reload it", code="tag_changed", details={"version": tag.version})
    try:
        directory.delete_tag(tag, folded=check_tag_name(tag.name)[1], now=now,
                             audit=_audit("customer_tag.delete", tag_id, by, source_ip, before={"name": tag.name}))
    except TransactionCancelled as exc:
        raise Conflict("the tag changed or was given to a customer meanwhile; reload it",
                       code="tag_changed") from exc


#: Concurrent assignments to one customer (each moves the profile's tag count): tries before a 409.
ATTEMPTS = 4


def assign_tag(*, directory: CustomerDirectory, user_id: str, tag_id: str, by: str, now: datetime,
               source_ip: str | None = None) -> CustomerTags:
    for _ in range(ATTEMPTS):
        tag = _existing(directory, tag_id)
        profile = directory.profile(user_id)
        if profile is None:
            raise NotFound("no such customer", code="customer_not_found")
        carried = set(profile.get("tags") or ())
        if tag_id in carried:
            return _customer_tags(directory, user_id, carried, changed=False)
        check_customer_tag_room(len(carried))
        try:
            added = directory.assign(user_id, tag_id, carried=len(carried), now=now,
                                     audit=_audit("customer_tag.assign", tag_id, by, source_ip,
                                                  after={"tag": tag.name}, subject=user_id))
        except TransactionCancelled:
            continue  # the tag was deleted, or the customer's tags changed meanwhile: read again
        return _customer_tags(directory, user_id, carried | {tag_id}, changed=added)
    raise Conflict("the customer's tags changed concurrently; retry", code="retry_later")


def remove_tag(*, directory: CustomerDirectory, user_id: str, tag_id: str, by: str, now: datetime,
               source_ip: str | None = None) -> CustomerTags:
    profile = directory.profile(user_id)
    if profile is None:
        raise NotFound("no such customer", code="customer_not_found")
    changed = directory.unassign(user_id, tag_id, now=now,
                                 audit=_audit("customer_tag.remove", tag_id, by, source_ip, subject=user_id))
    carried = set(profile.get("tags") or ()) - {tag_id}
    return _customer_tags(directory, user_id, carried, changed=changed)


def _customer_tags(directory: CustomerDirectory, user_id: str, carried: set[str], *, changed: bool) -> CustomerTags:
    tags = directory.tags(carried)
    return CustomerTags(user_id=user_id, changed=changed,
                        tags=sorted((CustomerTagRef(tag_id=t.tag_id, name=t.name) for t in tags.values()),
                                    key=lambda t: t.name))
