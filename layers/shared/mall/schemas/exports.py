"""Request and response models of the exports routes (数据导出)."""

from __future__ import annotations

from datetime import date
from typing import Annotated, Literal, Self

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator
from pydantic.config import JsonDict
from pydantic_core import InitErrorDetails, PydanticCustomError

from mall.domain.exports import MAX_RANGE_DAYS, range_problem
from mall.schemas.common import ApiModel

_DONE: JsonDict = {
    "export_id": "ex_01m8qrq4c5qqjw150p9p1s", "kind": "orders", "from_date": "2026-11-01", "to_date": "2026-11-30",
    "status": "DONE", "created_by": "admin:li.na", "created_at": "2026-12-01T03:00:05Z",
    "started_at": "2026-12-01T03:00:06Z", "finished_at": "2026-12-01T03:00:19Z", "attempts": 1, "rows": 2418,
    "bytes": 611352, "filename": "orders-20261101-20261130.csv", "error": None,
    "url": "https://mall-prod-exportsbucket-8c3n6v1r9t2d.s3.amazonaws.com/exports/ex_01m8qrq4c5qqjw150p9p1s/"
           "run_01m8qrq4zera3n7wh1rkg0/orders-20261101-20261130.csv?response-content-disposition=attachment%3B%20"
           "filename%3D%22orders-20261101-20261130.csv%22&X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Credential="
           "ASIAQ3EGVXK4EXAMPLE7%2F20261201%2Fap-east-1%2Fs3%2Faws4_request&X-Amz-Date=20261201T031000Z"
           "&X-Amz-Expires=900&X-Amz-SignedHeaders=host"
           "&X-Amz-Signature=664b0d9f8a433b91af221473c376bdb958cdad4d24ff6abc8a0a6ddb06669f6f",
    "url_expires_at": "2026-12-01T03:25:00Z", "file_expires_at": "2026-12-08T03:00:19Z"}

ExportKindName = Literal["orders", "commissions", "withdrawals", "promoters", "ledger"]


class CreateExportRequest(ApiModel):
    """What to export: one kind of record for China calendar days ``from``..``to`` (inclusive)."""

    model_config = ConfigDict(json_schema_extra={"examples": [
        {"kind": "orders", "from": "2026-11-01", "to": "2026-11-30"}]})

    kind: ExportKindName = Field(description="orders (by creation time), commissions (by creation), withdrawals "
                                             "(by request time), promoters (by application time), ledger (postings)")
    from_: Annotated[date, Field(alias="from", description="first China day, YYYY-MM-DD")]
    to: Annotated[date, Field(description=f"last China day, YYYY-MM-DD (inclusive; at most {MAX_RANGE_DAYS} days)")]

    @model_validator(mode="after")
    def _range(self) -> Self:
        problem = range_problem(self.from_, self.to)
        if problem is not None:
            field, reason = problem
            raise ValidationError.from_exception_data("CreateExportRequest", [InitErrorDetails(
                type=PydanticCustomError("export_range", reason), loc=(field,), input=self.to.isoformat())])
        return self


class ExportJobView(BaseModel):
    model_config = ConfigDict(json_schema_extra={"examples": [_DONE]})

    export_id: str
    kind: ExportKindName
    from_date: str = Field(description="first China day of the range")
    to_date: str = Field(description="last China day of the range (inclusive)")
    status: Literal["QUEUED", "RUNNING", "DONE", "FAILED"]
    created_by: str
    created_at: str
    started_at: str | None = None
    finished_at: str | None = None
    attempts: int = Field(description="runs started (a run whose worker died is started again)")
    rows: int = Field(description="data rows in the file (the header not counted); set when DONE")
    bytes: int = Field(description="size of the file; set when DONE")
    filename: str
    error: str | None = Field(default=None, description="why the last run failed")
    url: str | None = Field(default=None, description="a download link (GET), only when DONE and the file is kept")
    url_expires_at: str | None = None
    file_expires_at: str | None = Field(default=None, description="when the file is deleted (7 days after it was made)")


class ExportJobPage(BaseModel):
    model_config = ConfigDict(json_schema_extra={"examples": [{"items": [
        {"export_id": "ex_01m8qrzvd7p30hzq5s3khq", "kind": "commissions", "from_date": "2026-11-01",
         "to_date": "2026-11-30", "status": "RUNNING", "created_by": "admin:li.na",
         "created_at": "2026-12-01T03:04:51Z", "started_at": "2026-12-01T03:04:52Z", "finished_at": None,
         "attempts": 1, "rows": 0, "bytes": 0, "filename": "commissions-20261101-20261130.csv", "error": None,
         "url": None, "url_expires_at": None, "file_expires_at": None},
        {**_DONE, "url": None, "url_expires_at": None}], "next_cursor": None}]})

    items: list[ExportJobView]
    next_cursor: str | None = None
