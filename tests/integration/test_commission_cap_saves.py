"""The commission cap at every save route, through the real handlers on DynamoDB Local: settings,
categories, products and per-promoter overrides are each checked against everything stored, and a
refusal is a 422 naming the fields and the combination, with nothing written."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from datetime import timedelta
from itertools import count
from typing import Any

import pytest

from mall.clock import utc_now
from mall.dal.catalog import CategoryRepository, ProductRepository
from mall.dal.referral import PromoterRepository
from mall.dal.settings import SettingsRepository
from mall.dal.table import Table
from mall.domain.referral import Promoter
from mall.domain.settings import DistributionSettings, PromoterLevel
from mall.domain.tokens import Role
from tests.conftest import bearer, clear_caches
from tests.unit.conftest import FakeContext, http_event, load_function

ADMIN = bearer("admin:alice", Role.ADMIN)
_keys = count(1)
Call = Callable[..., tuple[int, dict[str, Any]]]


@pytest.fixture
def call(table: Table) -> Iterator[Call]:
    clear_caches()
    loaded: dict[str, Any] = {}

    def invoke(function: str, method: str, path: str, body: Any = None) -> tuple[int, dict[str, Any]]:
        if function not in loaded:
            loaded[function] = load_function(function)
        headers = {**ADMIN, "idempotency-key": f"cap-{next(_keys):06d}"}
        result = loaded[function].handler(http_event(method, path, body=body, headers=headers), FakeContext())
        return result["statusCode"], json.loads(result.get("body") or "{}")

    yield invoke
    clear_caches()


def configure(table: Table, **changes: Any) -> int:
    repo = SettingsRepository(table)
    current = repo.current(consistent=True)
    document = DistributionSettings.model_validate({**current.settings.model_dump(), **changes})
    return repo.save(document, based_on=current.version, saved_by="admin:test", now=utc_now()).version


def promoter(table: Table, uid: str, *, status: str = "active", l1: int | None = None,
             l2: int | None = None) -> None:
    PromoterRepository(table).create(
        Promoter(user_id=uid, code="P" + uid.upper().replace("_", ""), status=status, level_id="basic",  # type: ignore[arg-type]
                 l1_override_bp=l1, l2_override_bp=l2),
        grant_role=False, replaces_rejected=False, now=utc_now(), reserve_code=True)


def fields(body: dict[str, Any]) -> dict[str, str]:
    return {f["field"]: f["reason"] for f in body["error"]["fields"]}


def category(call: Call, **rates: Any) -> dict[str, Any]:
    status, body = call("admin_categories", "POST", "/admin/categories", {"name": "茶", **rates})
    assert status == 201, body
    return body


PRODUCT = {"name": "龙井", "type": "physical", "price_fen": 10_000, "stock": 5, "on_shelf": True}


def test_an_override_with_a_category_l2_rate_is_refused_at_the_override(table: Table, call: Call) -> None:
    tea = category(call, l1_rate_bp=1000, l2_rate_bp=1500)
    promoter(table, "u_one")
    status, body = call("admin_promoters", "PUT", "/admin/promoters/u_one/override", {"l1_override_bp": 1600})
    assert status == 422 and body["error"]["code"] == "override_exceeds_cap", body
    reason = fields(body)["l1_override_bp"]
    assert (f"categories[{tea['category_id']}].l2_rate_bp 15%" in reason
            and "promoters[u_one].l1_override_bp 16%" in reason and "= 31%" in reason)
    stored = PromoterRepository(table).get("u_one", consistent=True)
    assert stored is not None and stored.l1_override_bp is None and stored.version == 1
    status, body = call("admin_promoters", "PUT", "/admin/promoters/u_one/override", {"l1_override_bp": 1500})
    assert status == 200 and body["l1_override_bp"] == 1500


def test_another_promoters_override_at_l2_counts_against_an_l1_override(table: Table, call: Call) -> None:
    promoter(table, "u_two", status="frozen", l2=1500)  # a frozen promoter may be unfrozen with it
    promoter(table, "u_one")
    status, body = call("admin_promoters", "PUT", "/admin/promoters/u_one/override", {"l1_override_bp": 1600})
    assert status == 422 and "promoters[u_two].l2_override_bp 15%" in fields(body)["l1_override_bp"]


def test_a_category_is_refused_against_a_stored_override(table: Table, call: Call) -> None:
    promoter(table, "u_one", l1=1600)
    status, body = call("admin_categories", "POST", "/admin/categories", {"name": "贵", "l2_rate_bp": 1500})
    assert status == 422 and body["error"]["code"] == "commission_over_cap", body
    assert set(fields(body)) == {"l2_rate_bp"}
    assert "promoters[u_one].l1_override_bp 16%" in fields(body)["l2_rate_bp"]
    assert CategoryRepository(table).list_all() == []
    tea = category(call, l2_rate_bp=1000)
    status, body = call("admin_categories", "PATCH", f"/admin/categories/{tea['category_id']}",
                        {"version": 1, "l2_rate_bp": 1500})
    assert status == 422 and set(fields(body)) == {"l2_rate_bp"}
    stored = CategoryRepository(table).get(tea["category_id"], consistent=True)
    assert stored is not None and stored.l2_rate_bp == 1000 and stored.version == 1


def test_a_product_is_refused_against_two_levels_and_an_override(table: Table, call: Call) -> None:
    configure(table, levels=[PromoterLevel(id="basic", name="普通"),
                             PromoterLevel(id="seller", name="销售", l1_points_bp=500),
                             PromoterLevel(id="coach", name="教练", l2_points_bp=500)])
    tea = category(call)
    status, body = call("admin_products", "POST", "/admin/products",
                        {**PRODUCT, "category_id": tea["category_id"],
                         "commission": {"mode": "ratio", "l1": 1200, "l2": 900}})
    assert status == 422, body
    reason = fields(body)["commission.l1"]
    assert ("levels[seller].l1_points_bp 5%" in reason and "levels[coach].l2_points_bp 5%" in reason
            and "= 31%" in reason)
    promoter(table, "u_one", l2=1000)
    status, body = call("admin_products", "POST", "/admin/products",
                        {**PRODUCT, "category_id": tea["category_id"],
                         "commission": {"mode": "fixed", "l1": 1100, "l2": 0}})
    assert status == 422 and "promoters[u_one].l2_override_bp 10%" in fields(body)["commission.l1"], body
    assert ProductRepository(table).with_own_commission() == []
    # An edit is checked the same way: a lower price makes the fixed amount a larger share.
    status, created = call("admin_products", "POST", "/admin/products",
                           {**PRODUCT, "category_id": tea["category_id"],
                            "commission": {"mode": "fixed", "l1": 1000, "l2": 0}})
    assert status == 201, created
    status, body = call("admin_products", "PATCH", f"/admin/products/{created['product_id']}",
                        {"version": created["version"], "price_fen": 9_000})
    assert status == 422 and "price 9000 fen" in fields(body)["commission.l1"], body
    assert ProductRepository(table).get(created["product_id"], consistent=True).price_fen == 10_000  # type: ignore[union-attr]


def test_settings_are_refused_against_stored_categories_products_and_overrides(table: Table, call: Call) -> None:
    tea = category(call, l2_rate_bp=1500)
    status, current = call("admin_settings", "GET", "/admin/settings/distribution")
    document = current["settings"]
    raised = {**document, "levels": [{"id": "basic", "name": "普通", "l1_points_bp": 600}], "based_on_version": 0}
    status, body = call("admin_settings", "PUT", "/admin/settings/distribution", raised)
    assert status == 422 and body["error"]["code"] == "commission_over_cap", body
    reason = fields(body)["levels.0.l1_points_bp"]
    assert f"categories[{tea['category_id']}].l2_rate_bp 15%" in reason and "= 31%" in reason
    assert SettingsRepository(table).current(consistent=True).version == 0

    promoter(table, "u_one", status="disabled", l1=2000)
    status, body = call("admin_settings", "PUT", "/admin/settings/distribution",
                        {**document, "commission": {**document["commission"], "cap_bp": 2400},
                         "based_on_version": 0})
    assert status == 422 and "promoters[u_one].l1_override_bp 20%" in fields(body)["commission.cap_bp"], body

    status, body = call("admin_products", "POST", "/admin/products",
                        {**PRODUCT, "category_id": tea["category_id"],
                         "commission": {"mode": "ratio", "l1": 1000, "l2": 0}})
    assert status == 201, body
    status, body = call("admin_settings", "PUT", "/admin/settings/distribution",
                        {**document, "levels": [{"id": "basic", "name": "普通", "l2_points_bp": 100}],
                         "based_on_version": 0})
    # 20% override + 15% category L2 was already over: the cap check names every stored scope.
    assert status == 422 and "levels.0.l2_points_bp" in fields(body), body
    assert SettingsRepository(table).current(consistent=True).version == 0


def test_a_category_rate_an_open_campaign_would_take_over_the_cap_is_refused_through_the_handlers(
        table: Table, call: Call) -> None:
    # The campaign's save and the category's each check the cap with repositories built on their first use
    # (CampaignRepositories, CatalogRepositories): through the handlers, as a cold container runs them.
    now = utc_now()
    status, body = call("admin_campaigns", "POST", "/admin/campaigns", {
        "name": "周末加码", "starts_at": (now - timedelta(hours=1)).isoformat(),
        "ends_at": (now + timedelta(days=1)).isoformat(), "scope": {},
        "boost": {"kind": "points", "l1_points_bp": 1000}})  # 10+10 + 5 = 25%: within the 30% cap
    assert status == 200, body
    tea = category(call, l1_rate_bp=1500)  # 15+10 + 5 = 30%
    status, body = call("admin_categories", "PATCH", f"/admin/categories/{tea['category_id']}",
                        {"version": 1, "l1_rate_bp": 2000})  # 20 + 5 alone; 20+10 + 5 = 35% with the campaign
    assert status == 422 and body["error"]["code"] == "commission_over_cap", body
    assert "l1_rate_bp" in fields(body)
    stored = CategoryRepository(table).get(tea["category_id"], consistent=True)
    assert stored is not None and stored.l1_rate_bp == 1500 and stored.version == 1
