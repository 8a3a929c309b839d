"""Request and response models of the exports routes (数据导出)."""

from __future__ import annotations

from datetime import date
from typing import Annotated, Literal, Self

from pydantic import BaseModel, Field, ValidationError, model_validator
from pydantic_core import InitErrorDetails, PydanticCustomError

from mall.domain.exports import MAX_RANGE_DAYS, range_problem
from mall.schemas.common import ApiModel

ExportKindName = Literal["orders", "commissions", "withdrawals", "promoters", "ledger"]


class CreateExportRequest(ApiModel):
    """What to export: one kind of record for China calendar days ``from``..``to`` (inclusive)."""

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
    items: list[ExportJobView]
    next_cursor: str | None = None
