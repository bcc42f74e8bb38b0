"""PFA and AFM against scikit-learn fitted directly on a design matrix built here, row by row
from the CSV (not with the models' own `design`), on real ASSISTments answers."""

import csv
from collections import defaultdict

import numpy as np
import pytest
from scipy import sparse
from sklearn.linear_model import LogisticRegression

from research.afm import AFM
from research.model_base import Scale
from research.pfa import PFA
from tests.factories import SHARED_DATA

SCALE = Scale(0, 1, 1)
SKILL = "Circle Graph"


@pytest.fixture(scope="module")
def answers() -> dict[str, list[int]]:
    """Circle Graph's answers per learner in file order (ascending order_id within each learner)."""
    out = defaultdict(list)
    with open(SHARED_DATA / "responses" / "as_hw_cmp.csv", newline="") as fh:
        for row in csv.DictReader(fh):
            if row["skill_name"] == SKILL:
                out[row["user_id"]].append(int(row["correct"]))
    assert sum(map(len, out.values())) == 6208
    return dict(out)


def test_pfa_is_scikit_learns_logistic_regression_on_prior_successes_and_failures(answers):
    rows, y = [], []
    for sequence in answers.values():
        right = wrong = 0
        for answer in sequence:
            rows.append([right, wrong])
            y.append(answer)
            right, wrong = right + answer, wrong + (1 - answer)
    reference = LogisticRegression(C=1.0, max_iter=1000).fit(np.array(rows, dtype=float), y)
    expected = reference.predict_proba(np.array(rows, dtype=float))[:, 1]

    model = PFA()
    model.fit(list(answers.values()), SCALE)
    # Each learner's first answer is predicted by the prior, every later one by the estimate before it.
    predicted = []
    for sequence in answers.values():
        predicted.append(model.prior(SCALE))
        predicted += [e.p_next for e in model.estimates(sequence, SCALE)[:-1]]

    assert model.beta == pytest.approx(reference.intercept_[0], abs=1e-4)
    assert (model.gamma, model.rho) == pytest.approx(tuple(reference.coef_[0]), abs=1e-4)
    assert np.max(np.abs(np.array(predicted) - expected)) < 1e-4
    # Successes raise the odds of the next right answer more than failures do.
    assert model.gamma > model.rho


def test_afm_is_scikit_learns_logistic_regression_on_learner_indicators_and_opportunities(answers):
    learners = list(answers)
    data, y = [], []
    for i, learner in enumerate(learners):
        for opportunity, answer in enumerate(answers[learner]):
            data.append((i, opportunity))
            y.append(answer)
    n = len(data)
    matrix = sparse.lil_matrix((n, len(learners) + 1))
    for r, (i, opportunity) in enumerate(data):
        matrix[r, i] = 1.0
        matrix[r, len(learners)] = opportunity
    reference = LogisticRegression(C=1.0, max_iter=1000).fit(matrix.tocsr(), y)

    model = AFM()
    model.fit([answers[x] for x in learners], SCALE)

    assert model.easiness == pytest.approx(reference.intercept_[0], abs=1e-4)
    assert model.rate == pytest.approx(reference.coef_[0][-1], abs=1e-4)
    # A learner the fit has not seen gets the average proficiency: easiness + rate * opportunities.
    estimates = model.estimates([1, 0, 1], SCALE)
    logits = reference.intercept_[0] + reference.coef_[0][-1] * np.array([1, 2, 3])
    assert [e.p_next for e in estimates] == pytest.approx(list(1 / (1 + np.exp(-logits))), abs=1e-4)
    assert model.rate > 0  # practice helps
