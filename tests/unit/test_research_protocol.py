"""The evaluation protocol's folds, the per-fold summary, parameter checks and BKT's numerics."""

from fractions import Fraction

import numpy as np
import pytest
from hypothesis import given, settings, strategies as st
from sklearn.model_selection import GroupKFold

from research.bkt import BKTParams, trace
from research.metrics import Scores, mean_std
from research.models import ModelError, build, in_effect
from research.protocol import assign_folds


@settings(max_examples=60, deadline=None)
@given(st.dictionaries(st.text("abcdefgh", min_size=1, max_size=4), st.integers(1, 60), min_size=5, max_size=60),
       st.integers(2, 5), st.integers(0, 3))
def test_every_learner_is_in_one_fold_and_folds_are_balanced_by_answers(counts, folds, seed):
    fold_of = assign_folds(counts, folds, seed)

    assert set(fold_of) == set(counts) and set(fold_of.values()) <= set(range(folds))
    totals = [sum(n for learner, n in counts.items() if fold_of[learner] == k) for k in range(folds)]
    # Greedy largest-first to the lightest fold: no fold exceeds the lightest by more than the
    # largest learner (GroupKFold's guarantee).
    assert max(totals) - min(totals) <= max(counts.values())
    assert assign_folds(counts, folds, seed) == fold_of


def test_folds_are_scikit_learns_group_k_fold_and_the_seed_only_reorders_equal_learners():
    counts = {f"L{i:02d}": 1 + i % 4 for i in range(40)}
    a, b = assign_folds(counts, 4, seed=0), assign_folds(counts, 4, seed=1)
    assert a != b
    for fold_of in (a, b):
        assert sorted(sum(n for x, n in counts.items() if fold_of[x] == k) for k in range(4)) == [25, 25, 25, 25]
    # With all learners of distinct sizes the seed cannot matter, and the folds are GroupKFold's.
    distinct = {f"L{i:02d}": i + 1 for i in range(20)}
    groups = np.repeat(sorted(distinct), [distinct[x] for x in sorted(distinct)])
    theirs = {}
    for k, (_, test) in enumerate(GroupKFold(n_splits=4).split(groups, groups=groups)):
        theirs.update({g: k for g in set(groups[test])})
    ours = assign_folds(distinct, 4, seed=5)
    assert {frozenset(x for x in ours if ours[x] == k) for k in range(4)} == \
        {frozenset(x for x in theirs if theirs[x] == k) for k in range(4)}


def test_fewer_learners_than_folds_is_refused_with_the_numbers():
    with pytest.raises(ValueError, match="--folds 5 needs at least 5 learners; there are 3"):
        assign_folds({"a": 1, "b": 2, "c": 3}, 5)


def test_the_headline_is_the_mean_and_sample_std_of_per_fold_metrics():
    folds = [Scores(10, 0.7, 0.4, 0.5, 0.8), Scores(10, 0.8, 0.3, 0.4, 0.7), Scores(5, None, 0.2, 0.3, 0.9)]
    summary = mean_std(folds)
    assert summary["auc"] == pytest.approx((0.75, float(np.std([0.7, 0.8], ddof=1))))
    assert summary["rmse"] == pytest.approx((0.3, 0.1))


def test_an_unknown_parameter_names_the_models_parameters():
    with pytest.raises(ModelError, match="bkt: unknown parameter slpi; bkt takes prior, learn, guess, slip, forget, "
                                         "fit, forgets, mastery_p"):
        build("bkt", {"slpi": 0.1})
    with pytest.raises(ModelError, match="pfa: unknown parameters a, b; pfa takes C, mastery_p"):
        build("pfa", {"b": 1, "a": 2})


@pytest.mark.parametrize("text, meant", [("true", True), ("false", False), ("1", True), ("0", False), (True, True),
                                         (0, False), ("TRUE", True)])
def test_flags_accept_true_false_1_and_0_and_the_replay_records_what_took_effect(text, meant):
    assert in_effect("bkt", {"fit": text, "prior": 0.2})["fit"] is meant


