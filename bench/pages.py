"""Web pages: p50 / p99 render time of a learner's profile and plan pages (`GET /web/...`, HTML,
through the whole app: session check, access rule, read models, templates) beside the JSON API
for the same learners (`GET /v1/learners/{id}/state` and `/plans`), same process, same run,
calls alternated.

    python bench/pages.py --events 1000000 [--samples 200]
    python bench/pages.py --events 10000000 --fill-projections [--samples 200]

`--fill-projections` is for sizes whose posting through the ledger does not fit a run (10M at
~1-2k ev/s is days): the pages and the JSON API read only the DuckDB read models (plus the
learner's own stream for the access rule), so the read models are built from the generated
district history by the projector's own rebuild path (`run_projections`, deferred batches and
`finish()`), fed by a reader that hands over the generated events as bodies. The event store
holds only the catalogue and the sampled learners' own events (posted through the ledger), so
the access rule finds them enrolled. What differs from a posted history: the generated bodies
are not sealed (free text is plain) and carry `recorded_at` = `demonstrated_at`.
"""

from __future__ import annotations

import argparse
import random
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.common import command_line, open_ledger, peak_rss_mib, percentiles, prepared_home, report  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--events", type=int, default=100_000)
    parser.add_argument("--samples", type=int, default=200)
    parser.add_argument("--fill-projections", action="store_true",
                        help="build the read models from generated events instead of posting them (see above)")
    parser.add_argument("--sampled-learners", type=int, default=40, help="with --fill-projections")
    args = parser.parse_args()
    from fastapi.testclient import TestClient

    from api.app import create_app
    from consumers.projector import run_projections
    from ledger.config import Settings
    from ledger.keyring import Keyring
    from ledger.people import Sessions
    from projections import official
    from web.routes import COOKIE

    if args.fill_projections:
        home, learners = filled_home(args.events, args.sampled_learners)
    else:
        home = prepared_home(args.events)
        run_projections(open_ledger(home), home / "projections.duckdb")
        with official.connect(home / "projections.duckdb", read_only=True) as con:
            learners = [l for (l,) in con.execute("SELECT learner_id FROM learner").fetchall()]
    settings = Settings.load({"LEDGER_HOME": str(home)})
    with official.connect(home / "projections.duckdb", read_only=True) as con:
        [(district_learners, projected)] = con.execute(
            "SELECT (SELECT count(*) FROM learner), (SELECT sum(events) FROM projection_position "
            "WHERE projection = 'evidence')").fetchall()
    key = Keyring(settings).create("registrar", actor_id="reg-bench", label="bench/pages.py").secret
    person = {"person_id": "reg-bench", "role": "registrar", "school_id": "school-01", "learners": [],
              "actor_id": "reg-bench", "language": "en", "label": "bench"}
    cookie = Sessions(settings).issue(person)
    rng = random.Random(7)
    picks = [rng.choice(learners) for _ in range(args.samples)]
    timings: dict[str, list[float]] = {}
    pairs = [("profile page", "/web/learners/{}", "state JSON", "/v1/learners/{}/state"),
             ("plan page", "/web/learners/{}/plan", "plans JSON", "/v1/learners/{}/plans")]
    with TestClient(create_app(settings, project=False)) as http:
        http.cookies.set(COOKIE, cookie, path="/web")
        for learner in picks:
            for page_name, page_path, api_name, api_path in pairs:
                for name, path, headers in ((page_name, page_path, {}), (api_name, api_path, {"X-API-Key": key, "X-Purpose": "benchmark of page render time"})):
                    started = time.perf_counter()
                    response = http.get(path.format(learner), headers=headers)
                    timings.setdefault(name, []).append((time.perf_counter() - started) * 1000)
                    assert response.status_code == 200, (path, response.status_code, response.text[:200])
    rows = []
    for page_name, _, api_name, _ in pairs:
        page, api = percentiles(timings[page_name]), percentiles(timings[api_name])
        rows.append([page_name, f"{page[0]:.1f}", f"{page[1]:.1f}", api_name, f"{api[0]:.1f}", f"{api[1]:.1f}",
                     f"{page[1] / api[1]:.1f}x"])
    rows.append(["peak RSS", f"{peak_rss_mib():,.0f} MiB", "", "", "", "", ""])
    how = (f"read models filled from {projected or args.events:,} generated events by the projector's rebuild "
           f"path; {len(learners)} sampled learners also posted to the store" if args.fill_projections
           else "history posted through the ledger, read models projected from the store")
    report(f"Page render at {args.events:,} events ({district_learners:,} learners; {how})", command_line(), rows,
           ["page", "p50 ms", "p99 ms", "JSON API (same data)", "p50 ms", "p99 ms", "page p99 / API p99"],
           "In process (starlette's TestClient over the whole app, middleware included). The profile page "
           "also reads the learner's evidence, credits and ten as-of states for its chart; the state JSON "
           "is the maintained rows alone.")


