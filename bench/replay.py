"""Research replay: pieces of evidence per second through `ledger replay` for decaying average
and for BKT (EM fit included), beside the raw costs under it measured in the same run: DuckDB
handing over the same counted scores, and a bare Python loop computing a decaying average
over them.

    python bench/replay.py --events 100000
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.common import command_line, open_ledger, peak_rss_mib, prepared_home, rate, report, timed  # noqa: E402


def bare_decaying_average(competencies) -> tuple[int, float]:
    """The arithmetic alone: no model objects, no estimates kept, no output table (only the
    loop is timed, not the reading)."""
    n, seconds = 0, 0.0
    for competency in competencies:
        started = time.perf_counter()
        for history in competency.histories:
            level = None
            for score in history.scores:
                level = score if level is None else 0.65 * score + 0.35 * level
                n += 1
        seconds += time.perf_counter() - started
    return n, seconds


def handed_over(con) -> int:
    """DuckDB handing every counted score over as Python values, a batch at a time."""
    from projections.queries import counted_score_batches

    n = 0
    for batch in counted_score_batches(con):
        columns = [batch.column(i).to_pylist() for i in range(batch.num_columns)]
        n += len(columns[0])
    return n


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--events", type=int, default=100_000)
    args = parser.parse_args()
    from consumers.projector import run_projections
    from projections import official
    from research.replay import iter_histories, replay

    home = prepared_home(args.events)
    path = home / "projections.duckdb"  # shared with bench/queries.py: projected once, caught up here
    run_projections(open_ledger(home), path)
    rows = []
    with official.connect(path, read_only=True) as con:
        for model in ("decaying_average", "bkt"):
            seconds, result = timed(lambda: replay(iter_histories(con), model, {}))
            rows.append([f"ledger replay --model {model} (read, fit, replay)", f"{result.table.num_rows:,}",
                         seconds, f"{peak_rss_mib():,.0f}"])
            del result
        read_seconds, pieces = timed(handed_over, con)
        load_seconds, _ = timed(lambda: sum(1 for _ in iter_histories(con)))
        pieces_bare, bare_seconds = bare_decaying_average(iter_histories(con))
    floor = rate(pieces, read_seconds)
    rows = [["baseline: DuckDB hands over the counted scores", f"{pieces:,}", f"{floor:,.0f}", "1.00", ""],
            ["baseline: bare loop, decaying average arithmetic only", f"{pieces_bare:,}",
             f"{rate(pieces_bare, bare_seconds):,.0f}", f"{rate(pieces_bare, bare_seconds) / floor:.2f}", ""],
            ["histories read and grouped", f"{pieces:,}", f"{rate(pieces, load_seconds):,.0f}",
             f"{rate(pieces, load_seconds) / floor:.2f}", ""]] + [
            [what, n, f"{rate(pieces, seconds):,.0f}", f"{rate(pieces, seconds) / floor:.2f}", rss]
            for what, n, seconds, rss in rows]
    report(f"Research replay, {args.events:,} events", command_line(), rows,
           ["path", "pieces of evidence", "per second", "ratio to the DuckDB read", "peak RSS MiB"],
           f"{pieces:,} counted scores in a history of {args.events:,} events (the rest are enrolments, plans, "
           "sign-offs, voids and reference data).")


if __name__ == "__main__":
    main()
