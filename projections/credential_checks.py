"""Whether an awarded credit may be issued as a credential, decided from the log itself.

A credential leaves the district and is trusted without asking it, so it is refused when the
award was revoked, when its basis moved after the decision (evidence voided, the course's rule
replaced) and a registrar has not confirmed it since, when the learner's chain or the award's
basis does not re-derive from the stored bytes, and when the store as a whole fails
verification. The read models are never asked: they are derived, and may lag or be rebuilt.

`badge_refusal` is the one call the CLI and the API make, so a stronger check replaces one body.
"""

from __future__ import annotations

from dataclasses import dataclass
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
    return Issuable(award.event, definitions[-1], competencies)


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
    """A registrar's `credit.confirmed` of this award, recorded after every flag, that found the
    rule still holding once the voids are applied."""
    latest_flag = max(e.event["recorded_at"] for e, _ in flags)
    for e in stream:
        p = e.event["payload"]
        if e.event["type"] == "credit.confirmed" and p.get("credit_event_id") == award.event["event_id"] \
                and e.event["recorded_at"] >= latest_flag and _still_holds(p):
            return True
    return False


def _still_holds(confirmation: dict[str, Any]) -> bool:
    # A confirmation records the registrar's re-evaluation; one that found the rule no longer
    # holding confirms the review, not the credit.
    for key in ("still_holds", "rule_still_holds"):
        if key in confirmation:
            return bool(confirmation[key])
    outcome = str(confirmation.get("re_evaluation", confirmation.get("outcome", "still holds")))
    return "no longer" not in outcome


def basis_problems(ledger: Ledger, stream: list[LoggedEvent], catalog: list[LoggedEvent],
                   award: LoggedEvent) -> list[str]:
    """Re-derive the award's basis from the log as `ledger verify` does: each basis event at its
    log position with its hash, none voided before the award, the states following from the
    scores under the recorded method, and the recorded rule satisfied by them."""
    from projections.credit import reproduce

    before = [e for e in stream if e.position < award.position]
    items = [item for s in award.event["payload"]["competency_states"] for item in s["evidence"] + s["sign_offs"]]
    problems, at_position = [], {}
    for item in items:
        [found] = ledger.read(after=item["position"] - 1, limit=1) or [None]
        if found is None or found.position != item["position"] or found.event["event_id"] != item["event_id"]:
            problems.append(f"basis event {item['event_id']} is not at log position {item['position']}")
        else:
            at_position[item["event_id"]] = found.position
    by_id = {e.event["event_id"]: (at_position.get(e.event["event_id"], 0), e.hash, e.event) for e in before}
    voided_before = {e.event["payload"]["voided_event_id"] for e in before if e.event["type"] == "evidence.voided"}
    # Thresholds as the award saw them: frameworks republished later do not move an old decision.
    thresholds = {c["id"]: float(e.event["payload"]["scale"]["mastery_threshold"])
                  for e in catalog if e.event["type"] == "framework.published"
                  and e.event["recorded_at"] <= award.event["recorded_at"] for c in e.event["payload"]["competencies"]}
    problems += [p for p in reproduce(award.event["payload"], by_id, thresholds, voided_before)
                 if "is at position" not in p]  # positions were checked against the log above
    return problems


def store_problem(ledger: Ledger) -> str | None:
    """The first broken event of the whole store, or None: every chain recomputed."""
    report = ledger.verify()
    if report.ok:
        return None
    first = report.broken[0]
    more = f" (and {len(report.broken) - 1} more)" if len(report.broken) > 1 else ""
    return f"position {first['position']}, event {first['event_id']}: {first['reason']}{more}"
