"""Research figures that name no learner: per-competency counts and means over every learner,
the erased included (their scores stay under the pseudonym; an aggregate discloses nobody's
record), for researchers who ask for aggregates only instead of per-learner rows."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import duckdb

COLUMNS = ("competency_id", "learners", "mastered", "mean_level", "mean_evidence_count")

_QUERY = """
SELECT competency_id, count(*) AS learners, count(*) FILTER (WHERE mastered) AS mastered,
       avg(level) AS mean_level, avg(evidence_count) AS mean_evidence_count
FROM competency_state WHERE $competency IS NULL OR competency_id = $competency
GROUP BY competency_id ORDER BY competency_id"""


def competency_aggregates(con: duckdb.DuckDBPyConnection, competency: str | None = None) -> list[dict[str, Any]]:
    rows = con.execute(_QUERY, {"competency": competency}).fetchall()
    return [dict(zip(COLUMNS, row)) for row in rows]


def export_aggregates(con: duckdb.DuckDBPyConnection, directory: Path) -> dict[str, int]:
    """`competency_aggregates.parquet` alone; no table with a learner column is written."""
    directory.mkdir(parents=True, exist_ok=True)
    target = directory / "competency_aggregates.parquet"
    partial = target.with_suffix(".parquet.partial")  # renamed into place: never half a file
    quoted = str(partial).replace("'", "''")
    con.execute(f"COPY ({_QUERY.replace('$competency', 'NULL')}) TO '{quoted}' (FORMAT parquet)").fetchall()
    partial.replace(target)
    return {"competency_aggregates": con.execute(f"SELECT count(*) FROM ({_QUERY})", {"competency": None}).fetchall()[0][0]}
