"""What the item-aware models (IRT, Best-LR) share: one-hot learner and item columns over the
training answers, and the rule for what the unseen get.

A learner or item the fit has not seen (every learner of a held-out fold, under
learner-grouped folds) gets column weight 0: with L2 regularisation that is the prior mean of
the abilities / easinesses, so an unseen learner is predicted as an average learner."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
from scipy import sparse

from projections.methods import Estimate
from research.model_base import Scale, sigmoid


class Index:
    """Names to column numbers, in first-seen order; unknown names map to -1."""

    def __init__(self, names: Any) -> None:
        self.of = {name: i for i, name in enumerate(dict.fromkeys(names))}

    def __len__(self) -> int:
        return len(self.of)

    def lookup(self, names: Sequence[Any]) -> np.ndarray:
        return np.fromiter((self.of.get(n, -1) for n in names), dtype=np.int64, count=len(names))


def outcomes(histories: Sequence[Any], scale: Scale) -> np.ndarray:
    return np.fromiter((scale.reached(s) for h in histories for s in h.scores), dtype=np.float64)


def learner_per_answer(histories: Sequence[Any]) -> list[str]:
    return [h.learner_id for h in histories for _ in h.scores]


def items_per_answer(histories: Sequence[Any]) -> list[Any]:
    return [item for h in histories for item in _items(h)]


def _items(history: Any) -> list[Any]:
    # A history read without items (or an answer with no assessment id) is one anonymous item.
    return history.items if len(history.items) == len(history.scores) else [None] * len(history.scores)


def one_hot(indices: np.ndarray, width: int, values: np.ndarray | None = None) -> sparse.csr_matrix:
    """A row per answer with a 1 (or `values`) in its column; index -1 (unseen) leaves it empty."""
    rows = np.flatnonzero(indices >= 0)
    data = np.ones(len(rows)) if values is None else np.asarray(values, dtype=np.float64)[rows]
    return sparse.csr_matrix((data, (rows, indices[rows])), shape=(len(indices), width))


def prior_counts(history: Any, scale: Scale) -> tuple[np.ndarray, np.ndarray]:
    """Successes and failures before each answer of one history."""
    right = np.fromiter((scale.reached(s) for s in history.scores), dtype=np.float64)
    successes = np.concatenate(([0.0], np.cumsum(right)[:-1]))
    return successes, np.arange(len(right), dtype=np.float64) - successes


class ItemModel:
    """An item-aware model: `logits(history, scale)` is the log-odds of each answer given the
    learner, its item and the answers before it. The replay's estimate after an answer is
    P(right on the next item) as `p_next`, and P(right on an average item) as `p_mastery`."""

    reads_items = True
    mastery_p = 0.95

    def logits(self, history: Any, scale: Scale) -> np.ndarray:
        raise NotImplementedError

    def average_logits(self, history: Any, scale: Scale) -> np.ndarray:
        """Log-odds after each answer on an item of average easiness (for p_mastery)."""
        raise NotImplementedError

    def predictions(self, history: Any, scale: Scale) -> list[float]:
        return [sigmoid(x) for x in self.logits(history, scale)]

    def estimates_for(self, history: Any, scale: Scale) -> list[Estimate]:
        ahead = self.predictions(history, scale)[1:]
        out = []
        for t, x in enumerate(self.average_logits(history, scale)):
            p = sigmoid(x)
            out.append(Estimate(None, p >= self.mastery_p, p, ahead[t] if t < len(ahead) else p))
        return out

    def estimates(self, scores: Sequence[float], scale: Scale) -> list[Estimate]:
        """Scores alone: an unseen learner on unseen items."""
        from research.replay import History

        return self.estimates_for(History("", scores=list(scores)), scale)
