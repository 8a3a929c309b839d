"""Exports, pure parts: the request's date range (422 naming the field), the job's claim decision,
CSV cells (BOM, yuan from fen, formula-proof text, masked personal data), and the multipart writer
that keeps memory bounded however long the file (counted in buffered bytes, not time)."""

from __future__ import annotations

import codecs
import csv
import hashlib
import io
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from typing import Any

import pytest
from pydantic import ValidationError

from mall.dal.objects import MultipartWriter, ObjectStore
from mall.domain.exports import (
    COLUMNS,
    ROW_OF,
    DayRange,
    ExportJob,
    ExportKind,
    ExportStatus,
    claim_decision,
    csv_chunks,
    object_key,
    posting_row,
    promoter_row,
    text,
    withdrawal_row,
)
from mall.schemas.exports import CreateExportRequest

NOW = datetime(2026, 11, 22, 8, 0, tzinfo=UTC)


def request(**body: Any) -> CreateExportRequest:
    return CreateExportRequest.model_validate({"kind": "orders", "from": "2026-11-01", "to": "2026-11-30", **body})


def test_a_range_of_china_days_up_to_366() -> None:
    assert request().from_ == date(2026, 11, 1)
    assert request(**{"from": "2024-01-01", "to": "2024-12-31"}).to == date(2024, 12, 31)  # 366 days (leap year)
    days = DayRange(date(2026, 11, 1), date(2026, 11, 30))
    assert days.low() == "2026-10-31T16:00:00Z" and days.high() == "2026-11-30T16:00:00Z" and days.days == 30


@pytest.mark.parametrize(("body", "field", "words"), [
    ({"to": "2026-10-31"}, "to", "before from"),
    ({"from": "2025-01-01", "to": "2026-01-02"}, "to", "367 days; at most 366"),
    ({"from": "2026-02-30"}, "from", "date"),
    ({"kind": "customers"}, "kind", "orders"),
    ({"extra": 1}, "extra", "Extra inputs"),
])
def test_a_bad_request_names_the_field(body: dict[str, Any], field: str, words: str) -> None:
    with pytest.raises(ValidationError) as caught:
        request(**body)
    found = {".".join(str(p) for p in e["loc"]): e["msg"] for e in caught.value.errors()}
    assert field in found and words in found[field], found


def job(**changes: Any) -> ExportJob:
    base: dict[str, Any] = {"export_id": "ex_1", "kind": ExportKind.ORDERS, "first_day": date(2026, 11, 1),
                            "last_day": date(2026, 11, 30), "status": ExportStatus.QUEUED, "created_by": "admin:a",
                            "created_at": NOW}
    return ExportJob(**{**base, **changes})


def test_claim_decisions() -> None:
    assert claim_decision(job(), NOW) == "claim"
    assert claim_decision(job(status=ExportStatus.DONE), NOW) == "finished"
    assert claim_decision(job(status=ExportStatus.FAILED), NOW) == "finished"
    live = job(status=ExportStatus.RUNNING, lease_until=NOW + timedelta(seconds=1))
    assert claim_decision(live, NOW) == "busy"
    assert claim_decision(live, NOW + timedelta(seconds=1)) == "claim"  # the lease has passed: restart
    assert job().filename == "orders-20261101-20261130.csv"
    assert object_key("ex_1", "run_2", "a.csv") == "exports/ex_1/run_2/a.csv"


def parse(chunks: Iterator[bytes]) -> list[list[str]]:
    data = b"".join(chunks)
    assert data.startswith(codecs.BOM_UTF8)
    return list(csv.reader(io.StringIO(data.decode("utf-8-sig"), newline="")))


def test_csv_cells_money_text_and_masking() -> None:
    rows = parse(csv_chunks(COLUMNS[ExportKind.WITHDRAWALS], [withdrawal_row({
        "withdrawal_id": "w_1", "created_at": "2026-11-02T01:00:00Z", "promoter_id": "u_1", "method": "bank",
        "status": "REJECTED", "amount_fen": 123_456, "fee_fen": 1_234, "net_fen": 122_222, "reason": "=HYPERLINK(x)",
        "bank": {"bank_name": "招商银行", "account_name_masked": "张*", "account_no_last4": "6789",
                 "account_no_enc": "v1:secret"}})]))
    header, row = rows
    values = dict(zip(header, row, strict=True))
    assert values["amount_fen"] == "123456" and values["amount_yuan"] == "1234.56" and values["fee_yuan"] == "12.34"
    assert values["reason"] == "'=HYPERLINK(x)"  # never a formula
    assert values["bank_account_no"] == "****6789" and values["bank_account_name"] == "张*"
    assert "secret" not in ",".join(row) and values["bank_name"] == "招商银行"
    promoter = dict(zip(COLUMNS[ExportKind.PROMOTERS], promoter_row({
        "user_id": "u_1", "code": "ABC", "status": "active", "level_id": "basic", "nickname": "微信好友",
        "own_sales_fen": 5, "team_sales_fen": -250}), strict=True))
    assert promoter["nickname"] == "微**友" and promoter["own_sales_yuan"] == "0.05"
    assert promoter["team_sales_yuan"] == "-2.50" and promoter["team_sales_fen"] == "-250"
    posting = dict(zip(COLUMNS[ExportKind.LEDGER], posting_row({
        "posting_id": "cm_1.clawback.1", "at": "2026-11-03T00:00:00Z", "promoter_id": "u_1",
        "kind": "commission_clawed_back", "amount_fen": 300, "memo": "-shortfall",
        "legs": [{"account": "available", "delta_fen": -100}, {"account": "debt", "delta_fen": -200},
                 {"account": "merchant:commission", "delta_fen": 300}],
        "ref": {"order_id": "o1", "commission_id": "c"}}),
        strict=True))
    assert posting["available_fen"] == "-100" and posting["debt_fen"] == "-200"  # numbers stay numbers
    assert posting["merchant_commission_fen"] == "300" and posting["frozen_fen"] == "0"
    assert posting["ref"] == "commission_id=c;order_id=o1" and posting["memo"] == "'-shortfall"
    assert text(None) == "" and text("+1") == "'+1"
    for kind in ExportKind:
        assert len(ROW_OF[kind]({})) == len(COLUMNS[kind])  # every column, even from a sparse item


