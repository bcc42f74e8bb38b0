"""Mastery models for research replays: the protocol, the built-in models and how a model
is found by name.

A model sees one learner's evidence for one competency in demonstration order and gives an
`Estimate` after each piece. That is all a model must do:

    class MyModel:
        def __init__(self, **params): ...
        def estimates(self, scores, scale): ...   # -> one Estimate per score

It may also learn from the whole history of a competency before it is asked
(`fit(histories, scale)`, e.g. BKT's EM), say what it predicts before any evidence
(`prior(scale)`) and report what it learnt (`fitted()`). Models are named by a built-in name,
`package.module:Class`, `path/to/file.py:Class`, or an entry point in the
`mastery_ledger.models` group — a researcher's model needs no change to this project.
"""

from __future__ import annotations

import importlib
import importlib.util
from collections.abc import Sequence
from importlib.metadata import entry_points
from pathlib import Path
from typing import Any

from projections.methods import METHODS, Estimate, MethodError
from research.afm import AFM
from research.bkt import BKT
from research.model_base import (MasteryModel, ModelError, Scale, checked_params, next_probability,  # noqa: F401
                                 settings_in_effect, sigmoid)
from research.best_lr import BestLR
from research.irt import IRT1PL, IRT2PL
from research.pfa import PFA

ENTRY_POINT_GROUP = "mastery_ledger.models"


# --- built-in models -----------------------------------------------------------------------


class MethodModel:
    """One of the official mastery methods (`projections.methods`), so a replay with the same
    name and parameters reproduces the official `competency_state` exactly."""

    def __init__(self, method: str, **params: Any) -> None:
        self.method, self.params = method, params

    def estimates(self, scores: Sequence[float], scale: Scale) -> list[Estimate]:
        params = {"floor": scale.min, **self.params} if self.method == "power_law" else self.params
        return METHODS[self.method](scores, params, scale.threshold)


class Elo:
    """Elo-style rating (Pelánek 2016): the learner's ability against the competency's
    difficulty; after each answer the ability moves by K·(right − expected), with K shrinking
    as evidence accumulates (`k / (1 + decay·n)`). Difficulty is learnt over all learners."""

    def __init__(self, k: float = 1.0, decay: float = 0.05, mastery_p: float = 0.8, difficulty: float | None = None):
        self.k, self.decay, self.mastery_p, self.difficulty = k, decay, mastery_p, difficulty
        self.learnt = difficulty is None
        if self.learnt:
            self.difficulty = 0.0

    def fit(self, histories: Sequence[Sequence[float]], scale: Scale) -> None:
        if not self.learnt:
            return
        difficulty, seen = 0.0, 0
        for history in histories:
            ability = 0.0
            for n, score in enumerate(history):
                expected = sigmoid(ability - difficulty)
                surprise = float(scale.reached(score)) - expected
                ability += self.k / (1 + self.decay * n) * surprise
                seen += 1
                difficulty -= self.k / (1 + self.decay * seen) * surprise
        self.difficulty = difficulty

    def fitted(self) -> dict[str, Any]:
        return {"k": self.k, "decay": self.decay, "difficulty": round(self.difficulty, 6)}

    def prior(self, scale: Scale) -> float:
        return sigmoid(-self.difficulty)

    def estimates(self, scores: Sequence[float], scale: Scale) -> list[Estimate]:
        ability, out = 0.0, []
        for n, score in enumerate(scores):
            ability += self.k / (1 + self.decay * n) * (float(scale.reached(score)) - sigmoid(ability - self.difficulty))
            p = sigmoid(ability - self.difficulty)
            out.append(Estimate(None, p >= self.mastery_p, p, p))
        return out


