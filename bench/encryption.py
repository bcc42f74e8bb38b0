"""Encryption's cost: posting and rebuild rates with personal fields sealed (AES-256-GCM per
person, ledger.shredding) beside the same run with the catalogue of personal fields emptied
(nothing sealed, no data keys asked for), same events, order alternated per round.

    python bench/encryption.py [--events 20000] [--rounds 3]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.common import command_line, district_lines, open_ledger, rate, report  # noqa: E402


def one_run(lines: list[str], home: Path, encrypted: bool) -> tuple[float, float, int]:
    """(posting events/s, rebuild events/s, sealed values stored)."""
    from consumers.projector import run_projections
    from ledger import personal_data

    saved = dict(personal_data.CATALOGUE)
    if not encrypted:
        personal_data.CATALOGUE.clear()
    try:
        ledger = open_ledger(home)
        started = time.perf_counter()
        outcomes = list(ledger.post(lines))
        posting = rate(len(outcomes), time.perf_counter() - started)
        assert all(o.status == "accepted" for o in outcomes), "the workload must be new events"
        sealed = sum(e.body.count("pd1:") for e in ledger.read(0, len(lines) + 10))
        started = time.perf_counter()
        built = run_projections(ledger, home / "rebuild.duckdb", rebuild=True)
        rebuild = rate(built.events, time.perf_counter() - started)
        ledger.close()
        return posting, rebuild, sealed
    finally:
        personal_data.CATALOGUE.update(saved)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--events", type=int, default=20_000)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    lines = district_lines(args.events)
    figures: dict[bool, list[tuple[float, float, int]]] = {True: [], False: []}
    with tempfile.TemporaryDirectory() as tmp:
        for round_ in range(args.rounds):
            for encrypted in ((True, False) if round_ % 2 == 0 else (False, True)):
                home = Path(tmp) / f"{round_}-{'on' if encrypted else 'off'}"
                figures[encrypted].append(one_run(lines, home, encrypted))
    on_post = statistics.median(f[0] for f in figures[True])
    off_post = statistics.median(f[0] for f in figures[False])
    on_build = statistics.median(f[1] for f in figures[True])
    off_build = statistics.median(f[1] for f in figures[False])
    sealed = figures[True][0][2]
    assert figures[False][0][2] == 0, "the baseline sealed something"
    rows = [["posting", f"{on_post:,.0f}", f"{off_post:,.0f}", f"{on_post / off_post:.2f}"],
            ["rebuild (DuckDB, from the store)", f"{on_build:,.0f}", f"{off_build:,.0f}",
             f"{on_build / off_build:.2f}"]]
    report("Encryption of personal fields: on vs off", command_line(), rows,
           ["events/s (median of rounds)", "encrypted", "not encrypted", "ratio on/off"],
           notes=f"{len(lines):,} demo events, {sealed:,} personal values sealed; {args.rounds} rounds, order "
                 "alternated; SQLite store; the baseline empties the catalogue of personal fields in the same process.")


if __name__ == "__main__":
    main()
