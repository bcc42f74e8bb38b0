"""The door's messages: every problem of a line, named by the field that has it; documents that
would crash a parser (too deep, not UTF-8) and numbers that are not numbers (NaN, Infinity,
1e999) are refused like any other mistake, never stored and never fatal."""

import json
from datetime import datetime, timezone

import pytest
from hypothesis import given, settings, strategies as st

from ledger.intake import MAX_DEPTH, Rejection, Submission, load, parse
from ledger.invariants import Catalog, LearnerFile
from tests import factories as f

NOW = datetime(2026, 2, 1, tzinfo=timezone.utc)


def rejection_of(raw) -> Rejection:
    result = parse(raw if isinstance(raw, (bytes, str)) else json.dumps(raw), now=NOW)
    assert isinstance(result, Rejection), result
    return result


# --- every problem, the right field -------------------------------------------------------


def test_every_problem_of_a_document_is_named_not_only_the_first():
    doc = f.assessment("L1")
    doc["payload"]["score"] = "3"
    doc["actor"] = {"id": "Jane Smith", "role": "teacher"}
    problem = rejection_of(doc)
    fields = [field for field, _ in problem.problems]
    assert fields == ["actor.id", "payload.score"]
    assert "more problem" not in str(problem)
    assert "actor.id: " in str(problem) and "payload.score: " in str(problem)
    # the first problem is still what `field` and `reason` say, for callers that read one
    assert (problem.field, problem.reason) == problem.problems[0]
    assert problem.as_dicts() == [{"field": f_, "reason": r} for f_, r in problem.problems]


def test_a_value_that_fits_no_member_of_a_union_is_one_problem_not_one_per_member():
    doc = f.course(method={"name": "decaying_average", "params": {"weight": [0.5]}})
    problem = rejection_of(doc)
    assert problem.problems == [("payload.mastery_method.params.weight", problem.reason)]
    assert "a valid number" in problem.reason and "a valid boolean" in problem.reason


def test_an_empty_object_says_the_type_is_missing():
    problem = rejection_of({})
    assert problem.field == "type"
    assert problem.reason.startswith("is missing")
    assert "None" not in str(problem)


def test_a_missing_schema_version_is_called_missing():
    doc = f.assessment("L1")
    del doc["schema_version"]
    problem = rejection_of(doc)
    assert (problem.field, problem.reason.split(" (")[0]) == ("schema_version", "is missing")


def test_an_unknown_competency_is_a_problem_of_the_competency_not_of_the_score():
    catalog, learner = Catalog(), LearnerFile()
    catalog.apply(f.framework(["C1"]))
    learner.apply(f.enrolled("L1"))
    unknown = load(parse(f.line(f.assessment("L1", "ALG.99")), now=NOW).stored)
    problem = learner.check(unknown, catalog)
    assert problem.field == "payload.competency_id"
    assert "ALG.99" in problem.reason
    off_scale = load(parse(f.line(f.assessment("L1", "C1", 4.5)), now=NOW).stored)
    assert learner.check(off_scale, catalog).field == "payload.score"


# --- documents that break parsers -----------------------------------------------------------


@pytest.mark.parametrize("depth", [MAX_DEPTH + 1, 1_025, 2_000, 100_000])
def test_a_document_nested_too_deep_is_refused_with_a_reason_not_a_crash(depth):
    raw = b'{"type": "assessment.recorded", "payload": ' + b"[" * depth + b"]" * depth + b"}"
    assert rejection_of(raw).reason == f"nested deeper than {MAX_DEPTH} levels"
    assert rejection_of(raw.decode()).reason == f"nested deeper than {MAX_DEPTH} levels"


def test_a_deep_document_with_an_integer_beyond_64_bits_is_refused_too():
    # orjson refuses the integer, so the standard parser (which recurses) gets the document
    raw = b'{"n": 123456789012345678901234567890, "x": ' + b"[" * 5_000 + b"]" * 5_000 + b"}"
    assert rejection_of(raw).reason == f"nested deeper than {MAX_DEPTH} levels"


def test_a_big_framework_is_not_mistaken_for_a_deep_one():
    doc = f.framework([f"C{i}" for i in range(200)])  # hundreds of brackets, five levels
    assert isinstance(parse(json.dumps(doc), now=NOW), Submission)


def test_bytes_that_are_not_utf8_are_refused_with_their_offset():
    raw = f.line(f.assessment("L1")).encode().replace(b"quiz-1", b"quiz-\xff")
    offset = raw.index(b"\xff")
    assert rejection_of(raw).reason == f"not UTF-8 text (invalid start byte at byte {offset})"


# --- numbers that are not numbers ------------------------------------------------------------


def points_course(points: str, min_points: str = "2") -> str:
    doc = f.line(f.course(rule={"kind": "points", "version": 1, "points": {"C1": 1.0, "C2": 1.0}, "min_points": 2.0}))
    return doc.replace('"C1": 1.0', f'"C1": {points}').replace('"min_points": 2.0', f'"min_points": {min_points}')


@pytest.mark.parametrize("literal", ["NaN", "Infinity", "-Infinity", "1e999", "-1e999"])
def test_non_finite_rule_points_are_refused_by_field(literal):
    problem = rejection_of(points_course(literal))
    assert problem.field == "payload.credit_rule.points.C1"
    assert "finite" in problem.reason


@pytest.mark.parametrize("literal", ["NaN", "Infinity", "1e999"])
def test_non_finite_min_points_and_method_weights_are_refused(literal):
    assert rejection_of(points_course("1.0", literal)).field == "payload.credit_rule.min_points"
    weighted = f.line(f.course(method={"name": "decaying_average", "params": {"weight": 0.65}}))
    problem = rejection_of(weighted.replace("0.65", literal))
    assert problem.field == "payload.mastery_method.params.weight"
    assert "finite" in problem.reason


@pytest.mark.parametrize("literal", ["NaN", "Infinity", "1e999"])
def test_non_finite_scores_and_scales_are_refused(literal):
    assert rejection_of(f.line(f.assessment("L1", score=3.25)).replace("3.25", literal)).field == "payload.score"
    assert rejection_of(f.line(f.framework()).replace('"max": 4', f'"max": {literal}')).field == "payload.scale.max"


finite_or_not = st.sampled_from(["NaN", "Infinity", "-Infinity", "1e999", "-1e400"])
numeric_slot = st.sampled_from(['"C1": 1.0', '"C2": 1.0', '"min_points": 2.0', '"credits": 1.0', '"weight": 0.65'])


@settings(max_examples=60, deadline=None)
@given(slot=numeric_slot, literal=finite_or_not)
def test_no_non_finite_number_anywhere_in_a_course_is_ever_accepted(slot, literal):
    doc = f.line(f.course(rule={"kind": "points", "version": 1, "points": {"C1": 1.0, "C2": 1.0}, "min_points": 2.0}))
    name = slot.split(":")[0]
    assert slot in doc
    problem = rejection_of(doc.replace(slot, f"{name}: {literal}"))
    assert "finite" in str(problem) or "not a number" in str(problem)


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=True, allow_infinity=True) | st.text(),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=5), inner, max_size=3),
    max_leaves=40)


@settings(max_examples=200, deadline=None)
@given(value=json_values, depth=st.integers(0, 40), garbage=st.binary(max_size=8))
def test_the_door_never_raises_whatever_it_is_given(value, depth, garbage):
    raw = "[" * depth + json.dumps(value) + "]" * depth
    for attempt in (raw, raw.encode() + garbage, garbage):
        assert isinstance(parse(attempt, now=NOW), (Submission, Rejection))
