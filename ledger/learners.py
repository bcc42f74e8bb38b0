"""What the ledger knows of one learner, for deciding who may act on them."""

from __future__ import annotations

from dataclasses import dataclass, field

from eventsourcing.application import AggregateNotFoundError

from ledger.application import Ledger
from ledger.streams import stream_id, stream_key


@dataclass(frozen=True)
class LearnerFacts:
    enrolled: bool
    school_id: str | None = None
    advisors: frozenset[str] = field(default_factory=frozenset)


def learner_facts(ledger: Ledger, learner_id: str) -> LearnerFacts:
    try:
        stream = ledger.repository.get(stream_id(stream_key("learner", learner_id)))
    except AggregateNotFoundError:
        return LearnerFacts(False)
    facts = stream.facts
    return LearnerFacts(facts.school_id is not None, facts.school_id, frozenset(facts.advisors))
