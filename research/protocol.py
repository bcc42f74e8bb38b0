"""The evaluation protocol of the knowledge-tracing literature: learners split into K folds
grouped by learner and balanced by answers (scikit-learn's GroupKFold), every model fitted on
the other folds only, and each fold scored on its own; the headline is the mean ± std of the
per-fold metrics, with the pooled figure (all folds' predictions in one) beside it."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any

import duckdb
import numpy as np

from research.metrics import Scores, mean_std, score_predictions
from research.models import ModelError, next_probability, prior_prediction, reads_items
from research.replay import Competency, _estimates, _fitted_model, _model_for

Progress = Callable[[int, int], None]

# Fewer learners than this in a fold's training part and a fitted model has little to go on:
# the evaluation still runs, and says so.
MIN_TRAINING_LEARNERS = 10


def assign_folds(answers_per_learner: Mapping[str, int], folds: int, seed: int = 0) -> dict[str, int]:
    """learner -> fold in 0..folds-1, by scikit-learn's GroupKFold (largest learners first, each
    to the fold with fewest answers so far). The seed orders learners with equally many answers
    before that greedy pass, so different seeds give different, equally balanced folds."""
    from sklearn.model_selection import GroupKFold

    learners = sorted(answers_per_learner)
    if folds <= 1:
        return {learner: 0 for learner in learners}
    if len(learners) < folds:
        raise ValueError(f"--folds {folds} needs at least {folds} learners; there are {len(learners)}")
    label = np.random.default_rng(seed).permutation(len(learners))
    counts = np.array([answers_per_learner[x] for x in learners])
    groups = np.repeat(label, counts)
    fold_of_label = {}
    for k, (_, test) in enumerate(GroupKFold(n_splits=folds).split(np.zeros(len(groups)), groups=groups)):
        for g in np.unique(groups[test]):
            fold_of_label[int(g)] = k
    return {learner: fold_of_label[int(label[i])] for i, learner in enumerate(learners)}


def answers_per_learner(con: duckdb.DuckDBPyConnection, *, as_of: date | datetime | None = None,
                        known_at: date | datetime | None = None) -> dict[str, int]:
    """How many counted answers each learner has, over every competency: what folds balance."""
    from projections.queries import _counted_sql  # the one definition of "counted"

    sql, params = _counted_sql(None, as_of, known_at)
    return dict(con.execute(f"SELECT learner_id, count(*) FROM ({sql}) GROUP BY learner_id", params).fetchall())


def _predictions(model: Any, name: str, competency: Competency, history: Any) -> list[float]:
    try:
        out = [float(p) for p in model.predictions(history, competency.scale)]
    except ModelError:
        raise
    except Exception as error:  # a researcher's model can fail in any way; say where
        raise ModelError(f"model {name} failed on learner {history.learner_id}, competency "
                         f"{competency.competency_id}: {type(error).__name__}: {error}") from None
    if len(out) != len(history.scores):
        raise ModelError(f"model {name} gave {len(out)} predictions for {len(history.scores)} answers "
                         f"(learner {history.learner_id}, competency {competency.competency_id})")
    return out


@dataclass
class Evaluation:
    model: str
    folds: int
    seed: int
    per_fold: list[Scores]
    pooled: Scores
    per_competency: dict[str, Scores]  # pooled over folds, per competency
    per_competency_fold: dict[str, list[Scores]] = field(default_factory=dict)  # as pyBKT's crossvalidate scores
    warnings: list[str] = field(default_factory=list)

    @property
    def summary(self) -> dict[str, tuple[float | None, float | None]]:
        """metric -> (mean, std) over the folds: the figure comparable with papers."""
        return mean_std(self.per_fold)

    def as_dict(self, per_fold: bool = False) -> dict[str, Any]:
        out: dict[str, Any] = {"model": self.model, "folds": self.folds, "seed": self.seed,
                               "mean": {m: v[0] for m, v in self.summary.items()},
                               "std": {m: v[1] for m, v in self.summary.items()},
                               "pooled": self.pooled.as_dict(), "warnings": self.warnings,
                               "competencies": {c: {**s.as_dict(), **_summary_of(self.per_competency_fold.get(c, []))}
                                                for c, s in self.per_competency.items()}}
        if per_fold:
            out["per_fold"] = [s.as_dict() for s in self.per_fold]
        return out


def _summary_of(per_fold: list[Scores]) -> dict[str, Any]:
    summary = mean_std(per_fold)
    return {"mean": {m: v[0] for m, v in summary.items()}, "std": {m: v[1] for m, v in summary.items()}}


def evaluate(competencies: Iterable[Competency], name: str, params: dict[str, Any], fold_of: Mapping[str, int],
             *, folds: int, seed: int = 0, progress: Progress | None = None, total: int | None = None) -> Evaluation:
    """Predict every answer from the answers before it; models that fit are fitted on the
    learners outside the answer's fold (with one fold, on everyone, scored on everyone)."""
    outcomes: list[list[bool]] = [[] for _ in range(max(folds, 1))]
    predicted: list[list[float]] = [[] for _ in range(max(folds, 1))]
    per: dict[str, Scores] = {}
    per_fold: dict[str, list[Scores]] = {}
    warnings: list[str] = []
    for i, competency in enumerate(competencies, 1):
        fresh = _model_for(name, params, competency)
        fits = hasattr(fresh, "fit") or reads_items(fresh)
        mine_y, mine_p = [], []
        per_fold[competency.competency_id] = []
        for k in range(max(folds, 1)):
            test = [h for h in competency.histories if fold_of[h.learner_id] == k]
            if not test:
                continue
            train = [h for h in competency.histories if fold_of[h.learner_id] != k] if folds > 1 \
                else competency.histories
            if fits and len(train) < MIN_TRAINING_LEARNERS:
                warnings.append(f"{competency.competency_id}: fold {k + 1} trains {name} on {len(train)} learners "
                                f"(fewer than {MIN_TRAINING_LEARNERS})")
            model = _fitted_model(name, params, competency, train if fits else None)
            before = prior_prediction(model, competency.scale)
            fold_y, fold_p = [], []
            for history in test:
                ys = [competency.scale.reached(s) for s in history.scores]
                if reads_items(model):  # each answer predicted on its own item, from the answers before
                    ps = _predictions(model, name, competency, history)
                else:
                    estimates = _estimates(model, name, competency, history)
                    ps = [before] + [next_probability(e, competency.scale) for e in estimates[:-1]]
                fold_y += ys
                fold_p += ps
            outcomes[k] += fold_y
            predicted[k] += fold_p
            mine_y += fold_y
            mine_p += fold_p
            per_fold[competency.competency_id].append(score_predictions(fold_y, fold_p))
        per[competency.competency_id] = score_predictions(mine_y, mine_p)
        if progress is not None:
            progress(i, total if total is not None else i)
    every_y = [y for fold in outcomes for y in fold]
    every_p = [p for fold in predicted for p in fold]
    return Evaluation(name, folds, seed, [score_predictions(y, p) for y, p in zip(outcomes, predicted)],
                      score_predictions(every_y, every_p), per, per_fold, warnings)
