"""Ingest: events/s through the ledger's posting path (validation, invariants, hash chain,
receipts, store) beside the bare eventsourcing recorder inserting as many stored events.

    python bench/ingest.py --events 100000
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import uuid
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.common import command_line, district_lines, peak_rss_mib, rate, report, timed  # noqa: E402


def ledger_rate(lines: list[str], batch: int, home: Path) -> float:
    import ledger.application as application
    from ledger.config import Settings

    application.BATCH_SIZE = batch
    ledger = application.Ledger(Settings.load({"LEDGER_HOME": str(home)}))
    seconds, outcomes = timed(lambda: list(ledger.post(lines)))
    assert all(o.status == "accepted" for o in outcomes), "the benchmark history must be all new, valid events"
    return rate(len(lines), seconds)


def bare_rate(lines: list[str], batch: int, home: Path) -> float:
    """The library's SQLite recorder alone, inserting one stored event per line (same bytes)."""
    from eventsourcing.persistence import StoredEvent
    from eventsourcing.sqlite import SQLiteApplicationRecorder, SQLiteDatastore

    datastore = SQLiteDatastore(str(home / "bare.db"))
    recorder = SQLiteApplicationRecorder(datastore)
    recorder.create_table()
    events = [StoredEvent(uuid.uuid4(), 1, "bench:Event", line.encode()) for line in lines]

    def insert() -> None:
        for start in range(0, len(events), batch):
            recorder.insert_events(events[start:start + batch])

    seconds, _ = timed(insert)
    return rate(len(events), seconds)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--events", type=int, default=100_000)
    parser.add_argument("--batches", default="1,100,1000")
    args = parser.parse_args()
    lines = district_lines(args.events)
    rows = []
    for batch in [int(b) for b in args.batches.split(",")]:
        # Batch size 1 is slow by nature: measure it on a slice so the run stays short.
        sample = lines if batch >= 100 else lines[: min(len(lines), 5_000)]
        with tempfile.TemporaryDirectory() as tmp:
            ours = ledger_rate(sample, batch, Path(tmp) / "ledger")
            bare = bare_rate(sample, batch, Path(tmp))
        rows.append([f"{len(sample):,}", batch, f"{ours:,.0f}", f"{bare:,.0f}", f"{ours / bare:.2f}"])
    rows.append(["peak RSS", "", f"{peak_rss_mib():,.0f} MiB", "", ""])
    report("Ingest on SQLite (ledger post path vs bare recorder)", command_line(), rows,
           ["events", "batch", "ledger events/s", "bare recorder events/s", "ratio"],
           "Bare: eventsourcing's SQLiteApplicationRecorder.insert_events of one stored event per line. "
           "The ledger also validates each line, checks invariants, chains the hash and stores a receipt "
           "(two stored events per accepted event).")


if __name__ == "__main__":
    main()
