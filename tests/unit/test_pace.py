from datetime import date

from projections.queries import pace

START, TARGET = date(2026, 1, 1), date(2026, 12, 31)


def test_half_the_goals_at_half_time_is_on_track():
    assert pace(10, 5, START, TARGET, date(2026, 7, 2)) == "on_track"


def test_few_goals_late_in_the_plan_is_behind():
    assert pace(10, 2, START, TARGET, date(2026, 10, 1)) == "behind"


def test_many_goals_early_is_ahead():
    assert pace(10, 6, START, TARGET, date(2026, 3, 1)) == "ahead"


def test_every_goal_mastered_is_complete_whatever_the_date():
    assert pace(4, 4, START, TARGET, date(2027, 6, 1)) == "complete"


def test_an_unfinished_plan_past_its_target_is_behind():
    assert pace(4, 3, START, TARGET, date(2027, 1, 15)) == "behind"
