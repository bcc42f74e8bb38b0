"""IRT 1PL/2PL and Best-LR against scikit-learn fitted directly on a design matrix built here
(DictVectorizer over named features, not the models' own `design`), on real ASSISTments
answers; the 2PL also on answers drawn from known item parameters."""

import csv
import math
from datetime import datetime, timedelta, timezone

import numpy as np
import pytest
from sklearn.feature_extraction import DictVectorizer
from sklearn.linear_model import LogisticRegression

from research.best_lr import BestLR
from research.irt import IRT1PL, IRT2PL
from research.model_base import Scale
from research.replay import Competency, History, replay
from tests.factories import SHARED_DATA

SCALE = Scale(0, 1, 1)
SKILL = "Mode"


@pytest.fixture(scope="module")
def histories() -> list[History]:
    """Mode's answers per learner in file order, each with its problem_id as the item."""
    out: dict[str, History] = {}
    with open(SHARED_DATA / "responses" / "as_hw_cmp.csv", newline="") as fh:
        for row in csv.DictReader(fh):
            if row["skill_name"] == SKILL:
                h = out.setdefault(row["user_id"], History(row["user_id"]))
                h.scores.append(float(row["correct"]))
                h.items.append(row["problem_id"])
                h.event_ids.append(f"{row['user_id']}-{row['order_id']}")
                h.demonstrated.append(datetime(2020, 1, 1, tzinfo=timezone.utc) + timedelta(seconds=len(h.scores)))
    return list(out.values())


def reference(rows, y):
    vectorizer = DictVectorizer()
    X = vectorizer.fit_transform(rows)
    return vectorizer, LogisticRegression(C=1.0, max_iter=5000, tol=1e-8).fit(X, y)


def test_irt_1pl_is_logistic_regression_on_learner_and_item_indicators(histories):
    rows = [{f"u={h.learner_id}": 1, f"i={item}": 1} for h in histories for item in h.items]
    y = [int(s) for h in histories for s in h.scores]
    vectorizer, fit = reference(rows, y)
    model = IRT1PL()
    model.fit_answers(histories, SCALE)
    ours = np.concatenate([model.predictions(h, SCALE) for h in histories])
    assert np.max(np.abs(ours - fit.predict_proba(vectorizer.transform(rows))[:, 1])) < 1e-3
    # A learner the fit has not seen gets ability 0: the reference row without a learner column.
    stranger = History("nobody", scores=[1.0, 0.0], items=[histories[0].items[0], "never-seen"])
    expected = fit.predict_proba(vectorizer.transform([{f"i={histories[0].items[0]}": 1}, {}]))[:, 1]
    assert model.predictions(stranger, SCALE) == pytest.approx(expected, abs=1e-3)
    assert model.fitted()["learners_fitted"] == len(histories)


def test_best_lr_is_logistic_regression_on_learner_item_and_log_counts(histories):
    rows, y = [], []
    for h in histories:
        wins = attempts = 0
        for item, score in zip(h.items, h.scores):
            rows.append({f"u={h.learner_id}": 1, f"i={item}": 1, "wins": math.log1p(wins),
                         "attempts": math.log1p(attempts)})
            y.append(int(score))
            wins, attempts = wins + int(score), attempts + 1
    vectorizer, fit = reference(rows, y)
    model = BestLR()
    model.fit_answers(histories, SCALE)
    ours = np.concatenate([model.predictions(h, SCALE) for h in histories])
    assert np.max(np.abs(ours - fit.predict_proba(vectorizer.transform(rows))[:, 1])) < 1e-3
    weight = dict(zip(vectorizer.get_feature_names_out(), fit.coef_[0]))
    assert model.fitted()["log_wins"] == pytest.approx(weight["wins"], abs=1e-3)
    assert model.fitted()["log_attempts"] == pytest.approx(weight["attempts"], abs=1e-3)


def test_irt_2pl_item_step_is_scikit_learn_on_its_abilities_and_fits_better_than_1pl(histories):
    model = IRT2PL()
    model.fit_answers(histories, SCALE)
    theta = {h.learner_id: model.ability[model.learners.of[h.learner_id]] for h in histories}
    rows = [{f"i={item}": 1, f"a={item}": theta[h.learner_id]} for h in histories for item in h.items]
    y = [int(s) for h in histories for s in h.scores]
    vectorizer, fit = reference(rows, y)
    ours = np.concatenate([model.predictions(h, SCALE) for h in histories])
    assert np.max(np.abs(ours - fit.predict_proba(vectorizer.transform(rows))[:, 1])) < 1e-3

    rasch = IRT1PL()
    rasch.fit_answers(histories, SCALE)

    def loglik(m):
        p = np.concatenate([m.predictions(h, SCALE) for h in histories])
        return float(np.sum(np.where(np.array(y) == 1, np.log(p), np.log(1 - p))))
    assert loglik(model) > loglik(rasch)


def test_irt_2pl_recovers_known_discriminations():
    rng = np.random.default_rng(3)
    learners, items = 1500, 12
    theta = rng.normal(size=learners)
    a = np.linspace(0.3, 2.5, items)
    b = rng.normal(scale=0.5, size=items)
    histories = []
    for j in range(learners):
        chosen = rng.permutation(items)
        p = 1 / (1 + np.exp(-(a[chosen] * (theta[j] - b[chosen]))))
        histories.append(History(f"L{j}", scores=list((rng.random(items) < p).astype(float)),
                                 items=[f"q{i}" for i in chosen]))
    model = IRT2PL(C=10.0, iterations=8)
    model.fit_answers(histories, SCALE)
    fitted = np.array([model.discrimination[model.items.of[f"q{i}"]] for i in range(items)])
    assert np.corrcoef(fitted, a)[0, 1] > 0.9


def test_replay_metadata_records_the_item_models_settings_in_effect(histories):
    competency = Competency("mode", SCALE, "decaying_average", {}, histories[:60])
    result = replay([competency], "best_lr", {"learner": "0"})
    assert result.params == {"C": 1.0, "learner": False, "mastery_p": 0.95}
    assert result.fitted["mode"]["learners_fitted"] == 0
    assert result.table.num_rows == sum(len(h.scores) for h in histories[:60])
    assert replay([competency], "irt2pl", {"iterations": 3}).params["iterations"] == 3
