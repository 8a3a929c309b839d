"""The caller's own contact details: the address book (收货地址, ``/me/addresses``) and the bound
phone (``POST /me/phone``, 手机号快速验证).

Own data only: no route takes a user id, and an address id that is not in the caller's book is 404
whoever else holds it. Names, phones and streets are stored sealed and answered masked. Address
changes and deletes carry the ``version`` last read (409 ``address_changed`` when stale).

The phone: the ``getPhoneNumber`` button's code goes to WeChat's phone-number API
(``/wxa/business/getuserphonenumber`` with the stable access token); a code WeChat refuses (invalid,
expired, used) is 422 naming ``code``; WeChat busy or unreachable is 503, rate-limited 429."""

from __future__ import annotations

from http import HTTPStatus
from typing import Annotated

from mall.api.auth import current_principal, secured
from mall.api.http import Response, entrypoint, make_resolver
from mall.api.params import IdPath, OpenAPIResponse, Query, error_response
from mall.clock import utc_now
from mall.dal.address_book import AddressBookRepository
from mall.dal.identity import CustomerRepository
from mall.dal.table import main_table
from mall.dal.wechat_tokens import ForceRefreshLease
from mall.domain.tokens import Role
from mall.integrations.wechat import server_client
from mall.schemas.address_book import AddressBookView, SaveAddressRequest, SavedAddressView, UpdateAddressRequest
from mall.schemas.identity import PhoneBindRequest, PhoneView
from mall.services import address_book
from mall.services.identity import bind_phone

# Composition root: built once per cold start, shared by every invocation.
table = main_table()
books = AddressBookRepository(table)
customers = CustomerRepository(table)
force_gate = ForceRefreshLease(table)

app = make_resolver()

_ROLES = secured(Role.CUSTOMER, Role.PROMOTER)
_ONE: OpenAPIResponse = {"description": "the address, masked",
                         "content": {"application/json": {"model": SavedAddressView}}}
_BOOK: OpenAPIResponse = {"description": "the address book, masked",
                          "content": {"application/json": {"model": AddressBookView}}}
_NOT_FOUND = error_response("`address_not_found`: not in your address book")
_STALE = error_response("`address_changed` (the version sent is not the stored one: `details.version`), "
                        "`retry_later`")


@app.get("/me/addresses", summary="My address book", tags=["identity"], responses={200: _BOOK}, **_ROLES)
def list_mine() -> AddressBookView:
    return address_book.list_addresses(books=books, user_id=current_principal(app).subject)


@app.post("/me/addresses", summary="Save an address", tags=["identity"], status_code=201,
          description="Saves a delivery address (at most 20). The first address, or one sent with "
                      "`is_default: true`, becomes the default. Saving an address equal to one already saved "
                      "answers 200 with that one (a retry never makes a copy).",
          responses={201: _ONE, 200: _ONE,
                     409: error_response("`address_book_full` (`details.limit`), `retry_later`")}, **_ROLES)
def create(body: SaveAddressRequest) -> Response[SavedAddressView]:
    view, created = address_book.add_address(books=books, user_id=current_principal(app).subject, body=body,
                                             now=utc_now())
    return Response(status_code=HTTPStatus.CREATED if created else HTTPStatus.OK, content_type="application/json",
                    body=view)


@app.put("/me/addresses/<address_id>", summary="Change a saved address", tags=["identity"],
         responses={200: _ONE, 404: _NOT_FOUND, 409: _STALE}, **_ROLES)
def update(address_id: IdPath, body: UpdateAddressRequest) -> SavedAddressView:
    return address_book.update_address(books=books, user_id=current_principal(app).subject, address_id=address_id,
                                       body=body, now=utc_now())


@app.delete("/me/addresses/<address_id>", summary="Delete a saved address", tags=["identity"], status_code=204,
            description="Orders placed with it keep their own copy. Deleting the default makes the most "
                        "recently changed address the default.",
            responses={204: {"description": "deleted"}, 404: _NOT_FOUND, 409: _STALE}, **_ROLES)
def delete(address_id: IdPath,
           version: Annotated[int, Query(ge=1, le=1_000_000_000, description="the version you read")]) -> Response[str]:
    address_book.delete_address(books=books, user_id=current_principal(app).subject, address_id=address_id,
                                version=version)
    return Response(status_code=HTTPStatus.NO_CONTENT, body="")


@app.post("/me/addresses/<address_id>/default", summary="Make a saved address the default", tags=["identity"],
          description="The old default is unset in the same write; repeating it changes nothing.",
          responses={200: _BOOK, 404: _NOT_FOUND, 409: error_response("`retry_later`")}, **_ROLES)
def make_default(address_id: IdPath) -> AddressBookView:
    return address_book.set_default(books=books, user_id=current_principal(app).subject, address_id=address_id)


@app.post("/me/phone", summary="Bind my phone (getPhoneNumber)", tags=["identity"],
          description="Send the `code` of the `getPhoneNumber` button (not the `wx.login` code). A new binding "
                      "replaces the previous number. The number is stored encrypted; answers show it masked.",
          responses={200: {"description": "bound; the phone masked",
                           "content": {"application/json": {"model": PhoneView}}},
                     404: error_response("`account_not_found`"),
                     422: error_response("`invalid_phone_code`: the code is invalid, expired or already used "
                                         "(field `code`)"),
                     429: error_response("`wechat_phone_rate_limited`"),
                     503: error_response("`wechat_unavailable` (WeChat busy or unreachable; retry), "
                                         "`wechat_phone_refused`, `wechat_token_refused`")},
          **secured(Role.CUSTOMER, Role.PROMOTER))
def bind(body: PhoneBindRequest) -> PhoneView:
    # Built per request, not at cold start: it holds the app secret, which rotates.
    return bind_phone(code=body.code, user_id=current_principal(app).subject,
                      wechat=server_client(force_gate=force_gate), customers=customers, now=utc_now())


handler = entrypoint(app)
