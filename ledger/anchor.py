"""The Merkle tree over the whole log, kept beside the per-learner chains, and its checkpoints.

Leaves are the recorded events (topic RECORDED_TOPIC) of the store's notification log, in global
order: leaf i is the (i+1)-th recorded event. A leaf's data is

    b"mastery-ledger leaf v1\\n" + "<stream uuid>\\n<stream version>\\n<event id>\\n<stored hash>"

so the tree binds each event to its stream, its place in that stream and its chain hash (which
covers the stored bytes and the link before them). Editing an event, re-chaining a stream, moving
events between streams, reordering, inserting or deleting any event changes the leaves from there
on, and with them every later root. Receipts and stream openings are not leaves: verification
checks them against the events (ledger.verification).

Only the frontier is persisted ($LEDGER_HOME/anchor/tree.json), with the hash and starting log
position of every complete chunk of CHUNK leaves (anchor/chunks.bin, 40 bytes a chunk): enough to
extend the tree by reading only the notifications after the last checkpoint, and to make an
inclusion proof by reading at most two chunks of the log. A file lock serialises writers sharing a
home; each checkpoint extends the one before, so racing processes still write a consistent series.
"""

from __future__ import annotations

import fcntl
import hashlib
import json
import logging
import os
from bisect import bisect_right
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import orjson
from eventsourcing.persistence import PersistenceError

from ledger import checkpoints, merkle
from ledger.checkpoints import Checkpoint
from ledger.streams import RECORDED_TOPIC

CHUNK_BITS = 10
CHUNK = 1 << CHUNK_BITS
LEAF_PREFIX = b"mastery-ledger leaf v1\n"
PAGE = 5_000
log = logging.getLogger(__name__)


def leaf_data(stream: str, version: int, event_id: str, stored_hash: str) -> bytes:
    return LEAF_PREFIX + f"{stream}\n{version}\n{event_id}\n{stored_hash}".encode()


def leaf_of(notification: Any) -> tuple[bytes, str, str]:
    """(leaf hash, event id, stored hash) of a recorded event's notification. An unreadable state
    still makes a leaf (of its raw bytes), so the tree notices it like any other change."""
    try:
        state = orjson.loads(notification.state)
        event_id, stored_hash = str(state["event_id"]), str(state["hash"])
    except (orjson.JSONDecodeError, KeyError, TypeError):
        return merkle.leaf_hash(LEAF_PREFIX + bytes(notification.state)), "", ""
    data = leaf_data(str(notification.originator_id), notification.originator_version, event_id, stored_hash)
    return merkle.leaf_hash(data), event_id, stored_hash


def recorded_after(recorder: Any, position: int, stop: int | None = None) -> Iterator[Any]:
    """Recorded-event notifications after `position` (up to `stop`), a page at a time."""
    while True:
        page = recorder.select_notifications(position, PAGE, stop=stop, topics=[RECORDED_TOPIC],
                                             inclusive_of_start=False)
        yield from page
        if len(page) < PAGE:
            return
        position = page[-1].id


class AnchorError(RuntimeError):
    """The log no longer yields the tree a checkpoint signed (proofs cannot be made from it)."""


