"""Admin customers (用户管理): find customers (nickname prefix, exact phone, user id, bound promoter,
tag, registration China days), one customer's detail (masked profile, orders, refunds, binding
history, lifetime spend), customer tags (用户标签) and making a customer a promoter directly.

Personal data is masked in every answer; a phone is searched by its keyed hash, never stored or
looked up in clear. Every change is audited in its own transaction."""

from __future__ import annotations

from http import HTTPStatus
from typing import Annotated

from mall.api.auth import current_principal, staff
from mall.api.http import Response, entrypoint, make_resolver
from mall.api.params import Cursor, IdPath, Query, error_response, limit_query, source_ip
from mall.api.request_key import IdempotencyKeyHeader, marked
from mall.clock import utc_now
from mall.dal import first_use
from mall.dal.customers import CustomerDirectory
from mall.dal.request_markers import RequestMarkers
from mall.dal.table import main_table
from mall.domain.customers import CustomerFilter, check_nickname_query
from mall.domain.staff import Capability
from mall.schemas.customers import (
    CustomerDetail,
    CustomerPage,
    CustomerTags,
    MakePromoterRequest,
    TagAssign,
    TagCreate,
    TagList,
    TagRename,
    TagView,
)
from mall.schemas.referral import PromoterAdminView
from mall.services import customer_tags
from mall.services.customers import customer_detail, list_customers, phone_hash
from mall.services.day_range import created_range
from mall.services.referral import ReferralRepositories, share_page

# Composition root: built once per cold start, shared by every invocation.
table = main_table()
directory = CustomerDirectory(table)
network = ReferralRepositories.on(table)
markers = RequestMarkers(table)
coupons_of = first_use.coupons(table)  # built on first use: only making a promoter issues the gift coupons


app = make_resolver()
share_page()  # SHARE_PAGE is validated at cold start, not by the first request that needs it

_DAY = r"^\d{4}-\d{2}-\d{2}$"
_NOT_FOUND = error_response("`customer_not_found`, `tag_not_found`")


@app.get("/admin/customers", summary="Find customers", tags=["admin customers"],
         description="Every filter given must hold. `nickname` is the start of a nickname (case-insensitive); "
                     "`phone` an exact number, matched through its keyed hash; `from` / `to` China days of "
                     "registration (inclusive). One index is read (the most selective filter's) and the others "
                     "are checked on it, so a page may hold fewer than `limit` customers: follow `next_cursor`. "
                     "Nicknames and phones are masked.",
         responses={422: error_response("`validation_error`, `invalid_date`, `invalid_date_range`, "
                                        "`invalid_cursor` (the field is named)")},
         **staff(Capability.READ))
def search(  # noqa: PLR0917 - one keyword per filter, as the query string has them
        nickname: Annotated[str | None, Query(min_length=1, max_length=40,
                                                 description="the start of a nickname")] = None,
           phone: Annotated[str | None, Query(min_length=5, max_length=24, description="an exact phone number")] = None,
           user_id: Annotated[str | None, Query(min_length=3, max_length=64, pattern=r"^[A-Za-z0-9_-]+$")] = None,
           promoter_id: Annotated[str | None, Query(min_length=3, max_length=64, pattern=r"^[A-Za-z0-9_-]+$",
                                                    description="customers bound to this promoter")] = None,
           tag_id: Annotated[str | None, Query(min_length=3, max_length=64, pattern=r"^[A-Za-z0-9_-]+$")] = None,
           date_from: Annotated[str | None, Query(alias="from", pattern=_DAY,
                                                  description="first China day of registration")] = None,
           date_to: Annotated[str | None, Query(alias="to", pattern=_DAY,
                                                description="last China day of registration (inclusive)")] = None,
           limit: Annotated[int, limit_query(50)] = 20,
           cursor: Cursor = None) -> CustomerPage:
    registered_from, registered_before = created_range(date_from, date_to)
    found = CustomerFilter(user_id=user_id, phone_hash=phone_hash(phone) if phone is not None else None,
                           nickname_prefix=check_nickname_query(nickname) if nickname is not None else None,
                           promoter_id=promoter_id, tag_id=tag_id, registered_from=registered_from,
                           registered_before=registered_before)
    return list_customers(directory=directory, search=found, limit=limit, cursor=cursor)


@app.get("/admin/customers/<user_id>", summary="One customer: profile, orders, refunds, binding, spend",
         tags=["admin customers"], responses={404: _NOT_FOUND}, **staff(Capability.READ))
def detail(user_id: IdPath) -> CustomerDetail:
    return customer_detail(directory=directory, user_id=user_id)


@app.get("/admin/customer-tags", summary="Customer tags", tags=["admin customers"], **staff(Capability.READ))
def tags() -> TagList:
    return customer_tags.list_tags(directory=directory)


