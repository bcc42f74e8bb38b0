"""How well predicted probabilities match what happened: AUC, RMSE, log loss and accuracy."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass

import numpy as np

# Log loss is unbounded for a certain, wrong prediction; models that predict exactly 0 or 1
# (e.g. "most recent") are charged as if they had said 1e-4.
LOGLOSS_CLIP = 1e-4


@dataclass(frozen=True)
class Scores:
    n: int
    auc: float | None
    rmse: float | None
    logloss: float | None
    accuracy: float | None = None  # share of answers on the side of 0.5 the prediction was

    def as_dict(self) -> dict[str, float | int | None]:
        return asdict(self)


def auc(outcomes: Sequence[bool], predicted: Sequence[float]) -> float | None:
    """Area under the ROC curve (Mann-Whitney, ties counted half); None when only one class."""
    y = np.asarray(outcomes, dtype=bool)
    positives, negatives = int(y.sum()), int((~y).sum())
    if positives == 0 or negatives == 0:
        return None
    p = np.asarray(predicted, dtype=np.float64)
    order = np.argsort(p, kind="mergesort")
    ranks = np.empty(len(p))
    sorted_p = p[order]
    # Average ranks over ties, so equal predictions count half either way.
    _, first, counts = np.unique(sorted_p, return_index=True, return_counts=True)
    average = first + (counts + 1) / 2.0
    ranks[order] = np.repeat(average, counts)
    return float((ranks[y].sum() - positives * (positives + 1) / 2.0) / (positives * negatives))


def score_predictions(outcomes: Sequence[bool], predicted: Sequence[float]) -> Scores:
    if not outcomes:
        return Scores(0, None, None, None, None)
    y = np.asarray(outcomes, dtype=np.float64)
    p = np.asarray(predicted, dtype=np.float64)
    rmse = float(np.sqrt(np.mean((y - p) ** 2)))
    q = np.clip(p, LOGLOSS_CLIP, 1 - LOGLOSS_CLIP)
    logloss = float(-np.mean(y * np.log(q) + (1 - y) * np.log(1 - q)))
    accuracy = float(np.mean((p >= 0.5) == (y == 1)))
    return Scores(len(y), auc(outcomes, predicted), rmse, logloss, accuracy)


METRICS = ("auc", "rmse", "logloss", "accuracy")


def mean_std(per_fold: Sequence[Scores]) -> dict[str, tuple[float | None, float | None]]:
    """Each metric's mean and sample standard deviation (ddof=1) over the folds that have it,
    as papers report them; a fold with one class has no AUC and is left out of the AUC's."""
    out: dict[str, tuple[float | None, float | None]] = {}
    for metric in METRICS:
        values = [getattr(s, metric) for s in per_fold if getattr(s, metric) is not None]
        out[metric] = ((float(np.mean(values)), float(np.std(values, ddof=1)) if len(values) > 1 else 0.0)
                       if values else (None, None))
    return out
