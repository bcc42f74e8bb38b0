"""Additive Factors Model (Cen, Koedinger & Junker 2006): the log-odds of a right answer is the
learner's proficiency plus the skill's easiness plus a learning rate times the opportunities
the learner has had on the skill, fitted per competency by logistic regression (scikit-learn)
over a one-hot learner block and the opportunity count.

Proficiency is estimated per competency (the ledger fits a model one competency at a time),
and a learner the fit has not seen, as in every held-out fold, gets the average proficiency 0:
AFM's prediction for them depends only on how many answers they have given, not on which."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
from scipy import sparse

from projections.methods import Estimate
from research.model_base import Scale, fit_logistic, logistic_settings, sigmoid


def design(answers: Sequence[Sequence[bool]]) -> tuple[sparse.csr_matrix, np.ndarray]:
    """One row per answer: a one-hot column per learner (in the order given), then the number
    of earlier answers on the skill; and whether it was right."""
    lengths = np.array([len(s) for s in answers], dtype=np.int64)
    n = int(lengths.sum())
    learner = np.repeat(np.arange(len(answers)), lengths)
    opportunity = np.concatenate([np.arange(k, dtype=np.float64) for k in lengths]) if n else np.zeros(0)
    columns = np.concatenate((learner, np.full(n, len(answers))))
    rows = np.concatenate((np.arange(n), np.arange(n)))
    values = np.concatenate((np.ones(n), opportunity))
    features = sparse.csr_matrix((values, (rows, columns)), shape=(n, len(answers) + 1))
    outcomes = np.concatenate([np.asarray(s, dtype=np.float64) for s in answers]) if n else np.zeros(0)
    return features, outcomes


class AFM:
    """`C` is scikit-learn's inverse L2 strength; it shrinks the learner proficiencies and the
    learning rate toward 0 (the skill's easiness, the intercept, is not penalised)."""

    def __init__(self, C: float = 1.0, mastery_p: float = 0.95) -> None:
        self.C, self.mastery_p = logistic_settings("afm", C, mastery_p)
        self.easiness, self.rate, self.learners = 0.0, 0.0, 0

    def fit(self, histories: Sequence[Sequence[float]], scale: Scale) -> None:
        answers = [[scale.reached(s) for s in h] for h in histories if len(h)]
        features, outcomes = design(answers)
        if len(outcomes):
            self.easiness, coefficients = fit_logistic(features, outcomes, self.C)
            self.rate, self.learners = float(coefficients[-1]), len(answers)

    def settings(self) -> dict[str, Any]:
        return {"C": self.C, "mastery_p": self.mastery_p}

    def fitted(self) -> dict[str, Any]:
        return {"easiness": round(self.easiness, 6), "learning_rate": round(self.rate, 6),
                "learners_fitted": self.learners}

    def prior(self, scale: Scale) -> float:
        return sigmoid(self.easiness)

    def estimates(self, scores: Sequence[float], scale: Scale) -> list[Estimate]:
        out = []
        for opportunity in range(1, len(scores) + 1):
            p = sigmoid(self.easiness + self.rate * opportunity)
            out.append(Estimate(None, p >= self.mastery_p, p, p))
        return out
