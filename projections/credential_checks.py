"""Whether an awarded credit may be issued as a credential, decided from the log itself.

A credential leaves the district and is trusted without asking it, so it is refused when the
award was revoked, when its basis moved after the decision (evidence voided, the course's rule
replaced) and a registrar has not confirmed it since, when the learner's chain or the award's
basis does not re-derive from the stored bytes, and when the store as a whole fails
verification. The read models are never asked: they are derived, and may lag or be rebuilt.

`issuable` is where `ledger credit badge` and the badge endpoint ask (`badge_refusal` is its
yes/no), so a stronger check replaces one body for both doors.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from ledger.application import Ledger, LoggedEvent
from ledger.canonical import GENESIS, chain_hash
from ledger.streams import CATALOG_KEY


@dataclass(frozen=True)
class Issuable:
    """What a credential is built from, once every check passed."""

    award: dict[str, Any]
    course: dict[str, Any]  # the course.defined payload the award names (its latest definition)
    competencies: dict[str, dict[str, Any]]  # competency id -> framework competency
    sources: dict[str, dict[str, Any]] = field(default_factory=dict)  # event id -> who recorded it (audit.recorded_by)


class Refusal(Exception):
    """Why no credential is issued; one line."""


def badge_refusal(ledger: Ledger, learner: str, course: str) -> str | None:
    """None if the learner's award in `course` may be issued as a credential, else why not."""
    try:
        issuable(ledger, learner, course)
    except Refusal as refusal:
        return str(refusal)
    return None


def issuable(ledger: Ledger, learner: str, course: str) -> Issuable:
    """The award and the reference data for its credential, or Refusal naming the first reason."""
    stream = _read(ledger, f"learner:{learner}", f"{learner}'s record")
    awards = [e for e in stream if e.event["type"] == "credit.awarded" and e.event["payload"]["course_id"] == course]
    if not awards:
        raise Refusal(f"{learner} holds no awarded credit in {course}")
    award = awards[-1]
    catalog = _read(ledger, CATALOG_KEY, "the catalogue")
    for where, events in ((f"{learner}'s record", stream), ("the catalogue", catalog)):
        broken = chain_problem(events)
        if broken:
            raise Refusal(f"not issued: {where} fails verification: {broken}")
    revoked = _revocation(stream, award)
    if revoked is not None:
        raise Refusal(f"not issued: the credit was revoked ({revoked.event['recorded_at'][:10]}): "
                      f"{revoked.event['payload']['reason']}")
    flags = flags_after(stream, catalog, award)
    if flags and not _confirmed_after(stream, award, flags):
        raise Refusal(f"not issued: the credit is flagged for review: {'; '.join(f[1] for f in flags)}")
    problems = basis_problems(ledger, stream, catalog, award)
    if problems:
        raise Refusal(f"not issued: the award's basis does not re-derive from the log: {problems[0]}")
    store = store_problem(ledger)
    if store:
        raise Refusal(f"not issued: the store fails verification: {store} (run `ledger verify`)")
    definitions = [e.event["payload"] for e in catalog
                   if e.event["type"] == "course.defined" and e.event["payload"]["course_id"] == course]
    competencies = {c["id"]: c for e in catalog if e.event["type"] == "framework.published"
                    for c in e.event["payload"]["competencies"]}
    from projections.audit import recorded_by

    return Issuable(award.event, definitions[-1], competencies, recorded_by(stream))


def _read(ledger: Ledger, key: str, what: str) -> list[LoggedEvent]:
    try:
        return ledger.stream_events(key)
    except ValueError as error:  # stored bytes that are no longer JSON
        raise Refusal(f"not issued: {what} cannot be read from the store: {error}") from None


def chain_problem(stream: list[LoggedEvent]) -> str | None:
    """The first broken link of one stream (each checked against the stored hash before it), or None."""
    previous, version = GENESIS, None
    for logged in stream:
        if chain_hash(previous, logged.body) != logged.hash:
            return f"event {logged.event.get('event_id')} does not match its stored hash: it was altered"
        if version is not None and logged.position != version + 1:
            return f"version jumps from {version} to {logged.position}: an event is missing"
        previous, version = logged.hash, logged.position
    return None


