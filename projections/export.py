"""Parquet files for pandas, polars, R or Spark: the evidence history, the official states,
and research replays (with the model and its fitted parameters in the file's metadata)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import duckdb
import pyarrow.parquet as pq

from projections.research import Replay

# What a researcher needs to rebuild any analysis: the history with both time axes and voids,
# the scores it carries, the reference data, and the official results.
EXPORTED = ("evidence", "evidence_score", "competency", "course", "learner", "competency_state", "plan",
            "plan_progress", "credit_audit")


def export_parquet(con: duckdb.DuckDBPyConnection, directory: Path,
                   leave_out: frozenset[str] | set[str] = frozenset()) -> dict[str, int]:
    """One Parquet file per table; returns the rows written per table. Learners in `leave_out`
    (the erased: ledger.erasure) are left out of every table that names a learner."""
    directory.mkdir(parents=True, exist_ok=True)
    written = {}
    for table in EXPORTED:
        target = directory / f"{table}.parquet"
        # Write beside and rename, so a reader never sees half a file.
        partial = target.with_suffix(".parquet.partial")
        named = con.execute("SELECT count(*) FROM information_schema.columns WHERE table_name = ? "
                            "AND column_name = 'learner_id'", [table]).fetchall()[0][0]
        where, args = (" WHERE learner_id <> ALL(?::VARCHAR[])", [sorted(leave_out)]) if named and leave_out else ("", [])
        con.execute(f"COPY (SELECT * FROM {table}{where}) TO '{_quoted(partial)}' (FORMAT parquet)", args).fetchall()
        partial.replace(target)
        written[table] = con.execute(f"SELECT count(*) FROM {table}{where}", args).fetchall()[0][0]
    return written


def write_replay(result: Replay, path: Path, source: dict[str, Any]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    table = result.table.replace_schema_metadata(result.metadata(source))
    partial = path.with_name(path.name + ".partial")
    pq.write_table(table, partial)
    partial.replace(path)


def _quoted(path: Path) -> str:
    return str(path).replace("'", "''")