@pytest.mark.parametrize("text", ["yes", "2", "ture", 2, 0.5, ""])
def test_anything_else_given_for_a_flag_is_refused(text):
    with pytest.raises(ModelError, match=f"bkt: fit={text!r} must be true, false, 1 or 0"):
        build("bkt", {"fit": text})


def test_what_took_effect_includes_the_defaults_not_only_what_was_typed():
    assert in_effect("bkt", {"prior": 0.2, "learn": 0.1, "guess": 0.2, "slip": 0.1}) == {
        "prior": 0.2, "learn": 0.1, "guess": 0.2, "slip": 0.1, "forget": 0.0, "fit": False, "forgets": False,
        "mastery_p": 0.95}
    assert in_effect("elo", {"k": 2}) == {"k": 2, "decay": 0.05, "mastery_p": 0.8, "difficulty": None}


def exact_trace(p: BKTParams, answers: list[bool]) -> list[Fraction]:
    """P(next answer right) after each answer, in exact rational arithmetic."""
    prior, learn, guess, slip = (Fraction(x) for x in (p.prior, p.learn, p.guess, p.slip))
    known, out = prior, []
    for right in answers:
        k, u = (known * (1 - slip), (1 - known) * guess) if right else (known * slip, (1 - known) * (1 - guess))
        known = k / (k + u) + u / (k + u) * learn
        out.append(known * (1 - slip) + (1 - known) * guess)
    return out


def old_trace(p: BKTParams, answers: list[bool]) -> list[float]:
    """The form used before: P(not known) as 1 - P(known), which rounds to 0 near 1."""
    known, out = p.prior, []
    for right in answers:
        k, u = (known * (1 - p.slip), (1 - known) * p.guess) if right else (known * p.slip, (1 - known) * (1 - p.guess))
        posterior = k / max(k + u, 1e-6)
        known = posterior + (1 - posterior) * p.learn
        out.append(known * (1 - p.slip) + (1 - known) * p.guess)
    return out


def test_bkt_with_slip_at_its_bound_recovers_after_a_long_run_of_right_answers():
    p = BKTParams(prior=0.5, learn=0.3, guess=0.2, slip=1e-6)
    answers = [True] * 40 + [False] * 8
    exact = [float(x) for x in exact_trace(p, answers)]

    ours = [s.correct_next for s in trace(p, answers)[1]]
    old = old_trace(p, answers)

    assert max(abs(a - b) for a, b in zip(ours, exact)) < 1e-9
    # The old form saturated: after the run of right answers it held P(known) at exactly 1 and
    # never came down, off from the exact belief by more than 0.4 at the end.
    assert max(abs(a - b) for a, b in zip(old, exact)) > 0.4
    assert exact[-1] < 0.6 and ours[-1] < 0.6


def test_a_logistic_model_names_every_bad_setting_at_once():
    with pytest.raises(ModelError, match=r"afm: C=0 must be a positive number; mastery_p=2 must be a probability"):
        build("afm", {"C": 0, "mastery_p": 2})


def test_a_fold_training_a_fitted_model_on_too_few_learners_is_named_in_a_warning():
    from research.model_base import Scale
    from research.protocol import evaluate
    from research.replay import Competency, History

    histories = [History(f"L{i}", scores=[float(i % 2), 1.0, 0.0]) for i in range(6)]
    competency = Competency("C1", Scale(0, 1, 1), "decaying_average", {}, histories)
    fold_of = assign_folds({h.learner_id: 3 for h in histories}, 3)

    fitted = evaluate([competency], "pfa", {}, fold_of, folds=3)
    not_fitted = evaluate([competency], "most_recent", {}, fold_of, folds=3)

    assert fitted.warnings == [f"C1: fold {k} trains pfa on 4 learners (fewer than 10)" for k in (1, 2, 3)]
    assert not_fitted.warnings == []
    assert fitted.pooled.n == 18 and [s.n for s in fitted.per_fold] == [6, 6, 6]
