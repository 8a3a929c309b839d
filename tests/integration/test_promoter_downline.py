"""A promoter's downline tree for the merchant on DynamoDB Local (GET /admin/promoters/{id}/downline):
the level-1 members with their sales and team size, one member's members as level-2 leaves, and
never a third level; within the admin class's five round trips."""

from __future__ import annotations

import pytest

from mall.clock import iso
from mall.dal.table import Table
from tests.integration import test_admin_round_trips as admin_trips
from tests.integration.test_admin_round_trips import T0, Call, promoter

pytestmark = pytest.mark.integration

call = admin_trips.call


def bind(table: Table, child: str, parent: str, minute: int, sales_fen: int = 0) -> None:
    at = iso(T0.replace(minute=minute))
    table.put({"pk": f"USER#{child}", "sk": "BINDING", "entity": "binding", "user_id": child, "parent_id": parent,
               "bound_at": at, "source": "qr", "trigger": "visit", "nickname": f"会员{child}", "sales_fen": sales_fen,
               "gsi1pk": f"TEAM#{parent}", "gsi1sk": f"{at}#{child}", "version": 1})


@pytest.fixture
def tree(table: Table) -> Table:
    promoter(table, "u_top")
    promoter(table, "u_mid")
    table.update({"pk": "USER#u_mid", "sk": "PROMOTER"}, "SET direct_members = :n", values={":n": 2})
    bind(table, "u_mid", "u_top", 1, sales_fen=41_400)
    bind(table, "u_plain", "u_top", 2)
    bind(table, "u_leaf1", "u_mid", 3, sales_fen=9_900)
    bind(table, "u_leaf2", "u_mid", 4)
    bind(table, "u_deep", "u_leaf1", 5)  # a third level: never shown
    return table


def test_level_one_then_one_members_level_two_and_no_deeper(tree: Table, call: Call) -> None:
    first = call("admin_promoters", "GET", "/admin/promoters/u_top/downline")
    assert first.status == 200, first.body
    assert first.trips <= 5, first.sent
    rows = {i["user_id"]: i for i in first.body["items"]}
    assert list(rows) == ["u_plain", "u_mid"] and first.body["level"] == 1
    assert rows["u_mid"] == {**rows["u_mid"], "level": 1, "sales_fen": 41_400, "is_promoter": True, "members": 2,
                             "leaf": False, "nickname": "会**d"}
    assert rows["u_plain"]["leaf"] is True and rows["u_plain"]["is_promoter"] is False

    second = call("admin_promoters", "GET", "/admin/promoters/u_top/downline", query={"member": "u_mid"})
    assert second.status == 200 and second.trips <= 5, second.sent
    assert [(i["user_id"], i["level"], i["leaf"], i["sales_fen"]) for i in second.body["items"]] == [
        ("u_leaf2", 2, True, 0), ("u_leaf1", 2, True, 9_900)]
    assert second.body["parent_id"] == "u_mid"

    deeper = call("admin_promoters", "GET", "/admin/promoters/u_top/downline", query={"member": "u_leaf1"})
    assert deeper.status == 422 and deeper.body["error"]["fields"][0]["field"] == "query:member"
    assert "u_deep" not in str(deeper.body)


def test_pages_follow_the_cursor_and_an_unknown_promoter_is_404(tree: Table, call: Call) -> None:
    page = call("admin_promoters", "GET", "/admin/promoters/u_top/downline", query={"limit": "1"})
    assert [i["user_id"] for i in page.body["items"]] == ["u_plain"] and page.body["next_cursor"]
    rest = call("admin_promoters", "GET", "/admin/promoters/u_top/downline",
                query={"limit": "1", "cursor": page.body["next_cursor"]})
    assert [i["user_id"] for i in rest.body["items"]] == ["u_mid"]
    other = call("admin_promoters", "GET", "/admin/promoters/u_top/downline",
                 query={"member": "u_mid", "cursor": page.body["next_cursor"]})
    assert other.status == 422  # a level-1 cursor is not valid under a member
    assert call("admin_promoters", "GET", "/admin/promoters/u_nobody/downline").status == 404
