"""The weekly operations report on DynamoDB Local and moto's S3 server: made once per week however
many runs (a rerun, two overlapping runs), its figures are the dashboard's for that week, it lists
the fraud scan's findings with nicknames masked, and the admin lists it and downloads it through
the presigned link."""

from __future__ import annotations

import codecs
import csv
import io
import threading
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
import requests

from local.queues import MotoServer
from local.queues import client as local_client
from mall.dal import objects
from mall.dal.fraud import FraudRepository
from mall.dal.keys import promoter_key
from mall.dal.objects import ObjectStore
from mall.dal.stats import StatsRepository
from mall.dal.table import Table
from mall.domain.fraud import Hit
from mall.domain.reports import parse_week, previous_week
from mall.services import exports
from mall.services.reports import ReportRepositories, make_weekly_report
from mall.services.stats import apply_changes, dashboard
from tests.integration.test_admin_round_trips import Call, call  # noqa: F401 (the fixture)
from tests.integration.test_promoter_funnel import STAR, shop

pytestmark = pytest.mark.integration

BUCKET = "exportsbucket"
MONDAY_9 = datetime(2026, 11, 9, 1, 0, tzinfo=UTC)  # Monday 9 Nov, 09:00 China: reports 2–8 Nov


@pytest.fixture(scope="module")
def s3_endpoint() -> Iterator[str]:
    server = MotoServer()
    endpoint = server.start()
    local_client(endpoint, "s3").create_bucket(Bucket=BUCKET)
    yield endpoint
    server.stop()


@pytest.fixture
def store(s3_endpoint: str, monkeypatch: pytest.MonkeyPatch) -> Iterator[ObjectStore]:
    monkeypatch.setenv("AWS_ENDPOINT_URL_S3", s3_endpoint)
    monkeypatch.setenv("EXPORTS_BUCKET", BUCKET)
    objects.s3_client.cache_clear()
    exports.export_settings.cache_clear()
    yield ObjectStore(BUCKET, client=local_client(s3_endpoint, "s3"))
    objects.s3_client.cache_clear()
    exports.export_settings.cache_clear()


def seed(table: Table) -> None:
    apply_changes(stats=StatsRepository(table), changes=shop(), now=MONDAY_9)
    table.put({**promoter_key(STAR), "entity": "promoter", "user_id": STAR, "nickname": "星星小卖部"})
    fraud = FraudRepository(table)
    fraud.record_hit(Hit("shared_device", STAR, "2026-11-03", {"device": "d_secret_print"}), mode="enforce",
                     now=datetime(2026, 11, 3, 4, tzinfo=UTC))
    fraud.record_hit(Hit("refund_ratio", "u_late", "2026-11-09"), mode="observe",
                     now=datetime(2026, 11, 9, 0, 30, tzinfo=UTC))  # 9 Nov China: the next week's


def rows_of(body: bytes) -> list[dict[str, str]]:
    assert body.startswith(codecs.BOM_UTF8)
    return list(csv.DictReader(io.StringIO(body.decode("utf-8-sig"))))


