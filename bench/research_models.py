"""Research models: pieces of evidence per second through `replay` (fit on everyone, then every
trajectory) and through `evaluate` (fitted once per fold on the other folds, every answer
predicted), per model, beside the same run's DuckDB read of the counted scores.

    python bench/research_models.py --events 1000000 --folds 5
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.common import command_line, open_ledger, peak_rss_mib, prepared_home, rate, report, timed  # noqa: E402
from bench.replay import handed_over  # noqa: E402

MODELS = ("decaying_average", "bkt", "pfa", "afm", "irt", "irt2pl", "best_lr")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--events", type=int, default=1_000_000)
    parser.add_argument("--folds", type=int, default=5)
    parser.add_argument("--models", default=",".join(MODELS))
    args = parser.parse_args()
    from consumers.projector import run_projections
    from projections import official
    from research.protocol import answers_per_learner, assign_folds, evaluate
    from research.replay import iter_histories, needs_items, replay

    home = prepared_home(args.events)
    path = home / "projections.duckdb"  # shared with bench/queries.py and bench/replay.py
    run_projections(open_ledger(home), path)
    rows = []
    with official.connect(path, read_only=True) as con:
        read_seconds, pieces = timed(handed_over, con)
        fold_of = assign_folds(answers_per_learner(con), args.folds, 0)
        for model in args.models.split(","):
            items = needs_items(model, {})  # item models pay the item-aware read (a join) inside their rate
            seconds, result = timed(lambda: replay(iter_histories(con, items=items), model, {}))
            rows.append([f"replay {model} (read, fit, replay)", seconds, f"{peak_rss_mib():,.0f}"])
            del result
            seconds, scored = timed(lambda: evaluate(iter_histories(con, items=items), model, {}, fold_of,
                                                     folds=args.folds))
            rows.append([f"evaluate {model}, {args.folds} grouped folds (read, {args.folds} fits, predict)", seconds,
                         f"{peak_rss_mib():,.0f}"])
            assert scored.pooled.n == pieces
    floor = rate(pieces, read_seconds)
    table = [["baseline: DuckDB hands over the counted scores", f"{pieces:,}", f"{floor:,.0f}", "1.00", ""]] + [
        [what, f"{pieces:,}", f"{rate(pieces, seconds):,.0f}", f"{rate(pieces, seconds) / floor:.3f}", rss]
        for what, seconds, rss in rows]
    report(f"Research models, {args.events:,} events", command_line(), table,
           ["path", "pieces of evidence", "per second", "ratio to the DuckDB read", "peak RSS MiB"],
           f"{pieces:,} counted scores in a history of {args.events:,} events.")


if __name__ == "__main__":
    main()
