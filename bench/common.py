"""Shared by the benchmark scripts: the workload, timing, peak memory, and BENCHMARKS.md."""

from __future__ import annotations

import json
import platform
import resource
import statistics
import subprocess
import sys
import time
from datetime import datetime, timezone
from importlib.metadata import version
from collections.abc import Iterator
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

# As `ledger` itself does (cli/main.py): collect garbage less eagerly on big heaps.
import gc  # noqa: E402

gc.set_threshold(50_000, 50, 1_000)
BENCHMARKS = ROOT / "BENCHMARKS.md"
EVENTS_PER_LEARNER = 84  # what ledger.demo.generate makes per learner, measured


SLICE_LEARNERS = 4_000  # a big district is generated a slice of learners at a time, to bound memory


def iter_district_lines(events: int, seed: int = 1, first_learner: int = 0) -> Iterator[str]:
    """Realistic demo history of about `events` events: learner sequences of assessments,
    artifacts, scores, sign-offs, plans and voids (ledger.demo), cut to the size asked.

    Made in slices of SLICE_LEARNERS learners (each slice's events in time order, like a
    school posting its term), so 10M events never sit in memory at once. From `first_learner`
    on, learners are new ones (and no reference data is posted): more of the same district."""
    from ledger.demo import generate

    end = first_learner + max(1, round(events / EVENTS_PER_LEARNER))
    left, first = events, first_learner
    while left > 0 and first < end:
        count = min(SLICE_LEARNERS, end - first)
        lines = generate(seed=seed, learners=count, first_learner=first, reference=first == 0).lines
        seen: set[str] = set()
        for line in lines:
            event_id = json.loads(line)["event_id"]
            if event_id not in seen:  # benchmark new events, not the demo's retried posts
                seen.add(event_id)
                yield line
                left -= 1
                if left == 0:
                    return
        first += count


def district_lines(events: int, seed: int = 1, first_learner: int = 0) -> list[str]:
    return list(iter_district_lines(events, seed, first_learner))


def learners_in(events: int) -> int:
    """How many learners a prepared history of `events` events was generated for."""
    return max(1, round(events / EVENTS_PER_LEARNER))


def rate(count: int, seconds: float) -> float:
    return count / seconds if seconds > 0 else float("inf")


def timed(fn, *args, **kwargs) -> tuple[float, object]:
    started = time.perf_counter()
    result = fn(*args, **kwargs)
    return time.perf_counter() - started, result


def peak_rss_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def percentiles(samples: list[float]) -> tuple[float, float]:
    ordered = sorted(samples)
    return statistics.median(ordered), ordered[min(len(ordered) - 1, int(len(ordered) * 0.99))]


def machine() -> str:
    try:
        cpu = next(l.split(":", 1)[1].strip() for l in open("/proc/cpuinfo") if l.startswith("model name"))
    except (OSError, StopIteration):
        cpu = platform.processor() or "unknown cpu"
    cores = subprocess.run(["nproc"], capture_output=True, text=True).stdout.strip()
    versions = ", ".join(f"{p} {version(p)}" for p in ("eventsourcing", "kafka-python", "duckdb", "pyarrow", "pydantic"))
    return f"{cpu}, {cores} cores; Python {platform.python_version()}; {versions}"


def table(rows: list[list[str]], header: list[str]) -> str:
    widths = [max(len(str(r[i])) for r in rows + [header]) for i in range(len(header))]
    line = lambda cells: "| " + " | ".join(str(c).ljust(w) for c, w in zip(cells, widths)) + " |"
    return "\n".join([line(header), "|" + "|".join("-" * (w + 2) for w in widths) + "|", *map(line, rows)])


def report(title: str, command: str, rows: list[list[str]], header: list[str], notes: str = "") -> None:
    """Print the table and append it, with machine, versions, date and command, to BENCHMARKS.md."""
    text = table(rows, header)
    print(text)
    stamp = datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    block = (f"\n### {title} — {stamp}\n\n`{command}`  \n{machine()}\n\n{text}\n" + (f"\n{notes}\n" if notes else ""))
    if not BENCHMARKS.exists():
        BENCHMARKS.write_text("# Benchmarks\n\nAppended by the scripts in `bench/` (see bench/README.md). Every "
                              "figure stands beside a raw baseline measured in the same run; on these shared, noisy "
                              "machines compare the ratios.\n")
    with BENCHMARKS.open("a") as out:
        out.write(block)


def command_line() -> str:
    return "python " + " ".join([str(Path(sys.argv[0]).relative_to(ROOT)) if Path(sys.argv[0]).is_absolute()
                                 else sys.argv[0], *sys.argv[1:]])


def prepared_home(events: int) -> Path:
    """A ledger folder holding `events` demo events (posted once, then reused by every script)."""
    import os

    from ledger.application import Ledger
    from ledger.config import Settings

    home = Path(os.environ.get("LEDGER_BENCH_DIR", Path.home() / ".cache" / "mastery-ledger" / "bench")) / str(events)
    done = home / "posted"
    if not done.exists():
        import shutil

        shutil.rmtree(home, ignore_errors=True)
        ledger = Ledger(Settings.load({"LEDGER_HOME": str(home)}))
        print(f"preparing {events:,} events in {home} ...", file=sys.stderr)
        posted, started, lap = 0, time.perf_counter(), time.perf_counter()
        for outcome in ledger.post(iter_district_lines(events)):
            if outcome.rejection is not None:
                raise SystemExit(f"benchmark history refused: {outcome.rejection}")
            posted += 1
            if posted % 100_000 == 0:
                now = time.perf_counter()
                print(f"  {posted:,} posted, {100_000 / (now - lap):,.0f} ev/s for the last 100,000, "
                      f"{peak_rss_mib():,.0f} MiB peak", file=sys.stderr, flush=True)
                lap = now
        print(f"  {posted:,} posted in {time.perf_counter() - started:,.0f} s", file=sys.stderr)
        done.write_text(str(posted))
    return home


def open_ledger(home: Path):
    from ledger.application import Ledger
    from ledger.config import Settings

    return Ledger(Settings.load({"LEDGER_HOME": str(home)}))


def postgres_store() -> str:
    """A LEDGER_STORE URL for a fresh schema on the project's own PostgreSQL (started if need be)."""
    import uuid

    script = str(ROOT / "scripts" / "postgres")
    subprocess.run([script, "start"], check=True, capture_output=True)
    url = subprocess.run([script, "url"], check=True, capture_output=True, text=True).stdout.strip()
    return f"{url}?schema=bench_{uuid.uuid4().hex[:12]}"
