"""Runs the official projections: reads the log after the stored position, applies batches."""

from __future__ import annotations

import time
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
    """Catch up with the log (and keep following it with `follow`)."""
    started = time.perf_counter()
    run = ProjectionRun()
    if rebuild:
        with closing(official.connect(path)) as con:
            official.drop_all(con)
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
                run.events += len(batch)
                run.batches += 1
                run.position = batch[-1].position
                if progress is not None:
                    progress(run.position, max(run.position, reader.head_position()))
        if not follow:
            break
        time.sleep(poll_seconds)
    run.seconds = time.perf_counter() - started
    return run
