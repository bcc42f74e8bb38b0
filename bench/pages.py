"""Web pages: p50 / p99 render time of a learner's profile and plan pages (`GET /web/...`, HTML,
through the whole app: session check, access rule, read models, templates) beside the JSON API
for the same learners (`GET /v1/learners/{id}/state` and `/plans`), same process, same run,
calls alternated.

    python bench/pages.py --events 1000000 [--samples 200]
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
    args = parser.parse_args()
    from fastapi.testclient import TestClient

    from api.app import create_app
    from consumers.projector import run_projections
    from ledger.config import Settings
    from ledger.keyring import Keyring
    from ledger.people import Sessions
    from projections import official
    from web.routes import COOKIE

    home = prepared_home(args.events)
    run_projections(open_ledger(home), home / "projections.duckdb")
    settings = Settings.load({"LEDGER_HOME": str(home)})
    with official.connect(home / "projections.duckdb", read_only=True) as con:
        learners = [l for (l,) in con.execute("SELECT learner_id FROM learner").fetchall()]
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
    report(f"Page render at {args.events:,} events ({len(learners):,} learners)", command_line(), rows,
           ["page", "p50 ms", "p99 ms", "JSON API (same data)", "p50 ms", "p99 ms", "page p99 / API p99"],
           "In process (starlette's TestClient over the whole app, middleware included). The profile page "
           "also reads the learner's evidence, credits and ten as-of states for its chart; the state JSON "
           "is the maintained rows alone.")


if __name__ == "__main__":
    main()
