"""The LRS's use cases, shared by HTTP (xapi.http) and the CLI (cli/xapi.py): post statements
(stored, then recorded as ledger events), align activities (and back-fill what is stored)."""

from __future__ import annotations

import json
import logging
import threading
import uuid
from typing import Any

from ledger.config import Settings
from xapi.documents import Documents
from xapi.evidence import Alignments, Evidence
from xapi.statements import LrsError, Statements, now_iso
from xapi.storage import Storage

log = logging.getLogger("ledger.xapi")
HOME_PAGE = "urn:mastery-ledger:lrs-client"


def authority(school: str | None, client: str, name: str) -> dict[str, Any]:
    """The authority the LRS sets on what it stores: `school/client` names who sent it."""
    return {"objectType": "Agent", "name": name, "account": {"homePage": HOME_PAGE, "name": f"{school}/{client}"}}


class LrsCore:
    def __init__(self, settings: Settings, ledger: Any, write_lock: Any | None = None) -> None:
        self.storage = Storage(settings)
        self.statements, self.documents = Statements(self.storage), Documents(self.storage)
        self.evidence = Evidence(ledger, self.storage, write_lock or threading.Lock())

    def post(self, batch: list[Any], *, authority: dict[str, Any], version: str,
             parts: dict[str, tuple[str, bytes]] | None = None, check_parts: Any = None) -> list[str]:
        prepared = self.statements.prepare(batch, authority, version)
        if check_parts is not None:
            check_parts(prepared, parts or {})
        ids, fresh = self.statements.store(prepared)
        if parts:
            self.statements.keep_attachments(parts)
        self.record(fresh)
        return ids

    def record(self, fresh: list[dict[str, Any]]) -> dict[str, int]:
        """The ledger events of stored statements. The LRS has stored them already (and answers
        the client as xAPI says); a refusal by the ledger is logged, never a 5xx."""
        def lookup(sid: str) -> dict[str, Any] | None:
            return self.statements.one(sid, voided=True) or self.statements.one(sid, voided=False)

        counts = {"accepted": 0, "duplicate": 0, "rejected": 0}
        for outcome in self.evidence.record(fresh, lookup):
            counts[outcome.status] = counts.get(outcome.status, 0) + 1
            if outcome.status == "rejected":
                reason = _reason(outcome.rejection)
                log.warning("statement event %s not recorded: %s", outcome.event_id, reason)
                # Kept once per event: recording the statement again (an alignment) refuses it again.
                with self.storage.transaction():
                    self.storage.execute("DELETE FROM xapi_refusals WHERE event_id = ?", [str(outcome.event_id)])
                    self.storage.execute("INSERT INTO xapi_refusals VALUES (?, ?, ?)",
                                         [str(outcome.event_id), reason, now_iso()])
        return counts

    def align(self, activity: str, competencies: list[str], *, prefix: bool, kind: str,
              success_level: float | None = None, failure_level: float | None = None,
              by: str = "district-office") -> dict[str, Any]:
        """Posts an `xapi.alignment.posted` event (the catalogue's reference data: a district
        admin's); refused: LrsError naming every field and reason."""
        from ledger.intake import parse

        payload = {"activity": activity, "prefix": prefix, "competencies": competencies, "kind": kind,
                   "success_level": success_level, "failure_level": failure_level}
        event = {"event_id": str(uuid.uuid4()), "type": "xapi.alignment.posted", "schema_version": 1,
                 "actor": {"id": by, "role": "district_admin"}, "demonstrated_at": now_iso(), "payload": payload}
        with self.evidence.lock:
            [outcome] = self.evidence.ledger.record([parse(json.dumps(event).encode())])
        if outcome.status == "rejected":
            raise LrsError(400, _reason(outcome.rejection))
        # Statements stored before the alignment count too: their events' ids are derived from
        # the statement, so recording them again is a duplicate, never a second piece of evidence.
        rows = self.storage.rows("SELECT body FROM xapi_statements WHERE voided_by IS NULL ORDER BY seq")
        matching = [s for s in (json.loads(r[0]) for r in rows)
                    if any(a == activity or (prefix and a.startswith(activity)) for a in _ids(s))]
        counts = self.record(matching) if matching else {"accepted": 0}
        return {"activity": activity, "prefix": prefix, "competencies": competencies, "kind": kind,
                "statements": len(matching), "events": counts, "event_id": event["event_id"]}

    def close(self) -> None:
        self.storage.close()


def _reason(rejection: Any) -> str:
    return "; ".join(f"{f}: {r}" if f else r for f, r in rejection.problems)


def _ids(statement: dict[str, Any]) -> list[str]:
    from xapi.evidence import activities

    return activities(statement)


def unaligned_summary(settings: Settings, ledger: Any, top: int = 5) -> dict[str, Any] | None:
    """For `ledger status`: how many stored statements no alignment makes evidence, and their most
    frequent activity IRIs (what an operator would align next). None when no LRS was ever used."""
    if settings.is_sqlite and not (settings.home / "xapi.db").exists():
        return None
    storage = Storage(settings)
    try:
        alignments = Alignments(ledger).all()
        counts = storage.rows("SELECT value, COUNT(*) FROM xapi_refs r JOIN xapi_statements s ON s.seq = r.seq"
                              " WHERE r.kind = 'activity' AND r.related = 0 AND s.voided_by IS NULL GROUP BY value")
        total = storage.rows("SELECT COUNT(*) FROM xapi_statements WHERE voided_by IS NULL")[0][0]
        refusals = storage.rows("SELECT reason, COUNT(*) FROM xapi_refusals GROUP BY reason")
    finally:
        storage.close()

    def aligned(iri: str) -> bool:
        return any(iri == a["activity"] or (a["prefix"] and iri.startswith(a["activity"])) for a in alignments)

    loose = sorted(((iri, n) for iri, n in counts if not aligned(iri)), key=lambda x: (-x[1], x[0]))
    return {"statements": total, "unaligned_statements": sum(n for _, n in loose),
            "top_unaligned_activities": [{"activity": iri, "statements": n} for iri, n in loose[:top]],
            "refused_by_ledger": sum(n for _, n in refusals),
            "refusal_reasons": [{"reason": r, "events": n} for r, n in sorted(refusals, key=lambda x: (-x[1], x[0]))[:top]]}
