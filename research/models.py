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
import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from importlib.metadata import entry_points
from pathlib import Path
from typing import Any, Protocol, runtime_checkable

from projections import bkt
from projections.methods import METHODS, Estimate, MethodError

ENTRY_POINT_GROUP = "mastery_ledger.models"


@dataclass(frozen=True)
class Scale:
    min: float
    max: float
    threshold: float

    def fraction(self, level: float) -> float:
        """Where `level` sits between the scale's ends, 0..1."""
        span = self.max - self.min
        return min(max((level - self.min) / span, 0.0), 1.0) if span > 0 else float(level >= self.threshold)

    def reached(self, score: float) -> bool:
        return score >= self.threshold


@runtime_checkable
class MasteryModel(Protocol):
    def estimates(self, scores: Sequence[float], scale: Scale) -> Iterable[Estimate]: ...


class ModelError(ValueError):
    """A model that cannot be found, built or run as asked: the message says why."""


# --- built-in models -----------------------------------------------------------------------


class MethodModel:
    """One of the official mastery methods (`projections.methods`), so a replay with the same
    name and parameters reproduces the official `competency_state` exactly."""

    def __init__(self, method: str, **params: Any) -> None:
        self.method, self.params = method, params

    def estimates(self, scores: Sequence[float], scale: Scale) -> list[Estimate]:
        params = {"floor": scale.min, **self.params} if self.method == "power_law" else self.params
        return METHODS[self.method](scores, params, scale.threshold)


class BKT:
    """Bayesian Knowledge Tracing. An answer is right when its score reaches the mastery
    threshold. With `fit=True` (the default unless all four parameters are given) the
    parameters are fitted by EM per competency, starting from the given ones."""

    def __init__(self, prior: float | None = None, learn: float | None = None, guess: float | None = None,
                 slip: float | None = None, forget: float = 0.0, fit: bool | None = None, forgets: bool = False,
                 mastery_p: float = 0.95) -> None:
        given = {"prior": prior, "learn": learn, "guess": guess, "slip": slip}
        start = {k: v for k, v in given.items() if v is not None}
        try:
            self.params = bkt.BKTParams(**start, forget=forget).checked()
        except (TypeError, ValueError) as error:
            raise ModelError(f"bkt: {error}") from None
        self.fitting = fit if fit is not None else len(start) < 4
        self.forgets, self.mastery_p = forgets, mastery_p
        self.result: bkt.Fit | None = None

    def fit(self, histories: Sequence[Sequence[float]], scale: Scale) -> None:
        if self.fitting:
            self.result = bkt.fit([[scale.reached(s) for s in h] for h in histories], self.params,
                                  forgets=self.forgets)
            self.params = self.result.params

    def fitted(self) -> dict[str, Any]:
        out: dict[str, Any] = self.params.as_dict()
        if self.result is not None:
            out.update(log_likelihood=round(self.result.log_likelihood, 3), em_iterations=self.result.iterations)
        return out

    def prior(self, scale: Scale) -> float:
        return bkt.trace(self.params, [])[0]

    def estimates(self, scores: Sequence[float], scale: Scale) -> list[Estimate]:
        _, steps = bkt.trace(self.params, [scale.reached(s) for s in scores])
        return [Estimate(None, s.known >= self.mastery_p, s.known, s.correct_next) for s in steps]


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
                expected = _sigmoid(ability - difficulty)
                surprise = float(scale.reached(score)) - expected
                ability += self.k / (1 + self.decay * n) * surprise
                seen += 1
                difficulty -= self.k / (1 + self.decay * seen) * surprise
        self.difficulty = difficulty

    def fitted(self) -> dict[str, Any]:
        return {"k": self.k, "decay": self.decay, "difficulty": round(self.difficulty, 6)}

    def prior(self, scale: Scale) -> float:
        return _sigmoid(-self.difficulty)

    def estimates(self, scores: Sequence[float], scale: Scale) -> list[Estimate]:
        ability, out = 0.0, []
        for n, score in enumerate(scores):
            ability += self.k / (1 + self.decay * n) * (float(scale.reached(score)) - _sigmoid(ability - self.difficulty))
            p = _sigmoid(ability - self.difficulty)
            out.append(Estimate(None, p >= self.mastery_p, p, p))
        return out


def _sigmoid(x: float) -> float:
    return 1.0 / (1.0 + math.exp(-max(min(x, 50.0), -50.0)))


BUILT_IN: dict[str, str] = {
    **{name: f"official mastery method {name!r}" for name in METHODS},
    "bkt": "Bayesian Knowledge Tracing; params prior, learn, guess, slip, forget, fit, forgets, mastery_p",
    "elo": "Elo-style ability vs difficulty; params k, decay, mastery_p, difficulty",
}


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
    factory = {"bkt": BKT, "elo": Elo}.get(name) or _load(name)
    try:
        model = factory(**params)
    except ModelError:
        raise
    except TypeError as error:
        raise ModelError(f"{name}: cannot build it with parameters {params}: {error}") from None
    if not isinstance(model, MasteryModel):
        raise ModelError(f"{name}: {type(model).__name__} has no estimates(scores, scale) method")
    return model


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


def prior_prediction(model: Any, scale: Scale) -> float:
    """What the model predicts before any evidence: its own prior, or an even chance."""
    return float(model.prior(scale)) if hasattr(model, "prior") else 0.5


def fitted_params(model: Any) -> dict[str, Any]:
    return dict(model.fitted()) if hasattr(model, "fitted") else dict(getattr(model, "params", {}) or {})


def next_probability(estimate: Estimate, scale: Scale) -> float:
    """P(the next evidence reaches the threshold): the model's own, else its level on the scale."""
    if estimate.p_next is not None:
        return estimate.p_next
    if estimate.p_mastery is not None:
        return estimate.p_mastery
    if estimate.level is None:
        return 0.5
    return scale.fraction(estimate.level)


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
