"""Runs the official projections: reads the log after the stored position, applies batches."""

from __future__ import annotations

import logging
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

log = logging.getLogger("ledger.project")


@dataclass
class ProjectionRun:
    events: int = 0
    batches: int = 0
    position: int = 0
    seconds: float = 0.0
    retries: int = 0  # broker outages and held files ridden out by a follower


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
    lock_wait: float = 5.0,
) -> ProjectionRun:
    """Catch up with the log (and keep following it with `follow`).

    A rebuild, or a first run, builds the read models in a file beside `path` and moves it
    into place when complete: until then readers keep the old file, and a rebuild that is
    interrupted leaves it untouched (the next one starts again from zero).

    A follower rides out what passes: a broker outage (the reader's `retryable_errors`) and
    another process holding the file (a reader of `ledger state`): it backs off and goes on
    from the position its file holds. Without `follow`, the file is waited for `lock_wait`
    seconds and errors are raised."""
    started = time.perf_counter()
    run = ProjectionRun()
    head = _Head(reader)
    retryable = tuple(getattr(reader, "retryable_errors", ()))
    failures, first = 0, True
    while not should_stop():
        try:
            outcome = _catch_up(reader, path, run, rebuild, first, follow, batch_size, progress, should_stop,
                                head, lock_wait)
            rebuild, first, failures = False, False, 0
            if outcome == STOPPED:
                break
            if outcome == MORE:
                time.sleep(0.25)  # the file was let go for waiting readers: take it again after them
                continue
        except Exception as error:
            if not follow or not (isinstance(error, retryable) or official.locked(error)):
                raise
            failures, first = failures + 1, True
            run.retries += 1
            log.warning("%s: %s; retrying (attempt %d)", type(error).__name__,
                        str(error).splitlines()[0] if str(error) else "", failures)
            _sleep(min(0.5 * failures, 10.0), should_stop)
            continue
        if not follow:
            break
        _sleep(poll_seconds, should_stop)
    run.seconds = time.perf_counter() - started
    return run


STOPPED, IDLE, MORE = "stopped", "idle", "more"


def _catch_up(reader, path, run, rebuild, first, follow, batch_size, progress, should_stop, head,
              lock_wait) -> str:
    """Apply the batches the log holds beyond the file's position: IDLE when caught up, MORE if
    a follower let the file go for readers with batches left, STOPPED if asked to stop. `first`:
    nothing has been done since the start (or since a failure) yet: look at the file itself."""
    if rebuild or not path.exists() or (first and official.outdated(path, wait=lock_wait)):
        run.position = 0  # a rebuild cut short by an outage starts again from zero
        return IDLE if _build_aside(reader, path, run, batch_size, progress, should_stop, head) else STOPPED
    if first:
        with closing(official.connect(path, read_only=True, wait=lock_wait)) as con:
            run.position = official.position(con)
    # The DuckDB file is opened for writing only while there is a batch to write: DuckDB lets
    # no other process open a file that one process holds for writing, and `ledger state` must
    # work while a follower runs. An idle poll only asks the log.
    batch = reader.read(after=run.position, limit=batch_size)
    if not batch:
        return IDLE
    held_since = time.monotonic()
    with closing(official.connect(path, wait=lock_wait)) as con:
        projection = official.OfficialProjection(con)
        stored = official.position(con)
        if stored != run.position:  # another `ledger project` moved the file on meanwhile
            run.position = stored
            batch = reader.read(after=run.position, limit=batch_size)
        while batch:
            applied = time.perf_counter()
            projection.apply(batch)
            _advance(run, batch[-1].position, len(batch), head, progress, time.perf_counter() - applied)
            if should_stop():
                return STOPPED
            # A follower's long catch-up lets waiting readers in between batches; a one-off
            # `ledger project` is a batch job and keeps the file to the end.
            if follow and time.monotonic() - held_since > HOLD_SECONDS:
                return MORE
            batch = reader.read(after=run.position, limit=batch_size)
    return IDLE


HOLD_SECONDS = 2.0


def _sleep(seconds: float, should_stop: Callable[[], bool]) -> None:
    deadline = time.monotonic() + seconds
    while not should_stop() and time.monotonic() < deadline:
        time.sleep(min(0.1, max(deadline - time.monotonic(), 0)))


class _Head:
    """The log's head position for lag figures: asked at most every `head_refresh_seconds` of
    the reader (Kafka's answer costs a scan of each partition's tail), never failing a batch."""

    def __init__(self, reader: EventReader) -> None:
        self.reader, self.value, self.asked = reader, 0, -float("inf")
        self.every = getattr(reader, "head_refresh_seconds", 0.0)

    def at_least(self, position: int) -> int:
        if time.monotonic() - self.asked > self.every:
            self.asked = time.monotonic()
            try:
                self.value = self.reader.head_position()
            except Exception as error:  # a broker going away: the next read says so properly
                log.debug("head position unavailable: %s", error)
        self.value = max(self.value, position)
        return self.value


def _build_aside(reader: EventReader, path: Path, run: ProjectionRun, batch_size: int,
                 progress: Callable[[int, int], None] | None, should_stop: Callable[[], bool], head: _Head) -> bool:
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
            applied = time.perf_counter()
            apply()
            _advance(run, positions[-1], len(positions), head, progress, time.perf_counter() - applied)
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


def _advance(run: ProjectionRun, position: int, events: int, head: _Head,
             progress: Callable[[int, int], None] | None, seconds: float) -> None:
    run.events += events
    run.batches += 1
    run.position = position
    top = head.at_least(position)
    log.info("batch position=%d events=%d lag=%d seconds=%.3f", position, events, top - position, seconds)
    if progress is not None:
        progress(run.position, top)
