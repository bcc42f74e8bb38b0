"""The LRS under load, against a real `ledger serve`, every figure beside a same-run baseline:

1. statements/s through POST /xapi/statements in batches (about enrolled learners, so each also
   becomes an `xapi.statement` event on the learner's chain) beside the same number of
   assessment events through POST /v1/events in batches of the same size;
2. GET /xapi/statements query latency (agent, verb, activity; limit 10) p50/p99 with --stored
   statements in the LRS, beside GET /health (the HTTP floor).

    python bench/xapi.py --stored 1000000            # SQLite
    python bench/xapi.py --stored 100000 --store postgres
"""

from __future__ import annotations

import argparse
import json
import random
import sys
import tempfile
import time
import uuid
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import httpx  # noqa: E402

from bench.common import command_line, percentiles, postgres_store, rate, report  # noqa: E402
from tests import factories as f  # noqa: E402
from tests.http_support import Server, cli, server_env  # noqa: E402

V = {"X-Experience-API-Version": "2.0.0"}
VERBS = [f"http://adlnet.gov/expapi/verbs/{v}" for v in ("attempted", "passed", "failed", "completed", "answered")]


def statement(rng: random.Random, actor: dict, i: int) -> dict:
    return {"id": str(uuid.UUID(int=rng.getrandbits(128), version=4)), "actor": actor,
            "verb": {"id": rng.choice(VERBS)}, "object": {"id": f"http://lms.example.org/act/{i % 5000}"},
            "result": {"score": {"scaled": round(rng.random(), 3)}}, "timestamp": "2026-03-02T10:15:00Z"}


def fill(env: dict, count: int, seed: int) -> float:
    """Statements straight into the LRS's tables (people the ledger has no chain for), in-process."""
    from ledger.application import Ledger
    from ledger.config import Settings
    from xapi.service import LrsCore, authority

    settings = Settings.load({k: v for k, v in env.items() if k.startswith("LEDGER_")})
    core = LrsCore(settings, Ledger(settings))
    rng = random.Random(seed + 1_000_003)  # not the posting phase's ids
    started = time.perf_counter()
    who = authority("bench", "fill", "bench")
    for start in range(0, count, 1000):
        batch = [statement(rng, {"mbox": f"mailto:p{rng.randrange(20_000)}@example.org"}, start + i)
                 for i in range(min(1000, count - start))]
        core.statements.store(core.statements.prepare(batch, who, "2.0.0"))
    core.close()
    return time.perf_counter() - started


def timed_get(http: httpx.Client, url: str, params: dict | None, n: int) -> list[float]:
    out = []
    for _ in range(n):
        started = time.perf_counter()
        response = http.get(url, params=params)
        out.append(time.perf_counter() - started)
        assert response.status_code == 200, response.text
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--store", choices=["sqlite", "postgres"], default="sqlite")
    parser.add_argument("--stored", type=int, default=1_000_000)
    parser.add_argument("--batches", type=int, default=20)
    parser.add_argument("--batch-size", type=int, default=100)
    parser.add_argument("--queries", type=int, default=200)
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args()
    home = Path(tempfile.mkdtemp(prefix="bench-xapi-")) / "home"
    env = server_env(home, postgres_store() if args.store == "postgres" else None)
    learners = [f"L{i}" for i in range(200)]
    seeded = cli(env, "post", "-", stdin="\n".join(f.line(d) for d in [f.framework(), *map(f.enrolled, learners)]) + "\n")
    assert seeded.returncode == 0, seeded.stdout + seeded.stderr
    lrs = json.loads(cli(env, "keys", "create", "--role", "lrs_client", "--school", f.SCHOOL, "--json").stdout)
    school_key = json.loads(cli(env, "keys", "create", "--role", "school", "--school", f.SCHOOL, "--json").stdout)["key"]
    server = Server(env).start()
    rng = random.Random(args.seed)
    rows = []
    try:
        with httpx.Client(base_url=server.url, timeout=120) as http:
            n = args.batches * args.batch_size
            started = time.perf_counter()
            for _ in range(args.batches):
                batch = [f.assessment(rng.choice(learners), rng.choice(["C1", "C2", "C3"]), float(rng.randint(1, 4)),
                                      days=-rng.uniform(1, 15)) for _ in range(args.batch_size)]
                assert http.post("/v1/events", json=batch, headers={"X-API-Key": school_key}).status_code == 200
            events_s = time.perf_counter() - started
            started = time.perf_counter()
            for b in range(args.batches):
                batch = [statement(rng, {"account": {"homePage": "http://lms.example.org", "name": rng.choice(learners)}},
                                   b * args.batch_size + i) for i in range(args.batch_size)]
                r = http.post("/xapi/statements", json=batch, headers=V, auth=(lrs["key_id"], lrs["key"]))
                assert r.status_code == 200, r.text
            xapi_s = time.perf_counter() - started
            rows.append([f"POST batches of {args.batch_size}", f"{n}", f"{rate(n, xapi_s):,.0f} statements/s",
                         f"{rate(n, events_s):,.0f} events/s (/v1/events)", f"{events_s / xapi_s:.2f}"])
            fill_s = fill(env, args.stored, args.seed)
            auth = (lrs["key_id"], lrs["key"])
            floor = timed_get(http, "/health", None, args.queries)
            p50h, p99h = percentiles(floor)
            for name, params in [("agent", {"agent": json.dumps({"mbox": "mailto:p7@example.org"})}),
                                 ("verb", {"verb": VERBS[1]}), ("activity", {"activity": "http://lms.example.org/act/42"}),
                                 ("none (newest)", {})]:
                samples = []
                for _ in range(args.queries):
                    started = time.perf_counter()
                    r = http.get("/xapi/statements", params={**params, "limit": "10"}, headers=V, auth=auth)
                    samples.append(time.perf_counter() - started)
                    assert r.status_code == 200, r.text
                p50, p99 = percentiles(samples)
                rows.append([f"GET ?{name} limit 10", f"{args.stored:,} stored",
                             f"p50 {p50 * 1000:.1f} ms, p99 {p99 * 1000:.1f} ms",
                             f"/health p50 {p50h * 1000:.1f} ms, p99 {p99h * 1000:.1f} ms", f"{p50 / p50h:.1f}x"])
    finally:
        server.stop()
    report(f"xAPI LRS ({args.store})", command_line(), rows, ["what", "size", "LRS", "baseline (same run)", "ratio"],
           notes=f"Filling {args.stored:,} statements in-process took {fill_s:.0f} s. Ratio for POST: /v1/events "
                 "time over /xapi time (above 1: the LRS is faster); for GET: LRS p50 over /health p50.")


if __name__ == "__main__":
    main()
