from projections.credit import evaluate_rule

COURSE = ["A", "B", "C", "D"]


def mastered(*ids):
    return {c: c in ids for c in COURSE}


def test_all_mastered_needs_every_competency():
    assert not evaluate_rule({"kind": "all_mastered", "version": 1}, COURSE, mastered("A", "B", "C")).satisfied
    result = evaluate_rule({"kind": "all_mastered", "version": 1}, COURSE, mastered(*COURSE))
    assert result.satisfied and result.counted == COURSE


def test_n_of_m_counts_the_mastered_ones():
    rule = {"kind": "n_of_m", "version": 1, "n": 3}
    assert not evaluate_rule(rule, COURSE, mastered("A", "B")).satisfied
    result = evaluate_rule(rule, COURSE, mastered("A", "B", "D"))
    assert result.satisfied and result.counted == ["A", "B", "D"]


def test_n_of_m_with_a_required_competency_missing_fails_whatever_the_count():
    rule = {"kind": "n_of_m", "version": 1, "n": 2, "required": ["C"]}
    result = evaluate_rule(rule, COURSE, mastered("A", "B", "D"))
    assert not result.satisfied and "C" in result.reason


def test_points_add_up_like_moodles_course_completion():
    rule = {"kind": "points", "version": 1, "points": {"A": 2.0, "B": 1.0, "C": 1.0, "D": 1.0}, "min_points": 3.0,
            "required": ["A"]}
    assert evaluate_rule(rule, COURSE, mastered("A", "B")).satisfied
    assert not evaluate_rule(rule, COURSE, mastered("B", "C", "D")).satisfied  # 3 points but A is required
    assert not evaluate_rule(rule, COURSE, mastered("A")).satisfied