@app.post("/admin/customer-tags", summary="Create a customer tag", tags=["admin customers"], status_code=201,
          responses={201: {"description": "created", "content": {"application/json": {"model": TagView}}},
                     409: error_response("`tag_name_taken`, `too_many_tags`"),
                     422: error_response("`validation_error` (field `name`)")},
          **staff(Capability.OPERATIONS))
def create_tag(body: TagCreate) -> Response[TagView]:
    view = customer_tags.create_tag(directory=directory, name=body.name, by=current_principal(app).subject,
                                    now=utc_now(), source_ip=source_ip(app))
    return Response(status_code=HTTPStatus.CREATED, content_type="application/json", body=view)


@app.put("/admin/customer-tags/<tag_id>", summary="Rename a customer tag", tags=["admin customers"],
         responses={404: _NOT_FOUND, 409: error_response("`tag_changed` (`details.version`), `tag_name_taken`")},
         **staff(Capability.OPERATIONS))
def rename_tag(tag_id: IdPath, body: TagRename) -> TagView:
    return customer_tags.rename_tag(directory=directory, tag_id=tag_id, name=body.name, version=body.version,
                                    by=current_principal(app).subject, now=utc_now(), source_ip=source_ip(app))


@app.delete("/admin/customer-tags/<tag_id>", summary="Delete a customer tag no customer carries",
            tags=["admin customers"], status_code=204,
            responses={204: {"description": "deleted"}, 404: _NOT_FOUND,
                       409: error_response("`tag_in_use` (`details.customers`), `tag_changed`")},
            **staff(Capability.OPERATIONS))
def delete_tag(tag_id: IdPath,
               version: Annotated[int, Query(ge=1, le=1_000_000_000, description="the version you read")]
               ) -> Response[str]:
    customer_tags.delete_tag(directory=directory, tag_id=tag_id, version=version, by=current_principal(app).subject,
                             now=utc_now(), source_ip=source_ip(app))
    return Response(status_code=HTTPStatus.NO_CONTENT, body="")


@app.post("/admin/customers/<user_id>/tags", summary="Give a customer a tag", tags=["admin customers"],
          description="Giving a tag the customer already carries changes nothing (`changed: false`).",
          responses={404: _NOT_FOUND, 409: error_response("`too_many_customer_tags`, `retry_later`")},
          **staff(Capability.OPERATIONS))
def assign(user_id: IdPath, body: TagAssign) -> CustomerTags:
    return customer_tags.assign_tag(directory=directory, user_id=user_id, tag_id=body.tag_id,
                                    by=current_principal(app).subject, now=utc_now(), source_ip=source_ip(app))


@app.delete("/admin/customers/<user_id>/tags/<tag_id>", summary="Take a tag off a customer",
            tags=["admin customers"], responses={404: _NOT_FOUND}, **staff(Capability.OPERATIONS))
def unassign(user_id: IdPath, tag_id: IdPath) -> CustomerTags:
    return customer_tags.remove_tag(directory=directory, user_id=user_id, tag_id=tag_id,
                                    by=current_principal(app).subject, now=utc_now(), source_ip=source_ip(app))


@app.post("/admin/customers/<user_id>/promoter", summary="Make a customer a promoter (no application)",
          tags=["admin customers"], status_code=201,
          description="The promoter is active with `agreement_pending: true`: the next time they open the "
                      "promoter pages they accept the promoter agreement (its version is recorded) and only then "
                      "get the promoter role. Audited. A retry with the same Idempotency-Key answers the first "
                      "result.",
          responses={201: {"description": "made a promoter, agreement pending",
                           "content": {"application/json": {"model": PromoterAdminView}}},
                     404: _NOT_FOUND,
                     409: error_response("`promoter_exists` (already a promoter or applicant: `details.status`)")},
          **staff(Capability.OPERATIONS))
def appoint(user_id: IdPath, body: MakePromoterRequest,
            idempotency_key: IdempotencyKeyHeader) -> Response[PromoterAdminView]:
    principal = current_principal(app)
    now = utc_now()
    request = marked(markers, idempotency_key, principal.subject, body, now)
    # Imported on first use: making a promoter answers with the profile's rules (the promoter profile's, the
    # wake-up boost's and the campaigns' models), which the customers' search and detail never use.
    from mall.services.referral.appoint import make_promoter

    view = make_promoter(network=network, user_id=user_id, by=principal.subject, now=now, note=body.note,
                         source_ip=source_ip(app), marked=request, coupons=coupons_of())
    return Response(status_code=HTTPStatus.CREATED, content_type="application/json", body=view)


handler = entrypoint(app)
