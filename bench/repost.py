"""Re-posting and bad lines: how posting copes with a file it has seen before, and with
rejected lines among valid ones, beside posting the same valid lines new (same run).

    python bench/repost.py --events 30000 --bad-every 7
    python bench/repost.py --events 30000 --store postgres

Three timings, each through `Ledger.post` (the path of `ledger post`), each by a freshly
opened ledger (a cold cache, as a new `ledger post` process has):
  new        the valid lines, into an empty store (the baseline);
  repost     the same lines again, into that store: every line a duplicate;
  bad-every  the valid lines with one bad line after every N-1 of them (an assessment of a
             competency no framework has: refused for what the catalogue says, event_id set),
             into another empty store: as many lines accepted as `new`.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
import uuid
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.common import command_line, district_lines, peak_rss_mib, postgres_store, rate, report, timed  # noqa: E402


def with_bad_lines(lines: list[str], every: int) -> tuple[list[str], int]:
    """`lines` with a refused assessment after every `every - 1` of them (once learners exist)."""
    out, bad, since = [], 0, 0
    for line in lines:
        out.append(line)
        doc = json.loads(line)
        since += 1
        if since >= every - 1 and doc.get("learner_id") and doc["type"] != "learner.enrolled":
            out.append(json.dumps({
                "event_id": str(uuid.uuid4()), "type": "assessment.recorded", "schema_version": 2,
                "learner_id": doc["learner_id"], "school_id": doc["school_id"],
                "actor": {"id": "tch-bench", "role": "teacher"}, "demonstrated_at": doc["demonstrated_at"],
                "payload": {"competency_id": "ALG.99", "score": 3.0,
                            "source": {"assessment_id": "bench", "kind": "quiz"}},
            }))
            bad, since = bad + 1, 0
    return out, bad


def settings_for(store: str, home: Path) -> dict[str, str]:
    return {"LEDGER_HOME": str(home), **({"LEDGER_STORE": postgres_store()} if store == "postgres" else {})}


def post(lines: list[str], settings: dict[str, str]) -> tuple[float, dict[str, int]]:
    from ledger.application import Ledger
    from ledger.config import Settings

    ledger = Ledger(Settings.load(settings))
    cpu = time.process_time()
    seconds, outcomes = timed(lambda: list(ledger.post(lines)))
    cpu = time.process_time() - cpu
    counts = {"accepted": 0, "duplicate": 0, "rejected": 0}
    for outcome in outcomes:
        counts[outcome.status] += 1
    ledger.close()
    return seconds, cpu, counts


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--events", type=int, default=30_000)
    parser.add_argument("--bad-every", type=int, default=7, metavar="N")
    parser.add_argument("--store", choices=["sqlite", "postgres"], default="sqlite")
    parser.add_argument("--no-record", action="store_true", help="print the table, do not append to BENCHMARKS.md")
    args = parser.parse_args()
    lines = district_lines(args.events)
    mixed, bad = with_bad_lines(lines, args.bad_every)
    with tempfile.TemporaryDirectory() as tmp:
        first = settings_for(args.store, Path(tmp) / "a")
        new_s, new_cpu, new_c = post(lines, first)
        assert new_c["accepted"] == len(lines), new_c
        again_s, again_cpu, again_c = post(lines, first)
        assert again_c["duplicate"] == len(lines), again_c
        bad_s, bad_cpu, bad_c = post(mixed, settings_for(args.store, Path(tmp) / "b"))
        assert (bad_c["accepted"], bad_c["rejected"]) == (len(lines), bad), bad_c
    rows = [
        ["new (baseline)", f"{len(lines):,}", f"{new_s:.2f}", f"{rate(len(lines), new_s):,.0f}", "1.00",
         f"{new_cpu:.2f}", "1.00"],
        ["repost (all duplicates)", f"{len(lines):,}", f"{again_s:.2f}", f"{rate(len(lines), again_s):,.0f}",
         f"{again_s / new_s:.2f}", f"{again_cpu:.2f}", f"{again_cpu / new_cpu:.2f}"],
        [f"every {args.bad_every}th bad ({bad:,} bad)", f"{len(mixed):,}", f"{bad_s:.2f}",
         f"{rate(len(mixed), bad_s):,.0f}", f"{bad_s / new_s:.2f}", f"{bad_cpu:.2f}", f"{bad_cpu / new_cpu:.2f}"],
        ["peak RSS", "", "", f"{peak_rss_mib():,.0f} MiB", "", "", ""],
    ]
    title = f"Re-posting and bad lines on {'PostgreSQL' if args.store == 'postgres' else 'SQLite'}"
    header = ["posting", "lines", "seconds", "lines/s", "time vs new", "CPU s", "CPU vs new"]
    notes = ("Each posting by a freshly opened ledger (cold cache) through Ledger.post, as `ledger post` does. "
             "Bad lines are assessments of a competency no framework has (refused with their event_id). "
             "CPU s is this process's CPU time: steadier than the clock on a shared machine.")
    if args.no_record:
        from bench.common import table

        print(table(rows, header))
    else:
        report(title, command_line(), rows, header, notes)


if __name__ == "__main__":
    main()
