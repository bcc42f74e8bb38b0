"""Performance Factors Analysis (Pavlik, Cen & Koedinger 2009): the log-odds of a right answer
is the skill's easiness plus a weight for every earlier success and another for every earlier
failure on that skill, fitted per competency by logistic regression (scikit-learn)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from projections.methods import Estimate
from research.model_base import Scale, fit_logistic, logistic_settings, sigmoid


def design(answers: Sequence[Sequence[bool]]) -> tuple[np.ndarray, np.ndarray]:
    """One row per answer: [successes before it, failures before it], and whether it was right."""
    rows, outcomes = [], []
    for sequence in answers:
        right = np.asarray(sequence, dtype=np.float64)
        successes = np.concatenate(([0.0], np.cumsum(right)[:-1]))
        failures = np.arange(len(right), dtype=np.float64) - successes
        rows.append(np.column_stack((successes, failures)))
        outcomes.append(right)
    if not rows:
        return np.zeros((0, 2)), np.zeros(0)
    return np.vstack(rows), np.concatenate(outcomes)


class PFA:
    """`C` is scikit-learn's inverse L2 strength (large = nearly unregularised)."""

    def __init__(self, C: float = 1.0, mastery_p: float = 0.95) -> None:
        self.C, self.mastery_p = logistic_settings("pfa", C, mastery_p)
        self.beta, self.gamma, self.rho = 0.0, 0.0, 0.0

    def fit(self, histories: Sequence[Sequence[float]], scale: Scale) -> None:
        features, outcomes = design([[scale.reached(s) for s in h] for h in histories])
        if len(outcomes):
            self.beta, (self.gamma, self.rho) = fit_logistic(features, outcomes, self.C)

    def settings(self) -> dict[str, Any]:
        return {"C": self.C, "mastery_p": self.mastery_p}

    def fitted(self) -> dict[str, Any]:
        return {"beta": round(self.beta, 6), "gamma_success": round(float(self.gamma), 6),
                "rho_failure": round(float(self.rho), 6)}

    def prior(self, scale: Scale) -> float:
        return sigmoid(self.beta)

    def estimates(self, scores: Sequence[float], scale: Scale) -> list[Estimate]:
        successes = failures = 0
        out = []
        for score in scores:
            if scale.reached(score):
                successes += 1
            else:
                failures += 1
            p = sigmoid(self.beta + self.gamma * successes + self.rho * failures)
            out.append(Estimate(None, p >= self.mastery_p, p, p))
        return out
