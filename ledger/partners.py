"""Community partners (internships, co-ops, museums): what a linked partner may post about a
learner, and when its external evidence counts.

A school links a partner to a learner (`partner.linked`); the partner then posts observations
(`assessment.recorded` of kind observation) and artifacts, acting as itself (`actor.role`
partner, `actor.id` the organisation). Its scores count toward mastery only from an advisor's
approving sign-off: the official state takes them in at the sign-off, in demonstration order at
the later of the two times, so an as-of date or a known-at date before the sign-off leaves them
out on both time axes. The derivation (ledger.credit.derive) and the projection
(projections.official) both follow this module's `counts_from`."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import datetime, timezone
from typing import Any

from ledger.events import PARTNER_ROLE
from ledger.intake import Rejection

PARTNER_TYPES = ("assessment.recorded", "artifact.submitted")


def is_external(event: dict[str, Any]) -> bool:
    return event.get("actor", {}).get("role") == PARTNER_ROLE


def posting_problem(event: Any, linked: dict[str, str], unlinked: set[str]) -> Rejection | None:
    """Why a partner may not post this event about this learner, or None. `linked`: partner id ->
    the school that linked it; `unlinked`: partners whose link was ended."""
    partner = event.actor.id
    if event.type not in PARTNER_TYPES:
        return Rejection("type", f"a partner posts {' or '.join(PARTNER_TYPES)}, not {event.type}")
    if partner not in linked:
        why = "was unlinked from" if partner in unlinked else "is not linked to"
        return Rejection("actor.id", f"partner {partner} {why} learner {event.learner_id}")
    if event.type == "assessment.recorded" and event.payload.source.kind != "observation":
        return Rejection("payload.source.kind", f"a partner records observations, not {event.payload.source.kind}")
    return None


def counts_from(events: Sequence[dict[str, Any]], voided: set[str]) -> dict[str, tuple[int, str]]:
    """External score events that count -> (index in `events` of the first approving sign-off
    that is not voided, the later of the two demonstration times, as recorded). `events` are one
    learner's in log order."""
    external = {e["event_id"]: e["demonstrated_at"] for e in events
                if is_external(e) and e["type"] == "assessment.recorded" and e["event_id"] not in voided}
    out: dict[str, tuple[int, str]] = {}
    for index, e in enumerate(events):
        if e["type"] != "advisor.signed_off" or e["event_id"] in voided or e["payload"]["decision"] != "approved":
            continue
        subject = e["payload"]["subject_event_id"]
        if subject in external and subject not in out:
            own, signed = external[subject], e["demonstrated_at"]
            out[subject] = (index, signed if datetime.fromisoformat(signed) > datetime.fromisoformat(own) else own)
    return out


def link_event(learner_id: str, school_id: str, partner_id: str, *, by: str, name: str | None = None,
               unlink: bool = False, at: datetime | None = None) -> dict[str, Any]:
    """The event a school's system records to link (or unlink) a partner (`ledger partners`)."""
    payload: dict[str, Any] = {"partner_id": partner_id}
    if name and not unlink:
        payload["name"] = name
    return {"event_id": str(uuid.uuid4()), "type": "partner.unlinked" if unlink else "partner.linked",
            "schema_version": 1, "learner_id": learner_id, "school_id": school_id,
            "actor": {"id": by, "role": "school_system"},
            "demonstrated_at": (at or datetime.now(timezone.utc)).isoformat(), "payload": payload}
