import itertools
import math

import pytest
from hypothesis import given, strategies as st

from research import bkt
from research.metrics import auc, score_predictions
from projections.methods import power_law
from research.models import BKT, Elo, ModelError, Scale, build, next_probability, parse_params
from projections.methods import Estimate

SCALE = Scale(1.0, 4.0, 3.0)


def test_bkt_updates_its_belief_by_bayes_rule_then_learning():
    p = bkt.BKTParams(prior=0.4, learn=0.1, guess=0.2, slip=0.1)
    before, [after_right, after_wrong] = bkt.trace(p, [True, False])
    assert before == pytest.approx(0.4 * 0.9 + 0.6 * 0.2)
    posterior = 0.4 * 0.9 / (0.4 * 0.9 + 0.6 * 0.2)
    known = posterior + (1 - posterior) * 0.1
    assert after_right.known == pytest.approx(known)
    posterior = known * 0.1 / (known * 0.1 + (1 - known) * 0.8)
    assert after_wrong.known == pytest.approx(posterior + (1 - posterior) * 0.1)
    assert after_wrong.correct_next == pytest.approx(after_wrong.known * 0.9 + (1 - after_wrong.known) * 0.2)


def test_bkt_em_recovers_the_parameters_that_generated_the_answers():
    true = bkt.BKTParams(prior=0.3, learn=0.12, guess=0.22, slip=0.08)
    fitted = bkt.fit(bkt.simulate(true, learners=3000, answers=12, seed=3), bkt.BKTParams(0.5, 0.3, 0.3, 0.3))
    for name in ("prior", "learn", "guess", "slip"):
        assert getattr(fitted.params, name) == pytest.approx(getattr(true, name), abs=0.03), name
    assert fitted.log_likelihood > bkt.log_likelihood(bkt.BKTParams(0.5, 0.3, 0.3, 0.3),
                                                      bkt.simulate(true, 3000, 12, seed=3))


def test_bkt_model_fits_only_when_not_given_all_four_parameters():
    assert BKT().fitting and BKT(prior=0.2).fitting
    assert not BKT(prior=0.2, learn=0.1, guess=0.2, slip=0.1).fitting
    assert BKT(prior=0.2, learn=0.1, guess=0.2, slip=0.1, fit=True).fitting


def test_bkt_reads_a_score_at_the_threshold_as_a_right_answer():
    model = BKT(prior=0.2, learn=0.1, guess=0.2, slip=0.1)
    high = model.estimates([3.0, 3.5, 4.0], SCALE)
    low = model.estimates([2.9, 1.0, 2.0], SCALE)
    assert high[-1].p_mastery > 0.9 > low[-1].p_mastery
    assert high[-1].mastered is True and low[-1].mastered is False


def test_elo_rates_a_learner_higher_after_right_answers_and_learns_which_competency_is_harder():
    easy, hard = Elo(), Elo()
    easy.fit([[4.0, 4.0, 3.0, 1.0]] * 20, SCALE)
    hard.fit([[1.0, 1.0, 2.0, 4.0]] * 20, SCALE)
    assert hard.difficulty > easy.difficulty
    rising = easy.estimates([1.0, 3.0, 4.0], SCALE)
    assert rising[0].p_next < rising[1].p_next < rising[2].p_next


def test_power_law_follows_an_exact_power_curve_and_holds_a_constant():
    curve = [1.0 + 2.0 * (n ** 0.5) - 1.0 for n in range(1, 6)]  # shifted by the floor of 1: (score - 1 + 1) = 2 n^0.5
    estimates = power_law(curve, {"floor": 1.0}, 3.0)
    assert estimates[-1].level == pytest.approx(curve[-1])
    assert [e.level for e in power_law([2.0] * 4, {"floor": 1.0}, 3.0)] == pytest.approx([2.0] * 4)


@given(st.lists(st.tuples(st.booleans(), st.sampled_from([0.1, 0.3, 0.5, 0.7, 0.9])), min_size=2, max_size=40))
def test_auc_is_the_share_of_right_wrong_pairs_ranked_the_right_way(pairs):
    outcomes = [y for y, _ in pairs]
    predicted = [p for _, p in pairs]
    ranked = [(1.0 if pr > pw else 0.5 if pr == pw else 0.0)
              for (yr, pr), (yw, pw) in itertools.product(pairs, pairs) if yr and not yw]
    expected = sum(ranked) / len(ranked) if ranked else None
    assert auc(outcomes, predicted) == (pytest.approx(expected) if expected is not None else None)


def test_an_even_chance_scores_log_two_and_a_perfect_ranking_an_auc_of_one():
    scores = score_predictions([True, False, True, False], [0.5] * 4)
    assert scores.logloss == pytest.approx(math.log(2)) and scores.rmse == pytest.approx(0.5) and scores.auc == 0.5
    assert score_predictions([True, False], [0.9, 0.1]).auc == 1.0


def test_a_level_without_a_probability_is_read_as_its_place_on_the_scale():
    assert next_probability(Estimate(2.5, False), SCALE) == pytest.approx(0.5)
    assert next_probability(Estimate(None, True, 0.8), SCALE) == 0.8
    assert next_probability(Estimate(3.0, True, 0.8, 0.6), SCALE) == 0.6


def test_models_are_refused_with_the_reason_before_any_work():
    with pytest.raises(ModelError, match="unknown model 'x'"):
        build("x", {})
    with pytest.raises(ModelError, match="weight=2"):
        build("decaying_average", {"weight": 2})
    with pytest.raises(ModelError, match="unknown parameter nonsense; elo takes k, decay, mastery_p, difficulty"):
        build("elo", {"nonsense": 1})
    with pytest.raises(ModelError, match="has no 'Nope'"):
        build("research.models:Nope", {})
    assert parse_params(["weight=0.5", "fit=true", "name=abc"]) == {"weight": 0.5, "fit": True, "name": "abc"}
