from datetime import UTC, datetime, timedelta

import pytest

from mall.domain.tokens import Role, issue_token, verify_token
from mall.errors import Unauthenticated

KEY = b"k" * 32
NOW = datetime(2026, 11, 22, 8, 0, tzinfo=UTC)


def test_round_trip_keeps_subject_and_roles() -> None:
    token = issue_token("u_1", frozenset({Role.CUSTOMER, Role.PROMOTER}), key=KEY, now=NOW, ttl_seconds=60)
    principal = verify_token(token, key=KEY, now=NOW + timedelta(seconds=59))
    assert principal.subject == "u_1"
    assert principal.roles == {Role.CUSTOMER, Role.PROMOTER}
    assert not principal.is_admin


def test_expired_token_is_refused_with_its_own_code() -> None:
    token = issue_token("u_1", frozenset({Role.CUSTOMER}), key=KEY, now=NOW, ttl_seconds=60)
    with pytest.raises(Unauthenticated) as err:
        verify_token(token, key=KEY, now=NOW + timedelta(seconds=60))
    assert err.value.code == "token_expired"


def test_other_key_is_refused() -> None:
    token = issue_token("u_1", frozenset({Role.CUSTOMER}), key=KEY, now=NOW, ttl_seconds=60)
    with pytest.raises(Unauthenticated):
        verify_token(token, key=b"x" * 32, now=NOW)


@pytest.mark.parametrize("mutate", [
    lambda t: t + "x",
    lambda t: t.replace(".", "", 1),
    lambda t: "a.b.c",
    lambda t: "",
])
def test_malformed_tokens_are_refused(mutate) -> None:  # type: ignore[no-untyped-def]
    token = issue_token("u_1", frozenset({Role.CUSTOMER}), key=KEY, now=NOW, ttl_seconds=60)
    with pytest.raises(Unauthenticated):
        verify_token(mutate(token), key=KEY, now=NOW)


def test_role_escalation_by_editing_claims_breaks_the_signature() -> None:
    import base64
    import json

    token = issue_token("u_1", frozenset({Role.CUSTOMER}), key=KEY, now=NOW, ttl_seconds=60)
    head, body, sig = token.split(".")
    claims = json.loads(base64.urlsafe_b64decode(body + "=="))
    claims["roles"] = ["admin"]
    forged_body = base64.urlsafe_b64encode(json.dumps(claims).encode()).rstrip(b"=").decode()
    with pytest.raises(Unauthenticated):
        verify_token(f"{head}.{forged_body}.{sig}", key=KEY, now=NOW)


def test_a_token_of_before_staff_roles_reads_as_an_owners_and_carries_staff_roles_as_signed() -> None:
    legacy = verify_token(issue_token("admin:boss", frozenset({Role.ADMIN}), key=KEY, now=NOW, ttl_seconds=60),
                          key=KEY, now=NOW)
    assert legacy.roles == {Role.OWNER} and legacy.is_admin
    staff = verify_token(issue_token("admin:li", frozenset({Role.FINANCE, Role.AUDITOR}), key=KEY, now=NOW,
                                     ttl_seconds=60), key=KEY, now=NOW)
    assert staff.roles == {Role.FINANCE, Role.AUDITOR} and staff.is_admin
    customer = verify_token(issue_token("u_1", frozenset({Role.CUSTOMER, Role.PROMOTER}), key=KEY, now=NOW,
                                        ttl_seconds=60), key=KEY, now=NOW)
    assert not customer.is_admin
