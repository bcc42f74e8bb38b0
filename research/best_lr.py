"""Best-LR (Gervet, Koedinger, Schneider & Mitchell 2020): logistic regression over the item,
the skill and counts of the learner's earlier wins and attempts (log(1 + count)), here with
the learner's ability as well, fitted per competency with scikit-learn.

Fitted one competency at a time, the skill column is the intercept and the skill counts are
the total counts: counts over the learner's other skills (Gervet's "tc") are not available.
An unseen learner (every learner of a held-out fold) gets ability 0, an unseen item
easiness 0: the prior means the L2 penalty centres them on."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
from scipy import sparse

from research.answer_design import Index, ItemModel, items_per_answer, learner_per_answer, one_hot, outcomes, \
    prior_counts
from research.model_base import Scale, fit_logistic, logistic_settings


class BestLR(ItemModel):
    """`learner`: include the learner-ability columns (off gives Gervet's item/skill/count
    model exactly). `C` is scikit-learn's inverse L2 strength."""

    def __init__(self, C: float = 1.0, learner: bool = True, mastery_p: float = 0.95) -> None:
        self.C, self.mastery_p = logistic_settings("best_lr", C, mastery_p)
        self.learner = learner
        self.learners, self.items = Index(()), Index(())
        self.intercept, self.weights = 0.0, np.zeros(2)

    @staticmethod
    def counts(histories: Sequence[Any], scale: Scale) -> np.ndarray:
        """[log(1 + wins before), log(1 + attempts before)] per answer."""
        if not histories:
            return np.zeros((0, 2))
        parts = [prior_counts(h, scale) for h in histories]
        wins = np.concatenate([s for s, _ in parts])
        attempts = np.concatenate([s + f for s, f in parts])
        return np.log1p(np.column_stack((wins, attempts)))

    def design(self, histories: Sequence[Any], scale: Scale) -> sparse.csr_matrix:
        blocks = [one_hot(self.learners.lookup(learner_per_answer(histories)), len(self.learners))] \
            if self.learner else []
        blocks += [one_hot(self.items.lookup(items_per_answer(histories)), len(self.items)),
                   sparse.csr_matrix(self.counts(histories, scale))]
        return sparse.hstack(blocks).tocsr()

    def fit_answers(self, histories: Sequence[Any], scale: Scale) -> None:
        self.learners = Index(learner_per_answer(histories) if self.learner else ())
        self.items = Index(items_per_answer(histories))
        y = outcomes(histories, scale)
        if len(y):
            self.intercept, w = fit_logistic(self.design(histories, scale), y, self.C, tol=1e-6)
            self.weights = np.asarray(w)

    def logits(self, history: Any, scale: Scale) -> np.ndarray:
        return self.intercept + self.design([history], scale) @ self.weights

    def average_logits(self, history: Any, scale: Scale) -> np.ndarray:
        """After each answer: ability, the average item, and the counts including that answer."""
        k = len(self.learners)
        j = self.learners.of.get(history.learner_id)
        ability = float(self.weights[j]) if j is not None else 0.0
        items = self.weights[k:k + len(self.items)]
        wins, failures = prior_counts(history, scale)
        right = np.fromiter((scale.reached(s) for s in history.scores), dtype=np.float64)
        after = np.log1p(np.column_stack((wins + right, wins + failures + 1)))
        return self.intercept + ability + (float(items.mean()) if len(items) else 0.0) + after @ self.weights[-2:]

    def settings(self) -> dict[str, Any]:
        return {"C": self.C, "learner": self.learner, "mastery_p": self.mastery_p}

    def fitted(self) -> dict[str, Any]:
        return {"intercept": round(self.intercept, 6), "learners_fitted": len(self.learners),
                "items_fitted": len(self.items), "log_wins": round(float(self.weights[-2]), 6),
                "log_attempts": round(float(self.weights[-1]), 6)}
