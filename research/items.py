"""The item-aware history read: each counted answer with the item it answered (the
assessment's `source.assessment_id`, which `ledger import responses` fills from problem_id),
streamed as Arrow batches in the same order as the plain read."""

from __future__ import annotations

from datetime import date, datetime

import duckdb
import pyarrow as pa

from projections.queries import _counted_sql, counted_score_batches  # the one definition of "counted"


def history_batches(con: duckdb.DuckDBPyConnection, *, as_of: date | datetime | None = None,
                    known_at: date | datetime | None = None, rows: int = 100_000,
                    items: bool = False) -> pa.RecordBatchReader:
    """learner_id, competency_id, event_id, score, demonstrated_at (and item_id with `items`),
    ordered by competency, learner, demonstration. Without `items` this is the plain read: the
    join on the evidence rows is paid only by models that look at items."""
    if not items:
        return counted_score_batches(con, as_of=as_of, known_at=known_at, rows=rows)
    sql, params = _counted_sql(None, as_of, known_at)
    return con.sql(
        "SELECT c.learner_id, c.competency_id, c.event_id, c.score, c.demonstrated_at, "
        "json_extract_string(e.detail, '$.source.assessment_id') AS item_id "
        f"FROM ({sql}) c LEFT JOIN (SELECT event_id, detail FROM evidence) e ON e.event_id = c.event_id "
        "ORDER BY c.competency_id, c.learner_id, c.demonstrated_at, c.position", params=params).to_arrow_reader(rows)