class Anchor:
    def __init__(self, base: Path, key_file: Path | None = None) -> None:
        self.dir = Path(base) / "anchor"
        self.checkpoints_file = Path(base) / "checkpoints.jsonl"
        self.key_file = Path(key_file) if key_file else Path(base) / "checkpoint-key.pem"
        self._key = None

    @classmethod
    def for_settings(cls, settings: Any) -> Anchor:
        """The home's own store keeps its tree and checkpoints in the home itself; any other store
        (PostgreSQL, a SQLite file elsewhere) in home/stores/<id>/, so two stores used with one
        home never mix their trees. One signing key per home either way."""
        home = Path(settings.home)
        key_file = settings.checkpoint_key_file or home / "checkpoint-key.pem"
        if settings.is_sqlite and Path(settings.store).resolve() == (home / "ledger.db").resolve():
            return cls(home, key_file)
        if settings.is_sqlite:
            identity = str(Path(settings.store).resolve())
        else:
            from ledger.config import PostgresStore

            pg = PostgresStore.parse(settings.store)
            identity = f"postgresql://{pg.user}@{pg.host}:{pg.port}/{pg.dbname}?schema={pg.schema or 'public'}"
        return cls(home / "stores" / hashlib.sha256(identity.encode()).hexdigest()[:16], key_file)

    @property
    def public_key_file(self) -> Path:
        return checkpoints.public_key_path(self.key_file)

    def key(self):
        if self._key is None:
            self._key = checkpoints.load_or_create_key(self.key_file)
        return self._key

    def public_key(self):
        """The published key if there is one (a verifier need not hold the private key)."""
        if self.public_key_file.exists():
            return checkpoints.load_public_key(self.public_key_file)
        if self.key_file.exists():
            return self.key().public_key()
        return None

    # --- persisted state ----------------------------------------------------------------------

    @contextmanager
    def _locked(self) -> Iterator[None]:
        self.dir.mkdir(parents=True, exist_ok=True)
        with open(self.dir / "lock", "a") as handle:
            fcntl.flock(handle, fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(handle, fcntl.LOCK_UN)

    EMPTY = {"size": 0, "position": 0, "frontier": [], "chunk_start": 0}

    def _load(self) -> dict[str, Any]:
        try:
            state = json.loads((self.dir / "tree.json").read_bytes())
            merkle.Frontier(state["size"], [bytes.fromhex(h) for h in state["frontier"]])
            return state
        except FileNotFoundError:
            return dict(self.EMPTY)
        except (ValueError, KeyError, TypeError):
            # Torn by a crash mid-write (it is rewritten in place: a rename per batch cost more than
            # the rest of the checkpoint): start again from the first event, chunks included.
            log.warning("%s is unreadable: the tree is recomputed from the log", self.dir / "tree.json")
            (self.dir / "chunks.bin").unlink(missing_ok=True)
            return dict(self.EMPTY)

    def _save(self, state: dict[str, Any]) -> None:
        path = self.dir / "tree.json"
        with open(path, "r+b" if path.exists() else "wb") as out:
            out.write(json.dumps(state).encode())
            out.truncate()

    def chunks(self) -> tuple[list[bytes], list[int]]:
        """(hash, first log position) of every complete chunk the persisted tree has passed."""
        try:
            raw = (self.dir / "chunks.bin").read_bytes()
        except FileNotFoundError:
            return [], []
        count = len(raw) // 40
        return ([raw[i * 40:i * 40 + 32] for i in range(count)],
                [int.from_bytes(raw[i * 40 + 32:i * 40 + 40], "big") for i in range(count)])

    # --- extending the tree -------------------------------------------------------------------

    def checkpoint(self, recorder: Any, *, force: bool = False, saved: list[tuple[int, Any]] | None = None
                   ) -> Checkpoint | None:
        """Extend the tree by the events recorded since the last checkpoint and sign a new one.
        None when nothing new was recorded (unless `force`, or there is no checkpoint yet).

        `saved`: (position, stored event) of the recorded events of a transaction this process has
        just committed, whose positions leave no gap for anyone else's: when nothing was recorded
        between the tree's end and them, they are the leaves, and the log is not read again."""
        with self._locked():
            state = self._load()
            size = state["size"]
            chunk_file = self.dir / "chunks.bin"
            # A crash between writing a chunk and the state leaves chunks the state has not reached.
            if chunk_file.exists() and chunk_file.stat().st_size > (size // CHUNK) * 40:
                os.truncate(chunk_file, (size // CHUNK) * 40)
            new_chunks: list[bytes] = []
            chunk_start = state["chunk_start"]

            def on_subtree(height: int, start: int, h: bytes) -> None:
                if height == CHUNK_BITS:
                    new_chunks.append(h + chunk_start.to_bytes(8, "big"))

            frontier = merkle.Frontier(size, [bytes.fromhex(h) for h in state["frontier"]], on_subtree)
            position = state["position"]
            for at, leaf in self._new_leaves(recorder, position, saved):
                if frontier.size % CHUNK == 0:
                    chunk_start = at
                frontier.append(leaf)
                position = at
            if frontier.size == size and not force and checkpoints.last_checkpoint(self.checkpoints_file):
                return None
            if new_chunks:
                with chunk_file.open("ab") as out:
                    out.write(b"".join(new_chunks))
            signed = checkpoints.sign(self.key(), tree_size=frontier.size, root=frontier.root(),
                                      time=datetime.now(timezone.utc).isoformat().replace("+00:00", "Z"),
                                      log_position=position)
            checkpoints.append(self.checkpoints_file, signed)
            self._save({"size": frontier.size, "position": position, "chunk_start": chunk_start,
                        "frontier": [h.hex() for h in frontier.hashes]})
            return signed

    @staticmethod
    def _new_leaves(recorder: Any, position: int, saved: list[tuple[int, bytes]] | None
                    ) -> Iterator[tuple[int, bytes]]:
        if saved and saved[0][0] > position and not recorder.select_notifications(
                position, 1, stop=saved[0][0] - 1, topics=[RECORDED_TOPIC], inclusive_of_start=False):
            yield from saved
            return
        for n in recorded_after(recorder, position):
            yield n.id, leaf_of(n)[0]

    def after_save(self, recorder: Any, events: list[Any] | None = None, positions: Any = None) -> None:
        """The posting hook: a checkpoint after every saved batch (`events`: the batch's domain
        events in the order stored, `positions`: the notification ids the recorder gave them).
        The events are committed by now; a home that cannot be written must not turn that into
        a failed post (the next checkpoint covers them), so it is logged instead."""
        from ledger.streams import Stream

        saved = None
        if events and positions and len(positions) == len(events) \
                and list(positions) == list(range(positions[0], positions[0] + len(events))):
            saved = [(p, merkle.leaf_hash(leaf_data(str(e.originator_id), e.originator_version, e.event_id, e.hash)))
                     for p, e in zip(positions, events) if isinstance(e, Stream.Recorded)]
        try:
            self.checkpoint(recorder, saved=saved)
        except (OSError, checkpoints.CheckpointError, PersistenceError) as error:
            log.warning("no checkpoint after this batch: %s", error)

    # --- proofs -------------------------------------------------------------------------------

    def locate(self, recorder: Any, positions: set[int]) -> dict[int, int]:
        """Leaf index of each recorded event at the given log positions (reading one chunk or two each)."""
        _, starts = self.chunks()
        by_chunk: dict[int, set[int]] = {}
        for p in positions:
            by_chunk.setdefault(max(bisect_right(starts, p) - 1, 0), set()).add(p)
        found: dict[int, int] = {}
        for c, wanted in by_chunk.items():
            after, index, last = (starts[c] - 1 if starts else 0), (c * CHUNK if starts else 0), max(wanted)
            for n in recorded_after(recorder, after):
                if n.id > last:
                    break
                if n.id in wanted:
                    found[n.id] = index
                index += 1
        return found

    def prover(self, recorder: Any, tree_size: int):
        """subtree(start, end) for trees up to `tree_size`: whole chunks from chunks.bin, the rest
        from the log (the chunk holding the leaf and the last, partial one)."""
        hashes, starts = self.chunks()
        open_chunk_start = self._load()["chunk_start"]
        leaves: dict[int, list[bytes]] = {}

        def chunk_leaves(c: int) -> list[bytes]:
            if c not in leaves:
                first = starts[c] if c < len(starts) else (open_chunk_start if c else 0)
                want = min(CHUNK, tree_size - c * CHUNK)
                got = []
                for n in recorded_after(recorder, max(first - 1, 0)):
                    got.append(leaf_of(n)[0])
                    if len(got) == want:
                        break
                leaves[c] = got
            return leaves[c]

        def subtree(start: int, end: int) -> bytes:
            if end - start >= CHUNK and start % CHUNK == 0 and end % CHUNK == 0 and end // CHUNK <= len(hashes):
                return merkle.root_of_hashes(hashes[start // CHUNK:end // CHUNK])
            if start // CHUNK != (end - 1) // CHUNK:
                k = merkle.split(end - start)
                return merkle.node_hash(subtree(start, start + k), subtree(start + k, end))
            c = start // CHUNK
            return merkle.root_of_hashes(chunk_leaves(c)[start - c * CHUNK:end - c * CHUNK])

        return subtree

    def covering(self, leaf_index: int) -> Checkpoint | None:
        """The first checkpoint whose tree holds leaf `leaf_index`."""
        for cp in checkpoints.read_checkpoints(self.checkpoints_file):
            if cp.tree_size > leaf_index:
                return cp
        return None

    def anchor(self, recorder: Any, items: list[tuple[str, int]]) -> dict[str, Any] | None:
        """An anchor for events (event id, log position), the first being the decision: the first
        checkpoint covering the decision, and an inclusion proof of every event against it."""
        where = self.locate(recorder, {p for _, p in items})
        missing = [event_id for event_id, p in items if p not in where]
        if missing:
            raise AnchorError(f"events not found at their log positions: {', '.join(missing)}")
        checkpoint = self.covering(where[items[0][1]])
        if checkpoint is None:
            return None
        if any(where[p] >= checkpoint.tree_size for _, p in items):
            raise AnchorError("a basis event comes after its decision in the log")
        subtree = self.prover(recorder, checkpoint.tree_size)
        by_position = {n.id: n for p in {p for _, p in items}
                       for n in recorder.select_notifications(p, 1, topics=[RECORDED_TOPIC])}
        proofs = []
        for event_id, p in items:
            n = by_position[p]
            leaf, recorded_id, stored_hash = leaf_of(n)
            if recorded_id != event_id:
                raise AnchorError(f"position {p} holds event {recorded_id or '(unreadable)'}, not {event_id}")
            path = merkle.inclusion_proof(where[p], checkpoint.tree_size, subtree)
            try:
                merkle.verify_inclusion(leaf, where[p], checkpoint.tree_size, path, bytes.fromhex(checkpoint.root))
            except merkle.ProofError:
                raise AnchorError(f"event {event_id} at position {p}: the log no longer yields the tree signed "
                                  f"at {checkpoint.time} (run `ledger verify`)") from None
            proofs.append({"event_id": event_id, "position": p, "leaf_index": where[p],
                           "stream": str(n.originator_id), "version": n.originator_version, "hash": stored_hash,
                           "path": [h.hex() for h in path]})
        return {"checkpoint": checkpoint.as_dict(), "proofs": proofs}


def decision_anchor(ledger: Any, decision: dict[str, Any]) -> dict[str, Any]:
    """ledger.proofs.decision_anchor, for callers that import it from here."""
    from ledger.proofs import decision_anchor as anchor_of

    return anchor_of(ledger, decision)
