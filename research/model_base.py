"""What every research model shares: the scale it reads scores on, the error it raises, the
protocol it follows, and how its parameters are checked against what it accepts."""

from __future__ import annotations

import inspect
import math
import typing
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any, Protocol, runtime_checkable

from projections.methods import Estimate


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


def sigmoid(x: float) -> float:
    return 1.0 / (1.0 + math.exp(-max(min(x, 50.0), -50.0)))


def next_probability(estimate: Estimate, scale: Scale) -> float:
    """P(the next evidence reaches the threshold): the model's own, else its level on the scale."""
    if estimate.p_next is not None:
        return estimate.p_next
    if estimate.p_mastery is not None:
        return estimate.p_mastery
    if estimate.level is None:
        return 0.5
    return scale.fraction(estimate.level)


# Text a command line may give for a flag. Anything else ("yes", "2", "ture") is refused: a
# typo must not silently turn fitting on.
_FLAGS = {True: True, False: False, "true": True, "false": False, "1": True, "0": False, 1: True, 0: False}


def checked_params(name: str, factory: Any, params: dict[str, Any]) -> dict[str, Any]:
    """`params` as the factory will take them: an unknown name is an error listing the names
    it accepts, and a flag (a parameter annotated bool) accepts only true/false/1/0. Factories
    taking **kwargs are passed everything as given."""
    try:
        signature = inspect.signature(factory)
    except (TypeError, ValueError):
        return dict(params)
    accepted = {n: p for n, p in signature.parameters.items()
                if p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY)}
    open_ended = any(p.kind is p.VAR_KEYWORD for p in signature.parameters.values())
    try:
        hints = typing.get_type_hints(factory.__init__ if inspect.isclass(factory) else factory)
    except Exception:  # a researcher's annotations may not resolve; then nothing is coerced
        hints = {}
    unknown = sorted(k for k in params if k not in accepted)
    if unknown and not open_ended:
        takes = ", ".join(accepted) or "no parameters"
        raise ModelError(f"{name}: unknown parameter{'s' if len(unknown) > 1 else ''} {', '.join(unknown)}; "
                         f"{name} takes {takes}")
    out, problems = {}, []
    for key, value in params.items():
        if _is_flag(hints.get(key)):
            flag = _FLAGS.get(value.lower() if isinstance(value, str) else value) \
                if isinstance(value, (str, bool, int)) else None
            if flag is None:
                problems.append(f"{key}={value!r} must be true, false, 1 or 0")
                continue
            value = flag
        out[key] = value
    if problems:
        raise ModelError(f"{name}: " + "; ".join(problems))
    return out


def _is_flag(hint: Any) -> bool:
    if hint is bool:
        return True
    args = typing.get_args(hint)
    return bool(args) and bool in args and all(a in (bool, type(None)) for a in args)


def settings_in_effect(factory: Any, model: Any, params: dict[str, Any]) -> dict[str, Any]:
    """What the model was built with, defaults included: its own `settings()` when it says,
    else the factory's signature filled in with `params`."""
    if hasattr(model, "settings"):
        return dict(model.settings())
    try:
        signature = inspect.signature(factory)
        bound = signature.bind_partial(**params)
    except (TypeError, ValueError):
        return dict(params)
    bound.apply_defaults()
    return {k: v for k, v in bound.arguments.items()
            if signature.parameters[k].kind not in (inspect.Parameter.VAR_KEYWORD, inspect.Parameter.VAR_POSITIONAL)}


def logistic_settings(name: str, C: Any, mastery_p: Any) -> tuple[float, float]:
    """A logistic model's `C` and `mastery_p`, checked: every problem named at once."""
    problems = []
    if isinstance(C, bool) or not isinstance(C, (int, float)) or not C > 0:
        problems.append(f"C={C!r} must be a positive number")
    if isinstance(mastery_p, bool) or not isinstance(mastery_p, (int, float)) or not 0 < mastery_p <= 1:
        problems.append(f"mastery_p={mastery_p!r} must be a probability in (0, 1]")
    if problems:
        raise ModelError(f"{name}: " + "; ".join(problems))
    return float(C), float(mastery_p)


def fit_logistic(features: Any, outcomes: Sequence[bool], C: float, tol: float = 1e-4) -> tuple[float, Any]:
    """(intercept, coefficients) of an L2-regularised logistic regression (scikit-learn's
    LogisticRegression, lbfgs). With only one outcome among the answers there is nothing to
    separate: the intercept is the smoothed rate and every coefficient 0."""
    import numpy as np
    from sklearn.linear_model import LogisticRegression

    y = np.asarray(outcomes, dtype=np.int8)
    if y.min(initial=1) == y.max(initial=0):
        rate = (y.sum() + 0.5) / (len(y) + 1.0)
        return float(np.log(rate / (1 - rate))), np.zeros(features.shape[1])
    model = LogisticRegression(C=C, max_iter=1000, tol=tol).fit(features, y)
    return float(model.intercept_[0]), model.coef_[0]
