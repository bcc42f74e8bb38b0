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
    former_schools: tuple[str, ...] = ()


def learner_facts(ledger: Ledger, learner_id: str, *, fresh: bool = False) -> LearnerFacts:
    """From the ledger's cache of streams, or with `fresh` from the store itself: the cache is
    not fast-forwarded, so another process's newer events (an advisor assigned) show only there."""
    key = stream_id(stream_key("learner", learner_id))
    if fresh and ledger.repository.cache is not None:
        try:
            ledger.repository.cache.get(key, evict=True)
        except KeyError:
            pass
    try:
        stream = ledger.repository.get(key)
    except AggregateNotFoundError:
        return LearnerFacts(False)
    facts = stream.facts
    return LearnerFacts(facts.school_id is not None, facts.school_id, frozenset(facts.advisors),
                        tuple(facts.former_schools))
