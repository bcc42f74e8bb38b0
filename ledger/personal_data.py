"""Which fields of which events are personal data, and whose.

The domain decides what is personal; `ledger.shredding` encrypts exactly these fields with the
data key of the person they are about before the event is hashed and stored, so the hash chain,
Kafka, the DuckDB projections and Parquet exports only ever hold ciphertext, and erasing the
person (destroying the key, `ledger.erasure`) leaves the chain intact and the text unreadable.

What counts as personal: every free-text field, every link, every name, every xAPI actor
identifier. Ids are pseudonymous by construction (`ledger.events.Id` admits no names or e-mail
addresses) and scores, competencies and dates stay in the clear so credit stays auditable.

How to declare the personal fields of a new event type (e.g. `xapi.statement`), next to the
place that registers the type in `ledger.events.MODELS`:

    from ledger.personal_data import declare
    declare("xapi.statement", [
        "payload.statement.actor.name", "payload.statement.actor.mbox",
        "payload.statement.actor.mbox_sha1sum", "payload.statement.actor.openid",
        "payload.statement.actor.account", "payload.statement.actor.member[].name", ...
    ])

A path is dotted from the top of the stored event. `name[]` walks every item of a list, `name*`
every value of an object. A path that is absent (or null) in an event is skipped, so optional
fields need no care. The whole value at a path (a string, or an object such as an xAPI
`account`) is encrypted as one unit. The person whose key is used is the event's `learner_id`
unless `person=` names another top-level field; every path of a type uses the same person.
Fields are declared per type, for every schema version of it (upcasters may move fields; the
paths are read on the version as stored, so list the stored versions' paths too).

`tests/unit/test_personal_data.py` checks that every text field (the catalogue's Text, Title,
Uri) of a learner event is declared here, so a new free-text field without a declaration fails
the suite. A text field that is not personal (a vocabulary IRI, say) is declared so, with why:

    declare_public("xapi.statement", {"payload.verb": "an xAPI verb IRI from a vocabulary"})
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class PersonalFields:
    type: str
    paths: tuple[str, ...]
    person: str = "learner_id"  # top-level field naming whose key encrypts these fields


CATALOGUE: dict[str, PersonalFields] = {}

# The event that records a person's erasure (ledger.erasure); it carries no personal data.
ERASURE_TYPE = "person.erased"


def declare(type_: str, paths: list[str] | tuple[str, ...], *, person: str = "learner_id") -> PersonalFields:
    """Register (or extend) the personal fields of an event type; returns the declaration."""
    for path in paths:
        if not path or any(not part.rstrip("[]*") for part in path.split(".")):
            raise ValueError(f"personal field path {path!r} of {type_} is not a dotted path")
    known = CATALOGUE.get(type_)
    if known is not None and known.person != person:
        raise ValueError(f"{type_}: personal fields already belong to {known.person!r}, not {person!r}")
    merged = tuple(dict.fromkeys((*(known.paths if known else ()), *paths)))
    CATALOGUE[type_] = PersonalFields(type_, merged, person)
    return CATALOGUE[type_]


PUBLIC: dict[str, dict[str, str]] = {}  # type -> text fields decided not personal -> why


def declare_public(type_: str, fields: dict[str, str]) -> None:
    """Record text fields of a type that are not personal, each with the reason (kept in clear)."""
    for path, why in fields.items():
        if not why.strip():
            raise ValueError(f"{type_}: say why {path} is not personal")
    PUBLIC.setdefault(type_, {}).update(fields)


def fields_of(type_: str) -> PersonalFields | None:
    return CATALOGUE.get(type_)


def person_of(event: dict[str, Any]) -> str | None:
    """Whose key protects this event's personal fields (None: the type has none declared)."""
    declared = CATALOGUE.get(event.get("type", ""))
    if declared is None:
        return None
    value = event.get(declared.person)
    return value if isinstance(value, str) else None


def locate(event: dict[str, Any]) -> Iterator[tuple[str, dict | list, str | int]]:
    """Every personal value present in the event: (concrete path, container, key in it).

    The concrete path names list positions (`payload.items.2.title`); it is bound to the
    ciphertext as associated data, so a value cannot be moved to another field or event."""
    declared = CATALOGUE.get(event.get("type", ""))
    if declared is None:
        return
    for path in declared.paths:
        yield from _walk(event, path.split("."), "")


def _walk(node: Any, parts: list[str], prefix: str) -> Iterator[tuple[str, dict | list, str | int]]:
    if not isinstance(node, dict):
        return
    head, rest = parts[0], parts[1:]
    name = head.rstrip("[]*")
    if name not in node or node[name] is None:
        return
    here = f"{prefix}{name}"
    if head.endswith("[]") or head.endswith("*"):
        items = node[name]
        pairs = enumerate(items) if isinstance(items, list) else items.items() if isinstance(items, dict) else ()
        for key, item in list(pairs):
            if item is None:
                continue
            if rest:
                yield from _walk(item, rest, f"{here}.{key}.")
            else:
                yield f"{here}.{key}", items, key
        return
    if rest:
        yield from _walk(node[name], rest, here + ".")
    else:
        yield here, node, name


# --- the catalogue's own types (ledger.events) ---------------------------------------------------

declare("assessment.recorded", ["payload.source.title"])
declare("artifact.submitted", ["payload.uri", "payload.title"])
declare("advisor.signed_off", ["payload.statement"])
declare("evidence.voided", ["payload.reason"])
declare("plan.set", ["payload.title"])
declare("plan.goal_dropped", ["payload.reason"])
declare("credit.revoked", ["payload.reason"])
declare("credit.confirmed", ["payload.note"])
# A partner organisation's name on a learner's chain says where the learner was placed.
declare("partner.linked", ["payload.name"])