def test_the_week_before_is_reported_once_with_the_dashboards_figures(table: Table, store: ObjectStore) -> None:
    seed(table)
    repos = ReportRepositories.on(table)
    week = previous_week(MONDAY_9)
    assert (week.key, week.first_day.isoformat(), week.last_day.isoformat()) == ("2026-W45", "2026-11-02",
                                                                                 "2026-11-08")
    assert previous_week(MONDAY_9 + timedelta(days=3)) == week  # a rerun later that week: the same week

    outcomes: list[str] = []
    start = threading.Barrier(3)

    def run() -> None:
        start.wait()
        outcomes.append(make_weekly_report(repos=repos, store=store, week=week, now=MONDAY_9).result)

    threads = [threading.Thread(target=run) for _ in range(3)]  # overlapping schedules
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert make_weekly_report(repos=repos, store=store, week=week, now=MONDAY_9 + timedelta(hours=1)).result == "exists"
    assert sorted(outcomes).count("made") == 1, outcomes
    listed = store.client.list_objects_v2(Bucket=BUCKET, Prefix=f"reports/{week.report_id}/")
    assert len(listed.get("Contents", [])) == 1  # the losers' files are gone

    report = repos.reports.get(week.report_id)
    assert report is not None
    stored = store.get(report.s3_key)
    assert stored is not None
    rows = rows_of(stored.body)
    figures = dashboard(stats=repos.stats, date_from="2026-11-02", date_to="2026-11-08", now=MONDAY_9)
    summary = {r["metric"]: int(r["value"]) for r in rows if r["section"] == "summary"}
    assert summary["gmv_fen"] == figures.gmv_fen == 22_400
    assert summary["paid_orders"] == figures.paid_orders == 3
    assert summary["share_visits"] == figures.share_visits
    l1 = {r["metric"]: int(r["value"]) for r in rows if r["section"] == "commission" and r["subject_id"] == "l1"}
    assert l1["created_fen"] == figures.commission.l1.created_fen
    top = [(r["rank"], r["subject_id"], r["subject_name"], int(r["value"])) for r in rows
           if r["section"] == "top_promoters" and r["metric"] == "sales_fen"]
    assert top == [(str(i), p.user_id, p.nickname, p.sales_fen) for i, p in enumerate(figures.top_promoters, 1)]
    assert top[0][2] == "星**部"  # masked
    products = {r["subject_id"] for r in rows if r["section"] == "top_products"}
    assert products == {p.product_id for p in figures.top_products} == {"p_tea", "p_cup"}
    findings = [r for r in rows if r["section"] == "fraud_findings"]
    assert [(f["subject_id"], f["subject_name"], f["metric"]) for f in findings] == [
        (STAR, "星**部", "shared_device:enforce")]  # the next week's hit is not this week's
    assert "d_secret_print" not in stored.body.decode("utf-8-sig")  # evidence is never copied
    assert report.rows == len(rows)


def test_the_admin_lists_the_reports_and_downloads_one(table: Table, store: ObjectStore, call: Call) -> None:  # noqa: F811
    seed(table)
    repos = ReportRepositories.on(table)
    for week in ("2026-W44", "2026-W45"):
        parsed = parse_week(week)
        assert parsed is not None
        make_weekly_report(repos=repos, store=store, week=parsed, now=MONDAY_9)

    listed = call("admin_exports", "GET", "/admin/reports")
    assert listed.status == 200, listed.body
    assert [r["report_id"] for r in listed.body["items"]] == ["wr_2026-W45", "wr_2026-W44"]  # newest week first
    assert all(r["url"] is None for r in listed.body["items"])
    assert listed.trips <= 5

    one = call("admin_exports", "GET", "/admin/reports/wr_2026-W45")
    assert one.status == 200 and one.body["url"], one.body
    assert one.trips <= 5
    downloaded = requests.get(one.body["url"], timeout=10)
    assert downloaded.status_code == 200
    report = repos.reports.get("wr_2026-W45")
    assert report is not None
    assert downloaded.content == store.get(report.s3_key).body  # type: ignore[union-attr]
    assert one.body["filename"] in downloaded.headers.get("content-disposition", "")

    missing = call("admin_exports", "GET", "/admin/reports/wr_2026-W01")
    assert missing.status == 404 and missing.body["error"]["code"] == "report_not_found"


def test_the_scheduled_function_reports_the_week_before(table: Table, store: ObjectStore) -> None:
    from tests.unit.conftest import FakeContext, load_function

    seed(table)
    module = load_function("weekly_report")
    event: dict[str, Any] = {"time": "2030-01-07T01:00:00Z", "detail-type": "Scheduled Event"}
    first = module.handler(event, FakeContext())
    again = module.handler(event, FakeContext())
    assert (first["report_id"], first["result"], again["result"]) == ("wr_2030-W01", "made", "exists")
    assert module.handler({"week": "2026-W45"}, FakeContext())["report_id"] == "wr_2026-W45"