def _revocation(stream: list[LoggedEvent], award: LoggedEvent) -> LoggedEvent | None:
    return next((e for e in stream if e.event["type"] == "credit.revoked"
                 and e.event["payload"]["credit_event_id"] == award.event["event_id"]), None)


def flags_after(stream: list[LoggedEvent], catalog: list[LoggedEvent], award: LoggedEvent
                ) -> list[tuple[LoggedEvent, str]]:
    """What moved the award's basis after it was recorded, as (event, reason): voids of events it
    rests on (in the learner's stream, after the award) and newer rule versions of its course."""
    p = award.event["payload"]
    basis_ids = {str(i) for i in p["evidence_event_ids"]} | {
        item["event_id"] for s in p["competency_states"] for item in s["evidence"] + s["sign_offs"]}
    flags = [(e, f"evidence {e.event['payload']['voided_event_id']} was voided after the award: "
                 f"{e.event['payload']['reason']}")
             for e in stream if e.position > award.position and e.event["type"] == "evidence.voided"
             and e.event["payload"]["voided_event_id"] in basis_ids]
    # The catalogue is another stream: a newer rule is later than the award by recording time.
    flags += [(e, f"the course's credit rule changed to version {e.event['payload']['credit_rule']['version']} "
                  "after the award")
              for e in catalog if e.event["type"] == "course.defined"
              and e.event["payload"]["course_id"] == p["course_id"]
              and e.event["payload"]["credit_rule"]["version"] > p["rule"]["version"]]
    return flags


def _confirmed_after(stream: list[LoggedEvent], award: LoggedEvent, flags: list[tuple[LoggedEvent, str]]) -> bool:
    """A registrar's `credit.confirmed` of this award after every flag: a void must come before it
    in the learner's stream, a newer course rule before it in time. The ledger records a
    confirmation only when the rule still holds with the voided evidence taken out, and a void
    after it flags the award again."""
    voids = [e.position for e, _ in flags if e.event["type"] == "evidence.voided"]
    rules = [e.event["recorded_at"] for e, _ in flags if e.event["type"] == "course.defined"]
    for e in stream:
        p = e.event["payload"]
        if e.event["type"] == "credit.confirmed" and p.get("credit_event_id") == award.event["event_id"] \
                and p.get("still_holds", True) is True and all(v < e.position for v in voids) \
                and all(r <= e.event["recorded_at"] for r in rules):
            return True
    return False


def basis_problems(ledger: Ledger, stream: list[LoggedEvent], catalog: list[LoggedEvent],
                   award: LoggedEvent) -> list[str]:
    """The award re-derived from the log as `ledger verify` derives it (ledger.credit.verify): from
    the learner's events before it, with their log positions, under the catalogue in force then."""
    from ledger.credit.log import learner_log
    from ledger.credit.verify import award_problems
    from ledger.invariants import Catalog

    entries = learner_log(ledger, award.event["learner_id"])
    at = next((i for i, e in enumerate(entries) if e.event["event_id"] == award.event["event_id"]), None)
    if at is None:
        return [f"the award {award.event['event_id']} is not in the log"]
    # The catalogue is another stream; what was recorded by the award's time was in force for it.
    in_force = Catalog()
    for logged in catalog:
        if logged.event["recorded_at"] <= award.event["recorded_at"]:
            in_force.apply(logged.event)
    return award_problems(entries[at], entries[:at], in_force)


def store_problem(ledger: Ledger) -> str | None:
    """The first problem `ledger verify` finds in the whole store (every chain, receipt, signed
    checkpoint and award), or None."""
    from ledger.verification import verify_everything

    report = verify_everything(ledger, ledger.anchor)
    if report.ok:
        return None
    named = [f"position {b['position']}, event {b['event_id']}: {b['reason']}" if b.get("event_id")
             else b["reason"] for b in report.broken]
    named += [f"award {c['credit_event_id']} ({c['learner_id']}, {c['course_id']}): {c['problem']}"
              for c in report.credit_problems]
    more = f" (and {len(named) - 1} more)" if len(named) > 1 else ""
    return named[0] + more
