"""Response models of the weekly operations reports (运营周报)."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field
from pydantic.config import JsonDict

_REPORT: JsonDict = {
    "report_id": "wr_2026-W48", "kind": "weekly", "week": "2026-W48", "from_date": "2026-11-23",
    "to_date": "2026-11-29", "created_at": "2026-11-30T01:00:04Z", "rows": 118, "bytes": 6120,
    "filename": "weekly-report-2026-W48-20261123-20261129.csv",
    "url": "https://mall-prod-exportsbucket-8c3n6v1r9t2d.s3.amazonaws.com/reports/wr_2026-W48/"
           "run_01m8qrq4zera3n7wh1rkg0/weekly-report-2026-W48-20261123-20261129.csv?X-Amz-Expires=900"
           "&X-Amz-Signature=664b0d9f8a433b91af221473c376bdb958cdad4d24ff6abc8a0a6ddb06669f6f",
    "url_expires_at": "2026-11-30T03:25:00Z", "file_expires_at": "2028-01-04T01:00:04Z"}


class ReportView(BaseModel):
    """One weekly report: a CSV of the week's dashboard figures, top promoters and products, and the
    fraud scan's findings, personal data masked."""

    model_config = ConfigDict(json_schema_extra={"examples": [_REPORT]})

    report_id: str
    kind: str = Field(description="`weekly`")
    week: str = Field(description="the China ISO week reported on (Monday–Sunday)")
    from_date: str
    to_date: str
    created_at: str = Field(description="when the report was made (Monday 09:00 China time by schedule)")
    rows: int
    bytes: int
    filename: str
    url: str | None = Field(default=None, description="a download link (GET) valid 15 minutes; only in the detail, "
                                                      "while the file is kept")
    url_expires_at: str | None = None
    file_expires_at: str = Field(description="when the file is deleted (the record stays listed)")


class ReportPage(BaseModel):
    model_config = ConfigDict(json_schema_extra={"examples": [{
        "items": [{**_REPORT, "url": None, "url_expires_at": None}], "next_cursor": None}]})

    items: list[ReportView] = Field(description="newest week first; links only in the detail")
    next_cursor: str | None = None
