"""HTTP load: N concurrent clients in this process post evidence for overlapping learners to a
real `ledger serve` (another process, loopback), some re-sending what was already
acknowledged. Afterwards every acknowledged event must be in the store exactly once and
`verify` must pass; the script exits 1 otherwise.

Beside it, in the same run: the same clients hitting GET /health (the HTTP floor), and the
ledger's own path posting the same number of events one per call without HTTP.

    python bench/http_load.py --clients 8 --requests 250            # SQLite
    python bench/http_load.py --clients 8 --requests 250 --store postgres
"""

from __future__ import annotations

import argparse
import json
import random
import sys
import tempfile
import threading
import time
from collections import Counter
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.common import command_line, percentiles, postgres_store, rate, report  # noqa: E402
from tests import factories as f  # noqa: E402
from tests.http_support import Server, cli, server_env  # noqa: E402


def run_clients(server: Server, key: str, clients: int, requests: int, learners: list[str], replay_share: float,
                seed: int) -> tuple[list[tuple[str, int, float]], float]:
    """Each client posts `requests` times; returns (event id, status, seconds) per request and the wall time."""
    results: list[tuple[str, int, float]] = []
    lock = threading.Lock()

    def client(n: int) -> None:
        rng = random.Random(seed * 1000 + n)
        acknowledged: list[dict] = []
        mine = []
        with server.client(key) as http:
            for i in range(requests):
                if acknowledged and rng.random() < replay_share:
                    doc = rng.choice(acknowledged)  # a client retrying a request it already sent
                else:
                    doc = f.assessment(rng.choice(learners), rng.choice(["C1", "C2", "C3"]),
                                       float(rng.randint(1, 4)), days=-rng.uniform(1, 15))
                started = time.perf_counter()
                try:
                    status = http.post("/v1/events", json=doc).status_code
                except Exception:  # a timeout or a dropped connection: not acknowledged
                    status = 0
                mine.append((doc["event_id"], status, time.perf_counter() - started))
                if status in (200, 201):
                    acknowledged.append(doc)
        with lock:
            results.extend(mine)

    threads = [threading.Thread(target=client, args=(n,)) for n in range(clients)]
    started = time.perf_counter()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return results, time.perf_counter() - started


def health_rate(server: Server, clients: int, requests: int) -> tuple[float, float]:
    latencies: list[float] = []
    lock = threading.Lock()

    def client() -> None:
        mine = []
        with server.client() as http:
            for _ in range(requests):
                started = time.perf_counter()
                http.get("/health")
                mine.append(time.perf_counter() - started)
        with lock:
            latencies.extend(mine)

    threads = [threading.Thread(target=client) for _ in range(clients)]
    started = time.perf_counter()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return rate(len(latencies), time.perf_counter() - started), percentiles(latencies)[1]


def direct_rate(store: str | None, learners: list[str], count: int) -> float:
    """The ledger's own path, one event per call, no HTTP: a fresh store of the same kind."""
    from ledger.application import Ledger
    from ledger.config import Settings

    with tempfile.TemporaryDirectory() as home:
        environ = {"LEDGER_HOME": home, **({"LEDGER_STORE": postgres_store()} if store else {})}
        ledger = Ledger(Settings.load(environ))
        list(ledger.post(f.line(d) for d in f.setup(learners)))
        docs = [f.line(f.assessment(random.choice(learners), days=-random.uniform(1, 15))) for _ in range(count)]
        started = time.perf_counter()
        for doc in docs:
            list(ledger.post([doc]))
        return rate(count, time.perf_counter() - started)


