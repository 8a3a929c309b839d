"""GET /admin/promoters/{user_id}/team on DynamoDB Local: any promoter's level 1 and level 2 members,
newest first, paged, as the promoter sees them at GET /promoter/team plus the user ids (nicknames
stay masked); 404 for an unknown promoter; a cursor of another promoter's team is refused."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from mall.dal.referral import PromoterRepository
from mall.dal.table import Table
from mall.domain.referral import Promoter
from mall.domain.tokens import Role
from mall.services.referral import ReferralRepositories
from mall.services.referral.binding import BindWithCode, bind_with_code
from tests.conftest import bearer, clear_caches
from tests.unit.conftest import FakeContext, http_event, load_function

T0 = datetime(2026, 11, 22, 8, 0, tzinfo=UTC)
ADMIN = bearer("admin:alice", Role.ADMIN)
Get = Callable[..., tuple[int, dict[str, Any]]]


def customer(table: Table, uid: str) -> None:
    table.put({"pk": f"USER#{uid}", "sk": "PROFILE", "entity": "customer", "user_id": uid, "openid": f"o{uid}",
               "roles": ["customer"], "created_at": "2026-11-01T00:00:00Z", "nickname": f"昵称{uid}"})


def promoter(table: Table, uid: str) -> str:
    customer(table, uid)
    code = "C" + "".join(ch for ch in uid if ch.isalnum())
    PromoterRepository(table).create(
        Promoter(user_id=uid, code=code, status="active", level_id="basic", applied_at=T0, activated_at=T0),
        grant_role=True, replaces_rejected=False, now=T0, reserve_code=True)
    return code


def bind(table: Table, who: str, code: str, minutes: int) -> None:
    result = bind_with_code(BindWithCode(customer_id=who, code=code, now=T0 + timedelta(minutes=minutes)),
                            network=ReferralRepositories.on(table))
    assert result.outcome == "bound"


@pytest.fixture
def get(table: Table) -> Iterator[Get]:
    clear_caches()
    loaded: dict[str, Any] = {}

    def call(function: str, path: str, headers: dict[str, str], **query: str) -> tuple[int, dict[str, Any]]:
        if function not in loaded:
            loaded[function] = load_function(function)
        event = http_event("GET", path, headers=headers)
        event["queryStringParameters"] = query
        event["rawQueryString"] = "&".join(f"{k}={v}" for k, v in query.items())
        result = loaded[function].handler(event, FakeContext())
        return result["statusCode"], json.loads(result["body"])

    yield call
    clear_caches()


@pytest.fixture
def network(table: Table) -> None:
    """u_pa ← u_m1 (a promoter: ← u_n1, u_n2), u_m2, u_m3 (bound in that order); u_pb ← u_b1."""
    code_a, code_b = promoter(table, "u_pa"), promoter(table, "u_pb")
    code_m1 = promoter(table, "u_m1")
    for uid in ("u_m2", "u_m3", "u_n1", "u_n2", "u_b1"):
        customer(table, uid)
    bind(table, "u_m1", code_a, 1)
    bind(table, "u_m2", code_a, 2)
    bind(table, "u_m3", code_a, 3)
    bind(table, "u_n1", code_m1, 4)
    bind(table, "u_n2", code_m1, 5)
    bind(table, "u_b1", code_b, 6)


def pages(get: Get, user_id: str, depth: int, limit: int) -> list[dict[str, Any]]:
    found: list[dict[str, Any]] = []
    cursor: str | None = None
    while True:
        status, body = get("admin_promoters", f"/admin/promoters/{user_id}/team", ADMIN, depth=str(depth),
                           limit=str(limit), **({"cursor": cursor} if cursor else {}))
        assert status == 200, body
        assert body["depth"] == depth
        found += body["items"]
        cursor = body["next_cursor"]
        if not cursor:
            return found


@pytest.mark.usefixtures("network")
def test_an_admin_sees_any_promoters_team_with_ids_and_masked_names(get: Get) -> None:
    level1 = pages(get, "u_pa", depth=1, limit=2)
    assert [m["user_id"] for m in level1] == ["u_m3", "u_m2", "u_m1"]
    assert {m["depth"] for m in level1} == {1} and all(m["via_user_id"] is None for m in level1)
    level2 = pages(get, "u_pa", depth=2, limit=1)
    assert [(m["user_id"], m["via_user_id"]) for m in level2] == [("u_n2", "u_m1"), ("u_n1", "u_m1")]
    assert [m["nickname"] for m in level1] == ["昵**3", "昵**2", "昵**1"] and level2[0]["via"] == "昵**1"
    assert "昵称" not in json.dumps(level1 + level2, ensure_ascii=False)  # personal data stays masked
    assert [m["user_id"] for m in pages(get, "u_pb", depth=1, limit=5)] == ["u_b1"]

    # the promoter's own view is the same list without the ids
    own = bearer("u_pa", Role.CUSTOMER, Role.PROMOTER)
    status, mine = get("promoter_team", "/promoter/team", own, depth="1", limit="5")
    assert status == 200
    assert mine["items"] == [{k: v for k, v in m.items() if k not in {"user_id", "via_user_id"}} for m in level1]


@pytest.mark.usefixtures("network")
def test_unknown_promoters_are_404_and_another_teams_cursor_is_refused(get: Get) -> None:
    for who in ("u_nobody", "u_m2"):  # nobody at all; a customer who is no promoter
        status, body = get("admin_promoters", f"/admin/promoters/{who}/team", ADMIN)
        assert status == 404 and body["error"]["code"] == "promoter_not_found", body
    for depth in ("1", "2"):
        status, first = get("admin_promoters", "/admin/promoters/u_pa/team", ADMIN, depth=depth, limit="1")
        assert status == 200 and first["next_cursor"]
        status, refused = get("admin_promoters", "/admin/promoters/u_pb/team", ADMIN, depth=depth,
                              cursor=first["next_cursor"])
        assert status == 422 and refused["error"]["code"] == "invalid_cursor", refused
    status, body = get("admin_promoters", "/admin/promoters/u_pa/team", bearer("u_pa", Role.CUSTOMER, Role.PROMOTER))
    assert status == 403
