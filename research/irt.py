"""Item response theory: the Rasch model (1PL: log-odds = ability − difficulty) and the 2PL
(log-odds = discrimination · ability − difficulty term), fitted per competency with
scikit-learn's L2 logistic regression over one-hot learner and item columns.

Abilities do not move with practice: IRT is the static baseline papers compare tracing models
with. Under learner-grouped folds every test learner is unseen and gets ability 0, the prior
mean that the L2 penalty centres abilities on; its predictions then come from the items alone.
An item the fit has not seen gets difficulty 0 (an average item) and the mean discrimination."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
from scipy import sparse

from research.answer_design import (Index, ItemModel, items_per_answer, learner_per_answer, one_hot,
                                    outcomes)
from research.model_base import ModelError, Scale, fit_logistic, logistic_settings


class IRT1PL(ItemModel):
    """`C` is scikit-learn's inverse L2 strength on abilities and item easinesses."""

    name = "irt"

    def __init__(self, C: float = 1.0, mastery_p: float = 0.95) -> None:
        self.C, self.mastery_p = logistic_settings(self.name, C, mastery_p)
        self.learners, self.items = Index(()), Index(())
        self.intercept, self.ability, self.easiness = 0.0, np.zeros(0), np.zeros(0)

    def design(self, histories: Sequence[Any]) -> sparse.csr_matrix:
        return sparse.hstack([one_hot(self.learners.lookup(learner_per_answer(histories)), len(self.learners)),
                              one_hot(self.items.lookup(items_per_answer(histories)), len(self.items))]).tocsr()

    def fit_answers(self, histories: Sequence[Any], scale: Scale) -> None:
        self.learners = Index(learner_per_answer(histories))
        self.items = Index(items_per_answer(histories))
        y = outcomes(histories, scale)
        if len(y):
            self.intercept, w = fit_logistic(self.design(histories), y, self.C, tol=1e-6)
            self.ability, self.easiness = np.asarray(w[:len(self.learners)]), np.asarray(w[len(self.learners):])

    def _theta(self, history: Any) -> float:
        j = self.learners.of.get(history.learner_id)
        return float(self.ability[j]) if j is not None else 0.0

    def logits(self, history: Any, scale: Scale) -> np.ndarray:
        i = self.items.lookup(history.items if len(history.items) == len(history.scores) else [None] * len(history.scores))
        easiness = np.where(i >= 0, self.easiness[np.maximum(i, 0)] if len(self.easiness) else 0.0, 0.0)
        return self.intercept + self._theta(history) + easiness

    def average_logits(self, history: Any, scale: Scale) -> np.ndarray:
        mean = float(self.easiness.mean()) if len(self.easiness) else 0.0
        return np.full(len(history.scores), self.intercept + self._theta(history) + mean)

    def settings(self) -> dict[str, Any]:
        return {"C": self.C, "mastery_p": self.mastery_p}

    def fitted(self) -> dict[str, Any]:
        return {"intercept": round(self.intercept, 6), "learners_fitted": len(self.learners),
                "items_fitted": len(self.items),
                "ability_sd": round(float(self.ability.std()), 6) if len(self.ability) else None,
                "mean_difficulty": round(float(-self.easiness.mean()), 6) if len(self.easiness) else None}


class IRT2PL(IRT1PL):
    """Fitted by alternation from the 1PL abilities: the item step is one scikit-learn fit of
    every item's easiness and discrimination (item one-hot and item one-hot × ability), the
    learner step a few Newton steps on each ability under the same L2 penalty. `iterations`
    is how many alternations; the last step is always the item step."""

    name = "irt2pl"

    def __init__(self, C: float = 1.0, iterations: int = 5, mastery_p: float = 0.95) -> None:
        super().__init__(C, mastery_p)
        if isinstance(iterations, bool) or not isinstance(iterations, int) or iterations < 1:
            raise ModelError(f"irt2pl: iterations={iterations!r} must be a whole number of at least 1")
        self.iterations = iterations
        self.discrimination = np.zeros(0)

    def fit_answers(self, histories: Sequence[Any], scale: Scale) -> None:
        super().fit_answers(histories, scale)  # the 1PL abilities start the alternation
        y = outcomes(histories, scale)
        if not len(y):
            return
        j = self.learners.lookup(learner_per_answer(histories))
        i = self.items.lookup(items_per_answer(histories))
        for step in range(self.iterations):
            self._item_step(i, self.ability[j], y)
            if step < self.iterations - 1:
                self._learner_step(i, j, y)
        self.ability = self.ability.copy()

    def _item_step(self, i: np.ndarray, theta: np.ndarray, y: np.ndarray) -> None:
        n = len(self.items)
        design = sparse.hstack([one_hot(i, n), one_hot(i, n, theta)]).tocsr()
        self.intercept, w = fit_logistic(design, y, self.C, tol=1e-6)
        self.easiness, self.discrimination = np.asarray(w[:n]), np.asarray(w[n:])

    def _learner_step(self, i: np.ndarray, j: np.ndarray, y: np.ndarray) -> None:
        # scikit-learn's objective is C·Σ loss + ½‖w‖²; the same per ability, by Newton.
        a, offset = self.discrimination[i], self.intercept + self.easiness[i]
        theta = self.ability.copy()
        for _ in range(4):
            p = 1.0 / (1.0 + np.exp(-(offset + a * theta[j])))
            gradient = self.C * np.bincount(j, a * (y - p), len(theta)) - theta
            curvature = self.C * np.bincount(j, a * a * p * (1 - p), len(theta)) + 1.0
            theta += gradient / curvature
        self.ability = theta

    def logits(self, history: Any, scale: Scale) -> np.ndarray:
        i = self.items.lookup(history.items if len(history.items) == len(history.scores) else [None] * len(history.scores))
        seen = i >= 0
        k = np.maximum(i, 0)
        easiness = np.where(seen, self.easiness[k], 0.0) if len(self.easiness) else np.zeros(len(i))
        mean_a = float(self.discrimination.mean()) if len(self.discrimination) else 1.0
        a = np.where(seen, self.discrimination[k], mean_a) if len(self.discrimination) else np.ones(len(i))
        return self.intercept + easiness + a * self._theta(history)

    def average_logits(self, history: Any, scale: Scale) -> np.ndarray:
        mean_e = float(self.easiness.mean()) if len(self.easiness) else 0.0
        mean_a = float(self.discrimination.mean()) if len(self.discrimination) else 1.0
        return np.full(len(history.scores), self.intercept + mean_e + mean_a * self._theta(history))

    def settings(self) -> dict[str, Any]:
        return {"C": self.C, "iterations": self.iterations, "mastery_p": self.mastery_p}

    def fitted(self) -> dict[str, Any]:
        return {**super().fitted(), "mean_discrimination": round(float(self.discrimination.mean()), 6)
                if len(self.discrimination) else None}
