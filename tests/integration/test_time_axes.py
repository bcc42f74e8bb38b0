"""`as_of` (demonstration time) and `known_at` (recording time), on hand-written histories."""

import time
from datetime import datetime, timezone

import pytest

from consumers.projector import run_projections
from projections import official, queries
from tests import factories as f


def now():
    return datetime.now(timezone.utc)


@pytest.fixture
def history(ledger, tmp_path):
    """C1 uses "most recent" with mastery at 3.

    First posting (known at T1):  A day 0 score 2.0;  B day 10 score 2.5
    Second posting (after T1):    C day 5 score 4.0 (make-up work entered late);  B voided
    """
    course = f.course(competencies=["C1"], method={"name": "most_recent", "params": {}})
    a = f.assessment("L1", "C1", 2.0, days=0)
    b = f.assessment("L1", "C1", 2.5, days=10)
    c = f.assessment("L1", "C1", 4.0, days=5)
    list(ledger.post([f.line(d) for d in [f.framework(), course, f.enrolled("L1"), a, b]]))
    time.sleep(0.01)
    t1 = now()
    time.sleep(0.01)
    list(ledger.post([f.line(c), f.line(f.voided("L1", b, days=11))]))
    path = tmp_path / "p.duckdb"
    run_projections(ledger, path)
    return official.connect(path, read_only=True), t1


def state(con, **kw):
    [row] = queries.competency_states(con, "L1", **kw)
    return row["level"], row["mastered"], row["evidence_count"]


def test_today_the_late_make_up_counts_and_the_voided_result_does_not(history):
    con, _ = history
    assert state(con) == (4.0, True, 2)  # A and C; C (day 5) is the most recent standing evidence


def test_what_the_ledger_knew_at_t1_is_the_voided_result_before_its_void(history):
    con, t1 = history
    assert state(con, known_at=t1) == (2.5, False, 2)  # A and B; C was not yet recorded


def test_what_was_true_on_day_7_counts_late_work_by_when_it_was_demonstrated(history):
    con, _ = history
    assert state(con, as_of=datetime.fromisoformat(f.at(7))) == (4.0, True, 2)  # A and C


def test_day_7_as_known_at_t1_has_only_the_first_result(history):
    con, t1 = history
    assert state(con, as_of=datetime.fromisoformat(f.at(7)), known_at=t1) == (2.0, False, 1)


def test_the_maintained_state_equals_the_state_asked_for_now(history):
    con, _ = history
    assert queries.competency_states(con, "L1") == queries.competency_states(con, "L1", known_at=now())


def test_mastered_since_is_when_the_make_up_work_was_demonstrated(history):
    con, _ = history
    [row] = queries.competency_states(con, "L1")
    assert row["mastered_since"] == datetime.fromisoformat(f.at(5))
