import json
from datetime import datetime, timezone

import pytest
from hypothesis import given, strategies as st

from ledger import schemas
from ledger.intake import Rejection, Submission, parse
from tests import factories as f

NOW = datetime(2026, 2, 1, tzinfo=timezone.utc)


def rejection_of(document) -> Rejection:
    result = parse(json.dumps(document), now=NOW)
    assert isinstance(result, Rejection), result
    return result


def test_a_well_formed_assessment_is_accepted_at_the_door():
    result = parse(f.line(f.assessment("L1")), now=NOW)
    assert isinstance(result, Submission)
    assert result.event.payload.score == 3.0


def test_an_unknown_field_is_named():
    doc = f.assessment("L1")
    doc["payload"]["grade_letter"] = "B"
    assert rejection_of(doc).field == "payload.grade_letter"


def test_a_score_given_as_text_is_a_wrong_type_not_a_number():
    doc = f.assessment("L1")
    doc["payload"]["score"] = "3"
    problem = rejection_of(doc)
    assert problem.field == "payload.score"
    assert "number" in problem.reason


def test_a_naive_datetime_is_refused():
    doc = f.assessment("L1")
    doc["demonstrated_at"] = "2026-01-10T09:00:00"
    problem = rejection_of(doc)
    assert problem.field == "demonstrated_at"
    assert "timezone" in problem.reason


def test_evidence_demonstrated_in_the_future_is_refused():
    doc = f.assessment("L1")
    doc["demonstrated_at"] = "2026-03-01T00:00:00+00:00"
    problem = rejection_of(doc)
    assert problem.field == "demonstrated_at"
    assert "future" in problem.reason


def test_an_artifact_without_a_sha256_names_the_missing_field():
    doc = f.event("artifact.submitted", {"uri": "https://lms.example.org/a.pdf", "competencies_claimed": ["C1"]},
                  learner="L1")
    problem = rejection_of(doc)
    assert problem.field == "payload.sha256"
    assert "required" in problem.reason.lower()


def test_an_artifact_with_a_malformed_sha256_is_refused():
    doc = f.event("artifact.submitted", {"uri": "https://lms.example.org/a.pdf", "sha256": "abc",
                                         "competencies_claimed": ["C1"]}, learner="L1")
    assert rejection_of(doc).field == "payload.sha256"


def test_names_cannot_pass_as_learner_ids():
    assert rejection_of(f.assessment("Jane Doe")).field == "learner_id"


def test_the_client_may_not_set_recorded_at():
    doc = f.assessment("L1")
    doc["recorded_at"] = "2026-01-10T09:00:00Z"
    assert rejection_of(doc).field == "recorded_at"


def test_an_unknown_type_lists_the_known_ones():
    problem = rejection_of({**f.assessment("L1"), "type": "grade.changed"})
    assert problem.field == "type"
    assert "assessment.recorded" in problem.reason


def test_an_unknown_schema_version_says_which_exist():
    problem = rejection_of({**f.assessment("L1"), "schema_version": 9})
    assert problem.field == "schema_version"
    assert "[1, 2]" in problem.reason


def test_only_a_registrar_may_award_credit():
    evidence = f.assessment("L1")
    item = {"event_id": evidence["event_id"], "hash": "a" * 64, "position": 5, "type": "assessment.recorded",
            "demonstrated_at": evidence["demonstrated_at"], "score": 3.0}
    doc = f.event("credit.awarded", {
        "course_id": "CRS-1", "credits": 1.0, "rule": {"kind": "all_mastered", "version": 1},
        "competency_states": [{"competency_id": "C1", "level": 3.0, "mastered": True, "counted": True,
                               "method": {"name": "mean", "params": {}}, "evidence": [item]}],
        "evidence_event_ids": [evidence["event_id"]], "log_position": 9,
        "proposal_event_id": f.assessment("L1")["event_id"], "approved_by": "reg-1"}, learner="L1")
    problem = rejection_of(doc)
    assert "registrar" in problem.reason
    assert isinstance(parse(json.dumps({**doc, "actor": f.REGISTRAR}), now=NOW), Submission)


def test_reference_data_carries_no_learner():
    doc = f.framework()
    doc["learner_id"] = "L1"
    assert "reference data" in rejection_of(doc).reason


def test_a_framework_whose_hierarchy_loops_is_refused():
    doc = f.framework()
    doc["payload"]["competencies"] = [
        {"id": "A", "title": "A", "parent_id": "B"}, {"id": "B", "title": "B", "parent_id": "A"}]
    assert "cycle" in rejection_of(doc).reason


def test_not_json_at_all_is_a_clear_rejection():
    result = parse("{'single': 'quotes'}", now=NOW)
    assert isinstance(result, Rejection)
    assert "not valid JSON" in result.reason


def test_a_version_1_assessment_is_read_as_version_2():
    doc = f.event("assessment.recorded", {"competency_id": "C1", "score": 2.5, "assessment_id": "unit-test-4"},
                  learner="L1", version=1)
    result = parse(json.dumps(doc), now=NOW)
    assert isinstance(result, Submission)
    assert result.stored["schema_version"] == 1  # kept as posted
    assert result.stored["payload"]["assessment_id"] == "unit-test-4"
    assert result.event.schema_version == 2  # read as current
    assert result.event.payload.source.assessment_id == "unit-test-4"
    assert result.event.payload.source.kind == "test"


@pytest.mark.parametrize("name", sorted(schemas.generated()))
def test_each_schema_file_matches_its_model(name):
    path = schemas.SCHEMA_DIR / name
    assert path.exists(), f"{name} missing: run `ledger schemas`"
    assert path.read_text() == schemas.generated()[name], f"{name} drifted: run `ledger schemas`"


def test_no_schema_file_lingers_without_a_model():
    assert schemas.drift() == []


JSON_VALUES = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=20),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=10), inner, max_size=4),
    max_leaves=12)


@given(st.fixed_dictionaries({}, optional={
    "type": JSON_VALUES | st.sampled_from(["assessment.recorded", "learner.enrolled"]),
    "schema_version": JSON_VALUES | st.sampled_from([1, 2]),
    "event_id": JSON_VALUES, "learner_id": JSON_VALUES, "actor": JSON_VALUES, "payload": JSON_VALUES,
    "demonstrated_at": JSON_VALUES}) | JSON_VALUES)
def test_any_json_at_all_gets_an_answer_never_an_exception(document):
    assert isinstance(parse(json.dumps(document), now=NOW), (Rejection, Submission))