def check_store(env: dict, results: list[tuple[str, int, float]]) -> dict:
    """Every acknowledged event stored exactly once; the chains intact."""
    from ledger.application import Ledger
    from ledger.config import Settings

    ledger = Ledger(Settings.load({k: v for k, v in env.items() if k.startswith("LEDGER_")}))
    stored: Counter[str] = Counter()
    position = 0
    while batch := ledger.read(after=position, limit=10_000):
        stored.update(e.event["event_id"] for e in batch)
        position = batch[-1].position
    acknowledged = {event_id for event_id, status, _ in results if status in (200, 201)}
    report_ = ledger.verify()
    return {"acknowledged": len(acknowledged), "lost": len(acknowledged - set(stored)),
            "stored_twice": sum(1 for c in stored.values() if c > 1), "verify_ok": report_.ok,
            "server_errors": sum(1 for _, s, _ in results if s >= 500 or s == 0)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--clients", type=int, default=8)
    parser.add_argument("--requests", type=int, default=250, help="per client")
    parser.add_argument("--learners", type=int, default=20, help="shared by every client, so writes collide")
    parser.add_argument("--replay-share", type=float, default=0.1, help="share of requests that re-send")
    parser.add_argument("--store", choices=["sqlite", "postgres"], default="sqlite")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--json", action="store_true", help="print the outcome as JSON, do not touch BENCHMARKS.md")
    args = parser.parse_args()

    learners = [f"L{i:03d}" for i in range(args.learners)]
    store = postgres_store() if args.store == "postgres" else None
    with tempfile.TemporaryDirectory() as tmp:
        env = server_env(Path(tmp) / "home", store)
        seeded = cli(env, "post", "-", stdin="\n".join(f.line(d) for d in f.setup(learners)) + "\n")
        if seeded.returncode != 0:
            raise SystemExit(f"could not seed the store: {seeded.stderr}")
        server = Server(env).start()
        try:
            key = server.key("school", "--school", f.SCHOOL)
            results, seconds = run_clients(server, key, args.clients, args.requests, learners, args.replay_share,
                                           args.seed)
            health, health_p99 = health_rate(server, args.clients, args.requests)
        finally:
            server.stop()
        outcome = check_store(env, results)
    latencies = [s for _, status, s in results if status]
    p50, p99 = percentiles(latencies)
    statuses = Counter(status for _, status, _ in results)
    outcome.update(requests=len(results), seconds=round(seconds, 2), requests_per_s=round(rate(len(results), seconds), 1),
                   p50_ms=round(p50 * 1000, 2), p99_ms=round(p99 * 1000, 2),
                   statuses={str(k): v for k, v in sorted(statuses.items())})
    ok = not outcome["lost"] and not outcome["stored_twice"] and outcome["verify_ok"] and not outcome["server_errors"]
    if args.json:
        print(json.dumps({"ok": ok, **outcome}))
        raise SystemExit(0 if ok else 1)
    direct = direct_rate(store, learners, len(results))
    rows = [
        [f"POST /v1/events ({args.clients} clients, {args.learners} shared learners)", f"{outcome['requests_per_s']:,.0f}",
         f"{outcome['p50_ms']:.1f}", f"{outcome['p99_ms']:.1f}", f"{outcome['requests_per_s'] / direct:.2f}"],
        ["baseline: Ledger.post one per call, no HTTP", f"{direct:,.0f}", "", "", "1.00"],
        ["baseline: GET /health, same clients", f"{health:,.0f}", "", f"{health_p99 * 1000:.1f}",
         f"{health / direct:.2f}"],
    ]
    notes = (f"{args.store}: {outcome['requests']} requests ({args.replay_share:.0%} re-sent), statuses "
             f"{outcome['statuses']}; {outcome['acknowledged']} acknowledged events, lost {outcome['lost']}, "
             f"stored twice {outcome['stored_twice']}, verify {'passed' if outcome['verify_ok'] else 'FAILED'}.")
    report(f"HTTP load ({args.store})", command_line(), rows, ["path", "requests/s", "p50 ms", "p99 ms",
                                                               "ratio to direct"], notes)
    print(notes)
    raise SystemExit(0 if ok else 1)


if __name__ == "__main__":
    main()
