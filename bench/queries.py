"""Queries: p50 / p99 latency of `state`, `state --as-of`, `plan` and `audit` on a scaled history
(in process, without the command's start-up), beside a bare DuckDB point query on the same file.

    python bench/queries.py --events 100000 [--samples 300]
"""

from __future__ import annotations

import argparse
import random
import sys
import time
from datetime import date
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.common import command_line, open_ledger, peak_rss_mib, percentiles, prepared_home, report  # noqa: E402


def latencies(fn, args_list) -> tuple[float, float]:
    samples = []
    for args in args_list:
        started = time.perf_counter()
        fn(*args)
        samples.append((time.perf_counter() - started) * 1000)
    return percentiles(samples)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--events", type=int, default=100_000)
    parser.add_argument("--samples", type=int, default=300)
    args = parser.parse_args()
    from consumers.credit_engine import approve, propose
    from consumers.projector import run_projections
    from projections import official, queries
    from projections.audit import build_audit

    home = prepared_home(args.events)
    ledger = open_ledger(home)
    projections = home / "projections.duckdb"
    run_projections(ledger, projections)
    with official.connect(projections, read_only=True) as con:
        has_proposals = con.execute("SELECT count(*) FROM credit_audit").fetchall()[0][0] > 0
    if not has_proposals:
        # Proposing for every learner asks two queries per learner and course (~25 minutes
        # at 1M events): audits need only some awards.
        propose(ledger, projections, limit=2_000)
        run_projections(ledger, projections)
    with official.connect(projections, read_only=True) as con:
        pending = con.execute("SELECT learner_id, course_id FROM credit_audit WHERE kind = 'proposal' "
                              "ORDER BY learner_id LIMIT 50").fetchall()
    awards = [(l, c) for l, c in pending if approve(ledger, l, c, "reg-bench")]
    run_projections(ledger, projections)

    rng = random.Random(5)
    con = official.connect(projections, read_only=True)
    learners = [l for (l,) in con.execute("SELECT learner_id FROM learner").fetchall()]
    # Halfway through the recording of the history: `--known-at` then has work to do.
    [(known_at,)] = con.execute("SELECT to_timestamp(median(epoch(recorded_at))) FROM evidence_score").fetchall()
    picks = [(rng.choice(learners),) for _ in range(args.samples)]
    rows = []
    bare = latencies(lambda l: con.execute("SELECT * FROM competency_state WHERE learner_id = ?", [l]).fetchall(),
                     picks)
    for name, fn, calls in [
        ("state", lambda l: queries.competency_states(con, l), picks),
        ("state --as-of", lambda l: queries.competency_states(con, l, as_of=date(2026, 1, 15)), picks),
        ("state --known-at", lambda l: queries.competency_states(con, l, known_at=known_at), picks),
        ("plan", lambda l: queries.plans(con, l), picks),
        ("audit", lambda l, c: build_audit(ledger, l, c), [rng.choice(awards) for _ in range(min(args.samples, 100))]),
    ]:
        p50, p99 = latencies(fn, calls)
        rows.append([name, f"{p50:.2f}", f"{p99:.2f}", f"{bare[0]:.2f}", f"{bare[1]:.2f}"])
    rows.append(["peak RSS", f"{peak_rss_mib():,.0f} MiB", "", "", ""])
    report(f"Query latency at {args.events:,} events ({len(learners):,} learners)", command_line(), rows,
           ["query", "p50 ms", "p99 ms", "bare DuckDB point query p50 ms", "p99 ms"],
           "Bare: `SELECT * FROM competency_state WHERE learner_id = ?` on the same DuckDB file. "
           "`audit` reads the learner's and the catalogue's streams from the SQLite store and recomputes "
           "every basis hash.")


if __name__ == "__main__":
    main()