# ---- the multipart writer ----------------------------------------------------------------------


class FakeS3:
    """Records what reaches "S3": the parts' sizes and a running digest of their bytes (keeping the
    bodies would hold the whole file in the test's own memory), whole puts, completes and aborts."""

    def __init__(self) -> None:
        self.parts: dict[int, int] = {}
        self.digest = hashlib.sha256()
        self.puts: dict[str, bytes] = {}
        self.completed: list[dict[str, Any]] = []
        self.aborted = 0

    def create_multipart_upload(self, **kwargs: Any) -> dict[str, Any]:
        return {"UploadId": "up-1"}

    def upload_part(self, **kwargs: Any) -> dict[str, Any]:
        assert kwargs["PartNumber"] == len(self.parts) + 1  # in order
        self.parts[kwargs["PartNumber"]] = len(kwargs["Body"])
        self.digest.update(kwargs["Body"])
        return {"ETag": f'"{kwargs["PartNumber"]}"'}

    def complete_multipart_upload(self, **kwargs: Any) -> None:
        self.completed.append(kwargs["MultipartUpload"])

    def abort_multipart_upload(self, **kwargs: Any) -> None:
        self.aborted += 1

    def put_object(self, **kwargs: Any) -> None:
        self.puts[kwargs["Key"]] = kwargs["Body"]


def lines(count: int) -> Iterator[bytes]:
    yield from csv_chunks(COLUMNS[ExportKind.ORDERS], (ROW_OF[ExportKind.ORDERS]({
        "order_id": f"o_{n:08d}", "created_at": "2026-11-02T01:00:00Z", "status": "PAID", "buyer_id": f"u_{n}",
        "amount_fen": n, "refunded_fen": 0, "title": "云南古树普洱茶 357g"}) for n in range(count)))


def test_many_rows_stream_in_parts_with_bounded_memory() -> None:
    s3 = FakeS3()
    part = 128 * 1024
    writer = MultipartWriter(ObjectStore("b", client=s3), "exports/x.csv", content_type="text/csv", part_size=part)  # type: ignore[arg-type]
    longest = 0
    for chunk in lines(30_000):  # ≈ 3 MB of CSV, produced lazily
        longest = max(longest, len(chunk))
        writer.write(chunk)
    size = writer.close()
    assert writer.parts == len(s3.parts) > 20
    assert writer.max_buffered < part + longest  # never more than one part and one line buffered
    assert all(length >= part for number, length in s3.parts.items() if number < len(s3.parts))
    # (No tracemalloc peak here: it counts every thread of the test session, e.g. the local stack's
    # pollers, so it measured the session, not the writer. The writer's own buffer is measured above.)
    expected = hashlib.sha256()
    for chunk in lines(30_000):
        expected.update(chunk)
    assert sum(s3.parts.values()) == size and s3.digest.hexdigest() == expected.hexdigest()
    assert s3.completed == [{"Parts": [{"ETag": f'"{n}"', "PartNumber": n} for n in range(1, len(s3.parts) + 1)]}]


def test_a_small_file_is_one_put_and_a_failure_aborts() -> None:
    s3 = FakeS3()
    small = MultipartWriter(ObjectStore("b", client=s3), "k", content_type="text/csv")  # type: ignore[arg-type]
    for chunk in lines(10):
        small.write(chunk)
    small.close()
    assert list(s3.puts) == ["k"] and not s3.parts and s3.puts["k"] == b"".join(lines(10))
    failing = MultipartWriter(ObjectStore("b", client=s3), "k2", content_type="text/csv", part_size=1024)  # type: ignore[arg-type]
    for chunk in lines(100):
        failing.write(chunk)
    failing.abort()
    assert s3.aborted == 1 and not s3.completed
    with pytest.raises(ValueError, match="after close"):
        failing.write(b"x")
