"""Erasure: a person's data key destroyed, their personal fields unreadable, the chain intact.

Three steps, each durable before the next, so a crash anywhere leaves the person either
untouched (before step 1 commits) or certain to be fully erased: the next opening of a ledger
(`finish_pending`, run by every reader of records through `open_ledger`) rolls a begun erasure
forward.

1. the key store notes the erasure begun (`erasing`, with the event it will record); from here
   no reader decrypts the person's fields and no post about them is accepted;
2. a `person.erased` event is recorded on the learner's chain (no personal data: the reason is a
   code); its event id is derived from the person, so doing it again is a duplicate;
3. the wrapped key is destroyed (the row stays as a tombstone), and the audit HTML files the
   ledger saved for the person are deleted (they were rendered with the plaintext).

Scores, competencies and dates stay under the pseudonym; the ciphertext stays in the store, in
Kafka and in the projections, hashed as it always was, so `ledger verify` still passes.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from datetime import datetime, timezone
from typing import Any
from uuid import NAMESPACE_URL, uuid5

import orjson

from ledger.application import Ledger
from ledger.intake import Rejection, parse
from ledger.personal_data import ERASURE_TYPE
from ledger.streams import CATALOG_KEY

REASONS = ("data_subject_request", "retention_ended", "legal_order", "other")
_NAMESPACE = uuid5(NAMESPACE_URL, "urn:mastery-ledger:erasure")


class ErasureError(Exception):
    """A user's mistake or the ledger's state (one line): nothing was changed."""


@dataclass(frozen=True)
class Erasure:
    person: str
    status: str  # "erased" or "already erased"
    event_id: str
    keys_destroyed: int
    not_deleted: tuple[str, ...] = ()  # audit copies that could not be deleted, by path

    def as_dict(self) -> dict[str, Any]:
        return {"person": self.person, "status": self.status, "event_id": self.event_id,
                "keys_destroyed": self.keys_destroyed, "not_deleted": list(self.not_deleted)}


def erasure_event(person: str, school: str, *, reason: str, by: str, at: str) -> dict[str, Any]:
    return {"event_id": str(uuid5(_NAMESPACE, person)), "type": ERASURE_TYPE, "schema_version": 1,
            "learner_id": person, "school_id": school, "actor": {"id": by, "role": "district_admin"},
            "demonstrated_at": at, "payload": {"reason": reason}}


def erase(ledger: Ledger, person: str, *, reason: str, by: str, now: datetime | None = None) -> Erasure:
    if reason not in REASONS:
        raise ErasureError(f"--reason must be one of {', '.join(REASONS)}, not {reason!r}")
    events = ledger.learner_events(person)
    if not events:
        raise ErasureError(f"no learner {person!r} in the ledger")
    recorded = next((e for e in events if e.event["type"] == ERASURE_TYPE), None)
    had_key = ledger.shredder.keys.rows([person]).get(person)
    if recorded is not None and not ledger.shredder.keys.pending().get(person) \
            and (had_key is None or had_key.wrapped is None):
        return Erasure(person, "already erased", recorded.event["event_id"], 0)
    school = next(e.event["school_id"] for e in reversed(events) if e.event.get("school_id"))
    at = (now or datetime.now(timezone.utc)).isoformat().replace("+00:00", "Z")
    document = orjson.dumps(erasure_event(person, school, reason=reason, by=by, at=at))
    checked = parse(document, now=now)
    if isinstance(checked, Rejection):  # e.g. `by` is not an id
        raise ErasureError(f"cannot erase {person}: {checked}")
    ledger.shredder.keys.mark_erasing(person, document)  # step 1
    ledger.shredder.forget({person})
    left = _finish(ledger, person, document, recorded is not None)
    return Erasure(person, "erased", checked.event.event_id.__str__(),
                   int(had_key is not None and had_key.wrapped is not None), tuple(left))


def finish_pending(ledger: Ledger) -> list[str]:
    """Roll forward every erasure a crash interrupted; the persons finished."""
    pending = ledger.shredder.keys.pending()
    for person, document in pending.items():
        recorded = any(e.event["type"] == ERASURE_TYPE for e in ledger.learner_events(person))
        _finish(ledger, person, document, recorded)
    return sorted(pending)


def _finish(ledger: Ledger, person: str, document: bytes, recorded: bool) -> list[str]:
    if not recorded:  # step 2
        [outcome] = list(ledger.post([document]))
        if outcome.status == "rejected":
            raise ErasureError(f"cannot record the erasure of {person}: {outcome.rejection}")
    ledger.shredder.keys.destroy(person)  # step 3
    ledger.shredder.forget({person})
    drop_saved_audits(ledger, person)
    return drop_audit_copies(ledger.settings.home, person)


def drop_saved_audits(ledger: Ledger, person: str) -> list[str]:
    """Delete the audit HTML files the ledger itself wrote for the person (`ledger demo` keeps them
    in $LEDGER_HOME/audits): they hold the text as it read before the erasure. A fresh audit
    shows `[erased]`. A file is the person's only if the rest of its name is a course id."""
    folder = ledger.settings.home / "audits"
    if not folder.is_dir():
        return []
    courses = {e.event["payload"]["course_id"] for e in ledger.stream_events(CATALOG_KEY)
               if e.event["type"] == "course.defined"}
    dropped = []
    for path in folder.glob(f"audit-{person}-*.html"):
        if path.name.removeprefix(f"audit-{person}-").removesuffix(".html") in courses:
            path.unlink()
            dropped.append(path.name)
    return dropped


AUDIT_COPIES = "audit-copies.jsonl"  # in $LEDGER_HOME: {"learner_id", "path"} per audit written


def note_audit_copy(home: Path, learner: str, path: Path) -> None:
    """Remember where an audit of the learner was written (`ledger audit --out`): it holds the
    plaintext, so erasure deletes it. The note holds the learner's id and the path, nothing else."""
    home.mkdir(parents=True, exist_ok=True)
    line = orjson.dumps({"learner_id": learner, "path": str(path.resolve())}) + b"\n"
    with open(home / AUDIT_COPIES, "ab") as notes:
        notes.write(line)


def drop_audit_copies(home: Path, person: str) -> list[str]:
    """Delete the audit copies noted for the person; the paths that could not be deleted (kept
    in the notes, so another erase tries again). A file already gone counts as deleted."""
    notes = home / AUDIT_COPIES
    if not notes.exists():
        return []
    kept, failed = [], []
    for raw in notes.read_bytes().splitlines():
        entry = orjson.loads(raw)
        if entry["learner_id"] == person:
            try:
                Path(entry["path"]).unlink(missing_ok=True)
                continue
            except OSError:
                failed.append(entry["path"])
        kept.append(raw + b"\n")
    partial = notes.with_name(notes.name + ".partial")  # renamed into place: never half a list
    partial.write_bytes(b"".join(kept))
    partial.replace(notes)
    return sorted(set(failed))
