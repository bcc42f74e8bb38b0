"""`ledger verify`: everything an insider with write access to the store could have changed, checked
in one streaming pass over the notification log (a page at a time; memory grows with the number
of streams, not of events).

- every per-stream hash chain link, and that stream versions do not jump;
- every stream that was opened still has its recorded events, and every recorded event's stream
  was opened;
- receipts against events, both ways: each receipt has exactly one recorded event with its id, in
  the stream it names; each recorded event has its receipt; an event id recorded twice is named
  (receipts are written in the same transaction as their events, so the pending sets stay small);
- the Merkle tree recomputed from the log against every signed checkpoint in the checkpoints file
  (signatures included): the first checkpoint whose root no longer matches bounds where history
  was rewritten, and a log shorter than a checkpoint was truncated;
- with a checkpoint a registrar kept (`since`), a consistency proof from it to the current tree.

Credit awards are then re-derived from the log (`verify_everything`), so the CLI and the HTTP API
run one and the same check.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import orjson

from ledger import checkpoints, merkle
from ledger.anchor import CHUNK, CHUNK_BITS, Anchor, leaf_data, leaf_of
from ledger.canonical import GENESIS, chain_hash
from ledger.checkpoints import Checkpoint, CheckpointError
from ledger.streams import RECORDED_TOPIC, Receipt, Stream
from eventsourcing.utils import get_topic

OPENED_TOPIC = get_topic(Stream.Opened)
RECEIPT_TOPIC = get_topic(Receipt.Created)
PAGE = 5_000


@dataclass
class VerifyReport:
    events: int = 0
    streams: int = 0
    receipts: int = 0
    tree_size: int = 0
    root: str = merkle.EMPTY_ROOT.hex()
    checkpoints: int = 0  # signed checkpoints checked against the recomputed tree
    latest_checkpoint: dict[str, Any] | None = None
    unanchored: int = 0  # recorded events after the latest checkpoint (not yet signed)
    since: dict[str, Any] | None = None  # the consistency proof from a kept checkpoint
    broken: list[dict[str, Any]] = field(default_factory=list)
    credits_checked: int = 0
    credit_problems: list[dict[str, Any]] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.broken and not self.credit_problems

    def name(self, kind: str, reason: str, position: int | None = None, event_id: str | None = None) -> None:
        self.broken.append({"kind": kind, "position": position, "event_id": event_id, "reason": reason})

    def as_dict(self) -> dict[str, Any]:
        return {"ok": self.ok, "events": self.events, "streams": self.streams, "receipts": self.receipts,
                "tree_size": self.tree_size, "root": self.root, "checkpoints_checked": self.checkpoints,
                "latest_checkpoint": self.latest_checkpoint, "unanchored_events": self.unanchored,
                "since": self.since, "broken": self.broken, "credits_checked": self.credits_checked,
                "credit_problems": self.credit_problems}


def verify_everything(ledger: Any, anchor: Anchor, *, since: Checkpoint | None = None,
                      progress: Callable[[int, int], None] | None = None) -> VerifyReport:
    """The one verification `ledger verify` and `GET /v1/verify` run: the log, then the credits."""
    from ledger.credit.verify import verify_credits

    report = verify_log(ledger.recorder, anchor, since=since, progress=progress)
    credits = verify_credits(_pages(ledger), {b["event_id"] for b in report.broken if b["event_id"]})
    report.credits_checked, report.credit_problems = credits.awards, list(credits.problems or [])
    return report


def _pages(ledger: Any, size: int = 20_000):
    position = 0
    while True:
        page = ledger.read(after=position, limit=size)
        if not page:
            return
        yield page
        position = page[-1].position


def verify_log(recorder: Any, anchor: Anchor, *, since: Checkpoint | None = None,
               progress: Callable[[int, int], None] | None = None) -> VerifyReport:
    report = VerifyReport()
    signed = _signed_checkpoints(anchor, since, report)
    checker = _TreeChecker(signed, report, since.tree_size if since else None)
    heads: dict[Any, tuple[str, int]] = {}
    opened: dict[Any, str] = {}  # streams opened whose first recorded event has not been seen yet
    pending_events: dict[str, list[tuple[int, Any]]] = {}  # event id -> (position, stream) awaiting a receipt
    pending_receipts: dict[str, tuple[int, str, Any]] = {}  # event id -> (position, stream key, stream id)
    from ledger.streams import stream_id

    position, top = 0, recorder.max_notification_id() or 0
    while position < top:
        page = recorder.select_notifications(position, PAGE, inclusive_of_start=False)
        if not page:
            break
        for n in page:
            position = n.id
            if n.topic == OPENED_TOPIC:
                opened[n.originator_id] = _field(n.state, "key") or str(n.originator_id)
                continue
            if n.topic == RECEIPT_TOPIC:
                report.receipts += 1
                event_id, key = str(n.originator_id), _field(n.state, "stream_key") or ""
                sid = stream_id(key) if key else None
                waiting = pending_events.pop(event_id, None)
                if waiting is None:
                    pending_receipts[event_id] = (n.id, key, sid)
                elif waiting[0][1] != sid:
                    report.name("receipt", f"the receipt for event {event_id} names stream {key!r}, but the event "
                                           f"is recorded in another stream (position {waiting[0][0]})",
                                n.id, event_id)
                continue
            if n.topic != RECORDED_TOPIC:
                continue
            report.events += 1
            sid = n.originator_id
            if sid not in heads:
                if opened.pop(sid, None) is None:
                    report.name("stream", f"stream {sid} has recorded events but no opening event", n.id)
            previous, version = heads.get(sid, (GENESIS, 1))
            problem, event_id, stored_hash = check_link(n.state, previous)
            if problem is None and n.originator_version != version + 1:
                problem = f"stream version jumps from {version} to {n.originator_version}: an event is missing"
            if problem is not None:
                report.name("chain", problem, n.id, event_id)
            heads[sid] = (stored_hash, n.originator_version)
            if event_id:
                receipt = pending_receipts.pop(event_id, None)
                if receipt is not None:
                    if receipt[2] != sid:
                        report.name("receipt", f"event {event_id} is recorded in a stream other than the "
                                               f"{receipt[1]!r} its receipt names", n.id, event_id)
                else:
                    earlier = pending_events.setdefault(event_id, [])
                    if earlier:
                        report.name("receipt", f"event {event_id} is recorded twice (positions {earlier[0][0]} "
                                               f"and {n.id}): its receipt was removed and the event accepted again",
                                    n.id, event_id)
                    earlier.append((n.id, sid))
            checker.add(n, event_id, stored_hash)
        if progress is not None:
            progress(position, top)
    report.streams = len(heads)
    for event_id, where in pending_events.items():
        if len(where) == 1:
            report.name("receipt", f"recorded event {event_id} has no receipt: the receipt was deleted, or the "
                                   "event was put into the store behind the ledger's back", where[0][0], event_id)
    for event_id, (at, key, _) in pending_receipts.items():
        report.name("receipt", f"the receipt for event {event_id} (stream {key!r}) has no recorded event: "
                               "the event was deleted", at, event_id)
    for sid, key in opened.items():
        report.name("stream", f"stream {key!r} was opened but its recorded events are gone: deleted")
    checker.finish()
    if since is not None:
        _prove_since(recorder, since, checker, report)
    return report


def check_link(state_bytes: bytes, previous: str) -> tuple[str | None, str | None, str]:
    """(problem, event id, stored hash) for one stored event."""
    try:
        state = orjson.loads(state_bytes)
        body, stored_hash, event_id = state["body"], state["hash"], state.get("event_id")
    except (orjson.JSONDecodeError, KeyError, TypeError) as error:
        return f"stored event is unreadable: {error}", None, ""
    try:
        claimed_id = orjson.loads(body).get("event_id")
    except orjson.JSONDecodeError:
        try:  # orjson refuses integers beyond 64 bits, which the standard parser reads
            claimed_id = json.loads(body).get("event_id")
        except ValueError:
            claimed_id = None
    except AttributeError:
        claimed_id = None
    if claimed_id != event_id:
        return "event body does not match its event id", event_id, stored_hash
    if not isinstance(body, str) or chain_hash(previous, body) != stored_hash:
        return ("hash does not match the stored content: the event (or the link to the one before it) "
                "was altered"), event_id, stored_hash
    return None, event_id, stored_hash


def _field(state: bytes, name: str) -> str | None:
    try:
        value = orjson.loads(state).get(name)
    except (orjson.JSONDecodeError, AttributeError):
        return None
    return value if isinstance(value, str) else None


def _signed_checkpoints(anchor: Anchor, since: Checkpoint | None, report: VerifyReport) -> list[Checkpoint]:
    """The checkpoints file, each signature checked; broken ones are named and left out."""
    try:
        public = anchor.public_key()
    except CheckpointError as error:
        report.name("checkpoint", f"{anchor.public_key_file}: {error}")
        return []
    found: list[Checkpoint] = []
    try:
        for cp in checkpoints.read_checkpoints(anchor.checkpoints_file):
            if public is None:
                report.name("checkpoint", f"{anchor.public_key_file} is missing: no checkpoint can be checked")
                return []
            try:
                checkpoints.check_signature(cp, public)
            except CheckpointError as error:
                report.name("checkpoint", str(error))
                continue
            if found and cp.tree_size < found[-1].tree_size:
                report.name("checkpoint", f"checkpoint of tree size {cp.tree_size} ({cp.time}) comes after one of "
                                          f"{found[-1].tree_size}: the log shrank between them")
            found.append(cp)
    except CheckpointError as error:
        report.name("checkpoint", str(error))
    if since is not None:
        if public is None:
            report.name("since", "no published public key to check the kept checkpoint against")
        else:
            try:
                checkpoints.check_signature(since, public)
            except CheckpointError as error:
                report.name("since", f"kept checkpoint: {error}")
    report.latest_checkpoint = found[-1].as_dict() if found else None
    return sorted(found, key=lambda c: c.tree_size)


class _TreeChecker:
    """Rebuilds the tree leaf by leaf and compares it with each signed checkpoint as it passes its size."""

    def __init__(self, signed: list[Checkpoint], report: VerifyReport, kept_size: int | None) -> None:
        self.signed, self.report, self.next = signed, report, 0
        self.chunks: list[bytes] = []
        self.chunk_starts: list[int] = []
        self.frontier = merkle.Frontier(on_subtree=self._on_subtree)
        self.matched_size, self.matched_position = 0, 0  # the largest checkpoint still matching
        self.position = 0
        self.diverged = False
        self.kept_root: bytes | None = None  # the recomputed root at the kept checkpoint's size
        self.kept_size = kept_size
        self._compare()

    def _on_subtree(self, height: int, start: int, h: bytes) -> None:
        if height == CHUNK_BITS:
            self.chunks.append(h)

    def add(self, n: Any, event_id: str | None, stored_hash: str) -> None:
        if self.frontier.size % CHUNK == 0:
            self.chunk_starts.append(n.id)
        if event_id is not None and isinstance(stored_hash, str):  # parsed already: the same leaf as leaf_of(n)
            leaf = merkle.leaf_hash(leaf_data(str(n.originator_id), n.originator_version, str(event_id), stored_hash))
        else:
            leaf = leaf_of(n)[0]
        self.frontier.append(leaf)
        self.position = n.id
        self._compare()

    def _compare(self) -> None:
        size = self.frontier.size
        if self.kept_size == size:
            self.kept_root = self.frontier.root()
        while self.next < len(self.signed) and self.signed[self.next].tree_size == size:
            cp = self.signed[self.next]
            self.next += 1
            self.report.checkpoints += 1
            if self.diverged:
                continue
            if self.frontier.root().hex() == cp.root:
                self.matched_size, self.matched_position = size, self.position
                continue
            self.diverged = True
            self.report.name("tree", (
                f"the first {size} recorded events no longer hash to the root signed at {cp.time}: an event among "
                f"events {self.matched_size + 1}..{size} (log positions {self.matched_position + 1}..{self.position}) "
                "was altered, re-chained, reordered, inserted or deleted"), self.position)

    def finish(self) -> None:
        report, size = self.report, self.frontier.size
        report.tree_size, report.root = size, self.frontier.root().hex()
        beyond = self.signed[self.next:]
        if beyond:
            cp = beyond[-1]
            report.checkpoints += len(beyond)
            report.name("tree", f"the log holds {size} recorded events but the checkpoint signed at {cp.time} covers "
                                f"{cp.tree_size}: {cp.tree_size - size} were deleted (the log was truncated"
                                + (f" after log position {self.matched_position})" if not self.diverged else ")"))
        elif self.signed:
            report.unanchored = size - self.signed[-1].tree_size
        elif size:
            report.name("tree", f"no signed checkpoint covers the {size} recorded events (the checkpoints file "
                                "is missing or empty): run `ledger checkpoint`, or restore it from a copy")


def _prove_since(recorder: Any, kept: Checkpoint, checker: _TreeChecker, report: VerifyReport) -> None:
    size = checker.frontier.size
    result: dict[str, Any] = {"tree_size": kept.tree_size, "root": kept.root, "time": kept.time,
                              "current_tree_size": size, "current_root": report.root}
    report.since = result
    if size < kept.tree_size:
        report.name("since", f"the log holds {size} recorded events, fewer than the {kept.tree_size} of the kept "
                             f"checkpoint signed at {kept.time}: events were deleted")
        return
    subtree = _current_subtrees(recorder, checker, size)
    proof = merkle.consistency_proof(kept.tree_size, size, subtree)
    result["consistency_proof"] = [h.hex() for h in proof]
    try:
        merkle.verify_consistency(kept.tree_size, size, bytes.fromhex(kept.root), bytes.fromhex(report.root), proof)
    except merkle.ProofError as error:
        recomputed = checker.kept_root.hex() if checker.kept_root else "?"
        report.name("since", f"the current log does not extend the checkpoint signed at {kept.time} "
                             f"({kept.tree_size} events, root {kept.root[:16]}…; the log now gives {recomputed[:16]}… "
                             f"for them): {error}. History before it was altered, reordered, re-chained or deleted")
        return
    result["consistent"] = True


def _current_subtrees(recorder: Any, checker: _TreeChecker, size: int):
    """Subtree hashes of the tree just recomputed: whole chunks from the pass, the rest re-read."""
    from ledger.anchor import recorded_after

    leaves: dict[int, list[bytes]] = {}

    def chunk_leaves(c: int) -> list[bytes]:
        if c not in leaves:
            want = min(CHUNK, size - c * CHUNK)
            got = []
            for n in recorded_after(recorder, checker.chunk_starts[c] - 1):
                got.append(leaf_of(n)[0])
                if len(got) == want:
                    break
            leaves[c] = got
        return leaves[c]

    def subtree(start: int, end: int) -> bytes:
        if start % CHUNK == 0 and end % CHUNK == 0 and end // CHUNK <= len(checker.chunks):
            return merkle.root_of_hashes(checker.chunks[start // CHUNK:end // CHUNK])
        if start // CHUNK != (end - 1) // CHUNK:
            k = merkle.split(end - start)
            return merkle.node_hash(subtree(start, start + k), subtree(start + k, end))
        c = start // CHUNK
        return merkle.root_of_hashes(chunk_leaves(c)[start - c * CHUNK:end - c * CHUNK])

    return subtree
