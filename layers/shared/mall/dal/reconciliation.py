"""Ledger reconciliation reports (对账报告) and the consistent reads the reconciliation needs.

Keys (docs/data-model.md, "ledger"):
- run summary ``RECONCILIATION#<china day>/RUN`` (gsi1 ``RECONCILIATIONS`` / ``<day>``: the runs, newest first)
- mismatch ``RECONCILIATION#<china day>/MISMATCH#<kind>#<subject>#<account>``

One report per China day: a re-run of the day overwrites the summary and the mismatch items with
the same keys and deletes the mismatches it no longer finds, so the day's report always says what
the last run found.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import Any

from mall.dal.keys import (
    POSTING_PREFIX,
    RUNS_PARTITION,
    mismatch_key,
    posting_partitions,
    report_partition,
    run_key,
    wallet_key,
)
from mall.dal.table import Item, Key, Page, Table, serialize
from mall.domain.reconciliation import Mismatch


def mismatch_item(day: str, mismatch: Mismatch) -> Item:
    return {**mismatch_key(day, mismatch), "entity": "reconciliation_mismatch", "day": day, "kind": mismatch.kind,
            "subject": mismatch.subject, "account": mismatch.account, "expected_fen": mismatch.expected_fen,
            "actual_fen": mismatch.actual_fen, "difference_fen": mismatch.difference_fen}


class ReconciliationRepository:
    def __init__(self, table: Table) -> None:
        self._table = table

    # ---- the reads of a run ---------------------------------------------------------------------

    def postings(self, user_id: str) -> Iterator[Item]:
        """Every posting of a promoter, oldest first, read strongly consistent: a posting committed
        before the wallet was read must be seen, or the comparison reports a false difference. A
        posting without its ``posting_id`` is named by its sort key, so a report still points at it."""
        for pk in posting_partitions(user_id):  # every shard of the promoter's postings
            start: Key | None = None
            while True:
                page = self._table.query_where("#pk = :pk AND begins_with(#sk, :prefix)",
                                               names={"#pk": "pk", "#sk": "sk"},
                                               values={":pk": pk, ":prefix": POSTING_PREFIX},
                                               limit=None, start_key=start, consistent=True)
                for item in page.items:
                    yield {**item, "posting_id": item.get("posting_id", item.get("sk", "?"))}
                if page.last_key is None:
                    break
                start = page.last_key

    def wallet_versions(self, user_ids: Sequence[str]) -> dict[str, int]:
        """The current ``version`` of each wallet (0: none yet), BatchGetItem consistent."""
        versions = dict.fromkeys(user_ids, 0)
        for item in self._table.batch_get([wallet_key(uid) for uid in user_ids], consistent=True):
            versions[str(item["pk"]).removeprefix("USER#")] = int(item.get("version", 0))
        return versions

    # ---- the report -----------------------------------------------------------------------------

    def save(self, day: str, run: dict[str, Any], mismatches: Sequence[Mismatch]) -> None:
        """Write the day's report: its mismatches (deterministic keys), then drop the ones an earlier
        run of the day found and this one did not, then the summary last (a reader never sees a
        summary newer than its mismatches)."""
        current = {mismatch_key(day, m)["sk"] for m in mismatches}
        for mismatch in mismatches:
            self._table.put(mismatch_item(day, mismatch))
        for sk in self._mismatch_keys(day):
            if sk not in current:
                self._table.client.delete_item(TableName=self._table.name,
                                               Key=serialize({"pk": report_partition(day), "sk": sk}))
        self._table.put({**run_key(day), "entity": "reconciliation_run", **run, "day": day,
                         "gsi1pk": RUNS_PARTITION, "gsi1sk": day})

    def _mismatch_keys(self, day: str) -> list[str]:
        keys: list[str] = []
        start: Key | None = None
        while True:
            page = self._table.query_where("#pk = :pk AND begins_with(#sk, :prefix)", names={"#pk": "pk", "#sk": "sk"},
                                           values={":pk": report_partition(day), ":prefix": "MISMATCH#"}, limit=None,
                                           start_key=start, consistent=True)
            keys += [str(i["sk"]) for i in page.items]
            if page.last_key is None:
                return keys
            start = page.last_key

    def run(self, day: str) -> Item | None:
        return self._table.get(run_key(day), consistent=True)

    def runs(self, *, limit: int, start_key: Key | None) -> Page:
        """Run summaries, newest day first."""
        return self._table.query(partition=("gsi1pk", RUNS_PARTITION), index="gsi1", limit=limit, start_key=start_key,
                                 newest_first=True)

    def mismatches(self, day: str, *, limit: int, start_key: Key | None) -> Page:
        return self._table.query(partition=("pk", report_partition(day)), sort_prefix=("sk", "MISMATCH#"),
                                 limit=limit, start_key=start_key)