BUILT_IN: dict[str, str] = {
    **{name: f"official mastery method {name!r}" for name in METHODS},
    "bkt": "Bayesian Knowledge Tracing; params prior, learn, guess, slip, forget, fit, forgets, mastery_p",
    "elo": "Elo-style ability vs difficulty; params k, decay, mastery_p, difficulty",
    "pfa": "Performance Factors Analysis (logistic on prior successes and failures); params C, mastery_p",
    "afm": "Additive Factors Model (learner ability + opportunity count); params C, mastery_p",
    "irt": "IRT 1PL / Rasch (learner ability - item difficulty); params C, mastery_p",
    "irt2pl": "IRT 2PL (item discrimination x ability - difficulty); params C, iterations, mastery_p",
    "best_lr": "Best-LR (item, learner, log wins and attempts; Gervet et al. 2020); params C, learner, mastery_p",
}
FACTORIES: dict[str, Any] = {"bkt": BKT, "elo": Elo, "pfa": PFA, "afm": AFM, "irt": IRT1PL, "irt2pl": IRT2PL,
                             "best_lr": BestLR}


# --- finding and building models --------------------------------------------------------------


def build(name: str, params: dict[str, Any]) -> Any:
    """A fresh model instance (one per competency, since models may fit per competency)."""
    if name in METHODS:
        model = MethodModel(name, **params)
        try:  # the official methods check their own parameters: fail before any replay work
            model.estimates([1.0], Scale(0, 1, 1))
        except MethodError as error:
            raise ModelError(f"{name}: {error}") from None
        return model
    factory = FACTORIES.get(name) or _load(name)
    params = checked_params(name, factory, params)
    try:
        model = factory(**params)
    except ModelError:
        raise
    except TypeError as error:
        raise ModelError(f"{name}: cannot build it with parameters {params}: {error}") from None
    if not isinstance(model, MasteryModel):
        raise ModelError(f"{name}: {type(model).__name__} has no estimates(scores, scale) method")
    return model


def in_effect(name: str, params: dict[str, Any]) -> dict[str, Any]:
    """The parameters a model named so runs with, defaults and coerced flags included (what a
    replay records), not merely what was typed."""
    model = build(name, params)
    if name in METHODS:
        return dict(params)
    factory = FACTORIES.get(name) or _load(name)
    return settings_in_effect(factory, model, checked_params(name, factory, params))


def _load(name: str) -> Any:
    if ":" not in name:
        for entry in entry_points(group=ENTRY_POINT_GROUP):
            if entry.name == name:
                return entry.load()
        known = ", ".join(sorted(BUILT_IN))
        raise ModelError(f"unknown model {name!r}; built in: {known}; or name one as package.module:Class "
                         "or path/to/file.py:Class")
    where, _, attribute = name.rpartition(":")
    try:
        if where.endswith(".py") or "/" in where:
            path = Path(where)
            if not path.is_file():
                raise ModelError(f"{name}: no file {path}")
            spec = importlib.util.spec_from_file_location(f"ledger_model_{path.stem}", path)
            module = importlib.util.module_from_spec(spec)  # type: ignore[arg-type]
            spec.loader.exec_module(module)  # type: ignore[union-attr]
        else:
            module = importlib.import_module(where)
    except ModelError:
        raise
    except Exception as error:  # a researcher's module may fail to import in any way
        raise ModelError(f"{name}: cannot import {where}: {type(error).__name__}: {error}") from None
    try:
        return getattr(module, attribute)
    except AttributeError:
        raise ModelError(f"{name}: {where} has no {attribute!r}") from None


def fit_model(model: Any, histories: Sequence[Sequence[float]], scale: Scale) -> None:
    if hasattr(model, "fit"):
        model.fit(histories, scale)


def reads_items(model: Any) -> bool:
    """Whether the model reads each answer's learner and item (`fit_answers`, `estimates_for`,
    `predictions` over whole histories), not the scores alone."""
    return bool(getattr(model, "reads_items", False))


def prior_prediction(model: Any, scale: Scale) -> float:
    """What the model predicts before any evidence: its own prior, or an even chance."""
    return float(model.prior(scale)) if hasattr(model, "prior") else 0.5


def fitted_params(model: Any) -> dict[str, Any]:
    return dict(model.fitted()) if hasattr(model, "fitted") else dict(getattr(model, "params", {}) or {})


def parse_params(pairs: Sequence[str]) -> dict[str, Any]:
    """`k=v` pairs from the command line; values are JSON where they parse (numbers, true)."""
    import json

    out: dict[str, Any] = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key:
            raise ModelError(f"--param {pair!r}: expected name=value")
        try:
            out[key] = json.loads(value)
        except json.JSONDecodeError:
            out[key] = value
    return out
