"""Ingest: events/s through the ledger's posting path (validation, invariants, hash chain,
receipts, store) beside the bare eventsourcing recorder inserting as many stored events.

    python bench/ingest.py --events 100000              # into an empty store
    python bench/ingest.py --events 10000000 --at-scale # 100,000 more into the prepared store

`--at-scale` posts 100,000 events of new learners into a copy of the prepared history of
`--events` events, beside the bare recorder inserting two stored events per event into another
copy of the same store: how fast posting is when the store is already that big.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import uuid
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.common import (command_line, district_lines, learners_in, peak_rss_mib, postgres_store,  # noqa: E402
                          prepared_home, rate, report, timed)


def environ(store: str, home: Path) -> dict[str, str]:
    """A fresh store of the kind asked: a SQLite file in `home`, or a new PostgreSQL schema."""
    return {"LEDGER_HOME": str(home), **({"LEDGER_STORE": postgres_store()} if store == "postgres" else {})}


def ledger_rate(lines: list[str], batch: int, settings: dict[str, str]) -> float:
    import ledger.application as application
    from ledger.config import Settings

    application.BATCH_SIZE = batch
    ledger = application.Ledger(Settings.load(settings))
    seconds, outcomes = timed(lambda: list(ledger.post(lines)))
    assert all(o.status == "accepted" for o in outcomes), "the benchmark history must be all new, valid events"
    return rate(len(lines), seconds)


def bare_rate(lines: list[str], batch: int, settings: dict[str, str], db: Path | None = None) -> float:
    """The library's recorder alone (SQLite or PostgreSQL, configured as the ledger's), inserting
    one stored event per line (same bytes), into `db` if given (SQLite)."""
    from eventsourcing.persistence import StoredEvent

    app = bare_application(settings, db)  # kept referenced: a collected application closes its store
    recorder = app.recorder
    events = [StoredEvent(uuid.uuid4(), 1, "bench:Event", line.encode()) for line in lines]

    def insert() -> None:
        for start in range(0, len(events), batch):
            recorder.insert_events(events[start:start + batch])

    seconds, _ = timed(insert)
    return rate(len(events), seconds)


def bare_application(settings: dict[str, str], db: Path | None = None):
    from eventsourcing.application import Application

    from ledger.application import store_env
    from ledger.config import Settings

    env = store_env(Settings.load(settings))
    if "SQLITE_DBNAME" in env:
        env["SQLITE_DBNAME"] = str(db or Path(settings["LEDGER_HOME"]) / "bare.db")

    class Bare(Application):
        name = "bare"  # its own table (PostgreSQL) or file (SQLite)

    return Bare(env=env)


def at_scale(events: int, batches: list[int]) -> None:
    import shutil

    home = prepared_home(events)
    lines = district_lines(100_000, first_learner=learners_in(events))
    rows = []
    with tempfile.TemporaryDirectory(dir=home) as tmp:
        tmp = Path(tmp)
        for batch in batches:
            (tmp / "ledger").mkdir(exist_ok=True)
            shutil.copy(home / "ledger.db", tmp / "ledger" / "ledger.db")
            ours = ledger_rate(lines, batch, {"LEDGER_HOME": str(tmp / "ledger")})
            # The same table of the same size: the bare recorder writes into a copy of the ledger's store.
            shutil.copy(home / "ledger.db", tmp / "bare.db")
            bare = bare_rate(lines * 2, batch, {"LEDGER_HOME": str(tmp)}, tmp / "bare.db")
            rows.append([f"{events:,}", f"{len(lines):,}", batch, f"{ours:,.0f}", f"{bare / 2:,.0f}",
                         f"{ours / (bare / 2):.2f}"])
            shutil.rmtree(tmp / "ledger")
            (tmp / "bare.db").unlink()
    rows.append(["peak RSS", "", "", f"{peak_rss_mib():,.0f} MiB", "", ""])
    report(f"Ingest into a store already holding {events:,} events (SQLite)", command_line(), rows,
           ["events already stored", "posted", "batch", "ledger events/s", "bare recorder, events/s", "ratio"],
           "Bare: eventsourcing's recorder inserting two stored events per ledger event (the ledger stores the "
           "event and its receipt) into another copy of the same store; its events/s is rows/s halved.")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--events", type=int, default=100_000)
    parser.add_argument("--batches", default="1,100,1000")
    parser.add_argument("--store", choices=["sqlite", "postgres"], default="sqlite")
    parser.add_argument("--at-scale", action="store_true", help="post 100,000 more into the prepared history")
    args = parser.parse_args()
    if args.at_scale:
        at_scale(args.events, [int(b) for b in args.batches.split(",") if int(b) >= 100])
        return
    lines = district_lines(args.events)
    rows = []
    for batch in [int(b) for b in args.batches.split(",")]:
        # Batch size 1 is slow by nature: measure it on a slice so the run stays short.
        sample = lines if batch >= 100 else lines[: min(len(lines), 5_000)]
        with tempfile.TemporaryDirectory() as tmp:
            ours = ledger_rate(sample, batch, environ(args.store, Path(tmp) / "ledger"))
            bare = bare_rate(sample, batch, environ(args.store, Path(tmp) / "bare"))
        rows.append([f"{len(sample):,}", batch, f"{ours:,.0f}", f"{bare:,.0f}", f"{ours / bare:.2f}"])
    rows.append(["peak RSS", "", f"{peak_rss_mib():,.0f} MiB", "", ""])
    report(f"Ingest on {'PostgreSQL' if args.store == 'postgres' else 'SQLite'} (ledger post path vs bare recorder)",
           command_line(), rows,
           ["events", "batch", "ledger events/s", "bare recorder events/s", "ratio"],
           "Bare: eventsourcing's application recorder (same store kind).insert_events of one stored event per line. "
           "The ledger also validates each line, checks invariants, chains the hash and stores a receipt "
           "(two stored events per accepted event).")


if __name__ == "__main__":
    main()