class GeneratedReader:
    """The projector's reader over generated district history (one pass, in order): bodies as
    the store would hand them over, positions counted from 1."""

    def __init__(self, lines, keep) -> None:
        self.lines, self.keep, self.position = lines, keep, 0

    def read_bodies(self, after: int = 0, limit: int = 10_000) -> tuple[list[int], list[str], list[str]]:
        import hashlib

        import orjson

        assert after == self.position, "the generated history is read once, in order"
        positions, hashes, bodies = [], [], []
        for line in self.lines:
            event = orjson.loads(line)
            self.keep(event, line)
            event.setdefault("recorded_at", event.get("demonstrated_at"))
            body = orjson.dumps(event).decode()
            self.position += 1
            positions.append(self.position)
            hashes.append(hashlib.sha256(body.encode()).hexdigest())
            bodies.append(body)
            if len(positions) == limit:
                break
        return positions, hashes, bodies

    def read(self, after: int = 0, limit: int = 10_000):
        raise NotImplementedError("read_bodies only")  # _build_aside prefers read_bodies

    def head_position(self) -> int:
        return self.position


def filled_home(events: int, sampled: int) -> tuple[Path, list[str]]:
    """A ledger folder whose read models hold `events` generated events (kept between runs)."""
    import os
    import shutil

    from bench.common import iter_district_lines
    from consumers.projector import run_projections

    home = Path(os.environ.get("LEDGER_BENCH_DIR", Path.home() / ".cache" / "mastery-ledger" / "bench")) / \
        f"filled-{events}"
    done = home / "filled"
    if done.exists():
        return home, done.read_text().split()
    shutil.rmtree(home, ignore_errors=True)
    home.mkdir(parents=True)
    chosen: set[str] = set()
    posted: list[str] = []

    def keep(event: dict, line: str) -> None:
        learner = event.get("learner_id")
        if learner is None:
            posted.append(line)  # the catalogue: frameworks, courses
        elif learner in chosen or (len(chosen) < sampled and event["type"] == "learner.enrolled"):
            chosen.add(learner)
            posted.append(line)

    started = time.perf_counter()
    run = run_projections(GeneratedReader(iter_district_lines(events), keep), home / "projections.duckdb",
                          batch_size=50_000, rebuild=True,
                          progress=lambda at, _: at % 1_000_000 < 50_000 and print(
                              f"  {at:,} projected, {time.perf_counter() - started:,.0f} s", file=sys.stderr,
                              flush=True))
    print(f"  read models: {run.events:,} events in {time.perf_counter() - started:,.0f} s", file=sys.stderr)
    for outcome in open_ledger(home).post(posted):
        if outcome.rejection is not None:
            raise SystemExit(f"sampled learners' history refused: {outcome.rejection}")
    done.write_text(" ".join(sorted(chosen)))
    return home, sorted(chosen)


if __name__ == "__main__":
    main()
