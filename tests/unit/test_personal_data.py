"""The catalogue of personal fields: complete for the event models, and located exactly."""

import typing

import pytest

from hypothesis import given, strategies as st

from ledger import events
from ledger.personal_data import CATALOGUE, PUBLIC, declare, locate, person_of

def _text_paths(model, prefix):
    """Dotted paths of every free-text or link field (the catalogue's Text, Title and Uri) of a
    model, recursing into sub-models."""
    texts = [(str, *typing.get_args(alias)[1:]) for alias in (events.Text, events.Title, events.Uri)]
    for name, info in model.model_fields.items():
        # pydantic keeps a required field's constraints apart from its type, an optional one's inside
        for arg in [info.annotation, *typing.get_args(info.annotation)]:
            parts = (arg, *info.metadata) if arg is info.annotation else (arg, *())
            if typing.get_origin(arg) is typing.Annotated:
                parts = typing.get_args(arg)
            if tuple(parts) in texts:
                yield f"{prefix}{name}"
            elif isinstance(arg, type) and issubclass(arg, events.Model):
                yield from _text_paths(arg, f"{prefix}{name}.")


def test_every_free_text_field_of_a_learner_event_is_declared_personal():
    missing = []
    for (type_, _), model in events.MODELS.items():
        if model.kind != "learner":
            continue
        declared = set(CATALOGUE[type_].paths) if type_ in CATALOGUE else set()
        declared |= set(PUBLIC.get(type_, {}))
        missing += [f"{type_}: {p}" for p in _text_paths(model.model_fields["payload"].annotation, "payload.")
                    if p not in declared]
    assert missing == [], "declare them in ledger.personal_data (declare, or declare_public with why)"


def test_reference_data_and_ids_are_not_personal():
    assert "framework.published" not in CATALOGUE and "course.defined" not in CATALOGUE
    assert all(not p.endswith("_id") for d in CATALOGUE.values() for p in d.paths)


def test_lists_and_objects_are_walked_and_absent_fields_skipped():
    declare("test.walk", ["payload.agents[].name", "payload.ext*", "payload.missing.deep"])
    event = {"type": "test.walk", "learner_id": "L1", "payload": {
        "agents": [{"name": "Ann"}, {"mbox": "x"}, {"name": "Bo"}], "ext": {"a": "1", "b": None}}}
    found = sorted(path for path, _, _ in locate(event))
    assert found == ["payload.agents.0.name", "payload.agents.2.name", "payload.ext.a"]
    assert person_of(event) == "L1"


@given(st.lists(st.one_of(st.none(), st.text(max_size=5)), max_size=6))
def test_locate_finds_exactly_the_present_values(values):
    declare("test.items", ["payload.items[].title"])
    event = {"type": "test.items", "payload": {"items": [{"title": v} for v in values]}}
    found = [(path, c[s]) for path, c, s in locate(event)]
    assert found == [(f"payload.items.{i}.title", v) for i, v in enumerate(values) if v is not None]


def test_a_declaration_keeps_one_person_per_type():
    declare("test.person", ["payload.a"], person="learner_id")
    try:
        declare("test.person", ["payload.b"], person="school_id")
    except ValueError as error:
        assert "already belong" in str(error)
    else:
        raise AssertionError("a second person for one type was accepted")


@pytest.mark.parametrize("field", ["learner_id", "actor.id", "payload.competency_id"])
def test_an_id_holding_the_sealed_text_marker_is_refused_with_the_field_named(field):
    # Readers open `pd1:PERSON:BASE64` wherever it appears: such an id would read as `[erased]`.
    import orjson

    from ledger.intake import Rejection, parse
    from tests import factories as f

    document = f.assessment("L1")
    *parents, last = field.split(".")
    holder = document
    for name in parents:
        holder[name] = dict(holder[name])  # the factory's nested dicts may be shared
        holder = holder[name]
    holder[last] = "pd1:L1:AAAA"
    refused = parse(orjson.dumps(document))
    assert isinstance(refused, Rejection)
    assert str(refused) == f"{field}: must not contain 'pd1:' (it marks sealed personal text)"
    assert not isinstance(parse(orjson.dumps(f.assessment("Lpd1"))), Rejection)  # `pd1` without the colon is fine
