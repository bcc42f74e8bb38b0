"""The anchored log's cost: posting with the Merkle tree and a signed checkpoint after every batch
beside posting with the hook turned off, in one run (alternating, best of the rounds), and
`verify` (chains + streams + receipts + tree + checkpoints) beside the chain-only check it replaced.

    python bench/tree.py --events 50000 [--store postgres] [--rounds 3]
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.common import command_line, district_lines, peak_rss_mib, postgres_store, rate, report, timed  # noqa: E402


def post_rate(lines: list[str], home: Path, store: str, anchored: bool) -> tuple[float, object]:
    from ledger.application import Ledger
    from ledger.config import Settings

    environ = {"LEDGER_HOME": str(home), **({"LEDGER_STORE": postgres_store()} if store == "postgres" else {})}
    ledger = Ledger(Settings.load(environ))
    hook, ledger.hook_seconds = ledger.anchor.after_save, 0.0

    def timed_hook(*saved) -> None:  # the hook's own time: a share that machine noise does not swing
        started = time.perf_counter()
        hook(*saved)
        ledger.hook_seconds += time.perf_counter() - started

    # Off: posting as before the tree.
    ledger.anchor.after_save = timed_hook if anchored else (lambda *saved: None)
    seconds, outcomes = timed(lambda: list(ledger.post(lines)))
    assert all(o.status == "accepted" for o in outcomes), "the benchmark history must be all new, valid events"
    ledger.post_seconds = seconds
    return rate(len(lines), seconds), ledger


def rebuild_rate(ledger, path: Path) -> float:
    """`ledger project --rebuild` from the store into a fresh DuckDB file."""
    from consumers.projector import run_projections

    seconds, run = timed(run_projections, ledger, path)
    return rate(run.events, seconds)


def chain_only_rate(ledger) -> float:
    """The verify this project had before the tree: every chain link, one pass over the log."""
    from ledger.canonical import GENESIS
    from ledger.streams import RECORDED_TOPIC
    from ledger.verification import check_link

    started, heads, count, position = time.perf_counter(), {}, 0, 0
    top = ledger.recorder.max_notification_id() or 0
    while position < top:
        page = ledger.recorder.select_notifications(position, 5_000, inclusive_of_start=False)
        if not page:
            break
        for n in page:
            position = n.id
            if n.topic != RECORDED_TOPIC:
                continue
            count += 1
            problem, _, stored_hash = check_link(n.state, heads.get(n.originator_id, (GENESIS, 1))[0])
            assert problem is None
            heads[n.originator_id] = (stored_hash, n.originator_version)
    return rate(count, time.perf_counter() - started)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--events", type=int, default=50_000)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--store", choices=["sqlite", "postgres"], default="sqlite")
    args = parser.parse_args()
    lines = district_lines(args.events)
    with_tree, without, verify_full, verify_chain, checkpoints = [], [], [], [], 0
    rebuild_tree, rebuild_plain, shares = [], [], []
    with tempfile.TemporaryDirectory() as tmp:
        for round_ in range(args.rounds):
            # Alternate which goes first: on a shared machine the second of a pair ran faster or slower.
            ran = {}
            for anchored in ((False, True) if round_ % 2 == 0 else (True, False)):
                home = Path(tmp) / f"{'tree' if anchored else 'plain'}{round_}"
                speed, opened = post_rate(lines, home, args.store, anchored=anchored)
                ran[anchored] = (speed, opened, rebuild_rate(opened, home.with_suffix(".duckdb")))
            (plain, _, rebuilt_plain), (anchored, ledger, rebuilt) = ran[False], ran[True]
            without.append(plain)
            with_tree.append(anchored)
            rebuild_plain.append(rebuilt_plain)
            rebuild_tree.append(rebuilt)
            shares.append(ledger.hook_seconds / ledger.post_seconds)
            checkpoints = sum(1 for _ in ledger.anchor.checkpoints_file.open())
            seconds, verified = timed(ledger.verify)
            assert verified.ok, verified.broken[:3]
            verify_full.append(rate(verified.events, seconds))
            verify_chain.append(chain_only_rate(ledger))
            print(json.dumps({"round": round_, "post_plain": round(plain), "post_anchored": round(anchored),
                              "rebuild_plain": round(rebuild_plain[-1]), "rebuild_anchored": round(rebuild_tree[-1]),
                              "verify": round(verify_full[-1]), "chain_only": round(verify_chain[-1])}),
                  file=sys.stderr)
    best = lambda xs: max(xs)
    rows = [
        [f"{len(lines):,}", "post (batch 500)", f"{best(with_tree):,.0f}", f"{best(without):,.0f}",
         f"{best(with_tree) / best(without):.2f}"],
        [f"{len(lines):,}", "post: share of time in the checkpoint hook", f"{min(shares):.1%}", "",
         f"{1 - min(shares):.2f}"],
        [f"{len(lines):,}", "rebuild from the store", f"{best(rebuild_tree):,.0f}", f"{best(rebuild_plain):,.0f}",
         f"{best(rebuild_tree) / best(rebuild_plain):.2f}"],
        [f"{len(lines):,}", "verify", f"{best(verify_full):,.0f}", f"{best(verify_chain):,.0f}",
         f"{best(verify_full) / best(verify_chain):.2f}"],
        ["peak RSS", "", f"{peak_rss_mib():,.0f} MiB", "", ""],
    ]
    report(f"Anchored log on {'PostgreSQL' if args.store == 'postgres' else 'SQLite'}: tree and checkpoints vs none",
           command_line(), rows, ["events", "what", "with tree, events/s", "without, events/s", "ratio"],
           f"Best of {args.rounds} alternating rounds. Post: the ledger's posting path with a signed checkpoint "
           f"after every batch ({checkpoints} checkpoints: the tree extended from the log, Ed25519 signature, "
           "a line appended) beside the same path with the hook off; the hook's share of the posting time is timed "
           "inside the anchored runs (least of the rounds; its ratio is 1 - share). Rebuild: the read models from a store posted "
           "with the tree beside one posted without (the tree is never read by a rebuild). Verify: chains, streams, receipts both ways, "
           "the tree recomputed and compared with every checkpoint, beside the chain-only check it replaced.")


if __name__ == "__main__":
    main()
