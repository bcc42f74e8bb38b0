"""Runs the official projections: reads the log after the stored position, applies batches."""

from __future__ import annotations

import os
import shutil
import time
from concurrent.futures import ThreadPoolExecutor
from contextlib import closing
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from ledger.log import EventReader
from projections import official


@dataclass
class ProjectionRun:
    events: int = 0
    batches: int = 0
    position: int = 0
    seconds: float = 0.0


def run_projections(
    reader: EventReader,
    path: Path,
    *,
    rebuild: bool = False,
    follow: bool = False,
    batch_size: int = 20_000,
    poll_seconds: float = 0.5,
    progress: Callable[[int, int], None] | None = None,
    should_stop: Callable[[], bool] = lambda: False,
) -> ProjectionRun:
    """Catch up with the log (and keep following it with `follow`).

    A rebuild, or a first run, builds the read models in a file beside `path` and moves it
    into place when complete: until then readers keep the old file, and a rebuild that is
    interrupted leaves it untouched (the next one starts again from zero)."""
    started = time.perf_counter()
    run = ProjectionRun()
    if rebuild or not path.exists() or official.outdated(path):
        if not _build_aside(reader, path, run, batch_size, progress, should_stop):
            run.seconds = time.perf_counter() - started
            return run
    while not should_stop():
        # The DuckDB file is opened only while there is work: DuckDB lets no other process
        # read a file that one process holds open for writing, and `ledger state` must work
        # while a follower runs.
        with closing(official.connect(path)) as con:
            projection = official.OfficialProjection(con)
            run.position = official.position(con)
            while not should_stop():
                batch = reader.read(after=run.position, limit=batch_size)
                if not batch:
                    break
                projection.apply(batch)
                _advance(run, batch[-1].position, len(batch), reader, progress)
        if not follow:
            break
        time.sleep(poll_seconds)
    run.seconds = time.perf_counter() - started
    return run


def _build_aside(reader: EventReader, path: Path, run: ProjectionRun, batch_size: int,
                 progress: Callable[[int, int], None] | None, should_stop: Callable[[], bool]) -> bool:
    """Project the whole log into a new file and swap it in; False if stopped before the end."""
    aside = path.with_name(path.name + ".building")
    for leftover in (aside, _wal(aside)):
        leftover.unlink(missing_ok=True)
    shutil.rmtree(aside.with_name(aside.name + ".tmp"), ignore_errors=True)  # DuckDB's spill folder
    # The store hands over its stored bytes for DuckDB to parse, and its next page is read
    # while DuckDB works on this one (both release the GIL). Kafka's reader hands over bodies
    # (its consumer is not thread-safe: read in turn); other readers, parsed events.
    read_stored = getattr(reader, "read_stored", None)
    read_bodies = getattr(reader, "read_bodies", None)
    with closing(official.connect(aside, indexes=False)) as con, ThreadPoolExecutor(1) as prefetch:
        projection = official.OfficialProjection(con, deferred=True)

        def page(after: int) -> tuple[list[int], Callable[[], None]]:
            """The positions of the next page after `after`, and how to apply it."""
            if read_stored is not None:
                positions, states = read_stored(after, batch_size)
                return positions, lambda: projection.apply_stored(positions, states)
            if read_bodies is not None:
                positions, hashes, bodies = read_bodies(after, batch_size)
                return positions, lambda: projection.apply_bodies(positions, hashes, bodies)
            batch = reader.read(after=after, limit=batch_size)
            return [e.position for e in batch], lambda: projection.apply(batch)

        pending = prefetch.submit(page, run.position) if read_stored is not None else None
        complete = False  # the whole log read, not stopped half-way
        while not should_stop():
            positions, apply = pending.result() if pending is not None else page(run.position)
            if not positions:
                complete = True
                break
            if pending is not None:
                pending = prefetch.submit(page, positions[-1])
            apply()
            _advance(run, positions[-1], len(positions), reader, progress)
        if not complete:
            con.close()
            aside.unlink(missing_ok=True)
            _wal(aside).unlink(missing_ok=True)
            return False
        projection.finish()
    # A WAL left by a crashed writer of the old file would be replayed into the new one.
    _wal(path).unlink(missing_ok=True)
    os.replace(aside, path)
    return True


def _wal(path: Path) -> Path:
    return path.with_name(path.name + ".wal")


def _advance(run: ProjectionRun, position: int, events: int, reader: EventReader,
             progress: Callable[[int, int], None] | None) -> None:
    run.events += events
    run.batches += 1
    run.position = position
    if progress is not None:
        progress(run.position, max(run.position, reader.head_position()))
