import pytest

from projections.methods import MethodError, mastered_since, trajectory


def levels(name, scores, threshold=3.0, **params):
    return [(round(e.level, 4), e.mastered) for e in trajectory({"name": name, "params": params}, scores, threshold)]


def test_decaying_average_weights_the_newest_score():
    assert levels("decaying_average", [2.0, 4.0, 3.0], weight=0.5) == [(2.0, False), (3.0, True), (3.0, True)]


def test_most_recent_is_the_last_score():
    assert levels("most_recent", [4.0, 2.0]) == [(4.0, True), (2.0, False)]


def test_highest_never_falls():
    assert levels("highest", [2.0, 3.5, 1.0]) == [(2.0, False), (3.5, True), (3.5, True)]


def test_mean_is_the_running_average():
    assert levels("mean", [2.0, 4.0, 4.0]) == [(2.0, False), (3.0, True), (3.3333, True)]


def test_n_times_at_mastery_needs_n_scores_at_the_threshold():
    assert [m for _, m in levels("n_times_at_mastery", [3.0, 2.0, 3.5, 1.0], n=2)] == [False, False, True, True]


def test_mastered_since_is_the_start_of_the_unbroken_run():
    estimates = trajectory({"name": "most_recent"}, [3.0, 2.0, 3.0, 4.0], 3.0)
    assert mastered_since(estimates) == 2
    assert mastered_since(trajectory({"name": "most_recent"}, [3.0, 2.0], 3.0)) is None


def test_an_unknown_method_is_named():
    with pytest.raises(MethodError, match="unknown mastery method 'magic'"):
        trajectory({"name": "magic"}, [3.0], 3.0)


def test_a_parameter_out_of_range_is_refused():
    with pytest.raises(MethodError, match="weight"):
        trajectory({"name": "decaying_average", "params": {"weight": 1.5}}, [3.0], 3.0)
