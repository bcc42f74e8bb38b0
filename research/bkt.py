"""Bayesian Knowledge Tracing (Corbett & Anderson 1995): a two-state hidden Markov model of
"not yet known" / "known", observed through right/wrong answers with guess and slip.

`fit` is Baum-Welch (EM) over all learners' sequences for one skill at once, vectorised over
sequences so a district's history fits in seconds. Its update rules are the ones pyBKT uses,
so fitted parameters can be checked against that reference implementation.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import Any

import numpy as np

from projections.methods import Estimate
from research.model_base import ModelError, Scale

# Probabilities are kept off 0 and 1 so no sequence ever has zero likelihood.
_EPS = 1e-6


@dataclass(frozen=True)
class BKTParams:
    prior: float = 0.3
    learn: float = 0.1
    guess: float = 0.2
    slip: float = 0.1
    forget: float = 0.0

    def checked(self) -> BKTParams:
        for name in ("prior", "learn", "guess", "slip", "forget"):
            value = getattr(self, name)
            if not 0.0 <= value <= 1.0:
                raise ValueError(f"BKT parameter {name}={value} must be a probability in [0, 1]")
        return self

    def as_dict(self) -> dict[str, float]:
        return {"prior": self.prior, "learn": self.learn, "guess": self.guess, "slip": self.slip,
                "forget": self.forget}


@dataclass(frozen=True)
class Step:
    known: float  # P(known | answers so far), after the learning transition
    correct_next: float  # P(the next answer is right | answers so far)
    unknown: float = 0.0  # P(not known | answers so far), kept apart from 1 - known (see trace)


def trace(p: BKTParams, answers: Sequence[bool]) -> tuple[float, list[Step]]:
    """The prediction before any answer, and the belief after each answer."""
    # P(known) and P(not known) are carried as two numbers, never one as 1 - the other: after a
    # long run of right answers P(not known) falls below 1e-16, and `1 - known` would round it to
    # exactly 0, after which no wrong answer could ever lower the belief again.
    known, unknown = p.prior, 1 - p.prior
    first = known * (1 - p.slip) + unknown * p.guess
    steps = []
    for right in answers:
        if right:
            seen_known, seen_unknown = known * (1 - p.slip), unknown * p.guess
        else:
            seen_known, seen_unknown = known * p.slip, unknown * (1 - p.guess)
        total = seen_known + seen_unknown
        if total <= 0.0:  # both states ruled out (slip and guess exactly 0): keep the belief
            total, seen_known, seen_unknown = 1.0, known, unknown
        post_known, post_unknown = seen_known / total, seen_unknown / total
        known = post_known * (1 - p.forget) + post_unknown * p.learn
        unknown = post_unknown * (1 - p.learn) + post_known * p.forget
        steps.append(Step(known, known * (1 - p.slip) + unknown * p.guess, unknown))
    return first, steps


@dataclass(frozen=True)
class Fit:
    params: BKTParams
    log_likelihood: float
    iterations: int


def fit(sequences: Sequence[Sequence[bool]], start: BKTParams = BKTParams(), *, forgets: bool = False,
        tol: float = 1e-4, max_iterations: int = 200) -> Fit:
    """Maximum-likelihood parameters for one skill by EM, starting from `start`.

    Stops when the total log-likelihood improves by less than `tol`. Without `forgets` the
    forget probability stays at `start.forget` (0 by default), as in classic BKT."""
    sequences = [s for s in sequences if len(s)]
    if not sequences:
        return Fit(start.checked(), 0.0, 0)
    obs, mask = _padded(sequences)
    p = start.checked()
    previous = -np.inf
    for iteration in range(1, max_iterations + 1):
        current, p_next = _em_step(p, obs, mask, forgets)
        if current - previous < tol:
            return Fit(p, current, iteration)
        previous, p = current, p_next
    return Fit(p, previous, max_iterations)


def log_likelihood(p: BKTParams, sequences: Sequence[Sequence[bool]]) -> float:
    """Total log-likelihood of the answers under `p` (to compare fits from different tools)."""
    sequences = [s for s in sequences if len(s)]
    return _em_step(p.checked(), *_padded(sequences), False)[0] if sequences else 0.0


def _padded(sequences: Sequence[Sequence[bool]]) -> tuple[np.ndarray, np.ndarray]:
    """Sequences as one right-padded matrix of answers and a mask of where answers are."""
    lengths = np.array([len(s) for s in sequences])
    obs = np.zeros((len(sequences), int(lengths.max())), dtype=np.float64)
    for i, s in enumerate(sequences):
        obs[i, : len(s)] = s
    mask = np.arange(obs.shape[1])[None, :] < lengths[:, None]
    return obs, mask


def _em_step(p: BKTParams, obs: np.ndarray, mask: np.ndarray, forgets: bool) -> tuple[float, BKTParams]:
    n, horizon = obs.shape
    # State 0 = not known, 1 = known. transition[i, j] = P(next j | now i).
    transition = np.array([[1 - p.learn, p.learn], [p.forget, 1 - p.forget]])
    # emission[t] = P(observed answer at t | state), per sequence.
    right_given = np.array([p.guess, 1 - p.slip])
    emission = np.where(obs[:, :, None] == 1, right_given, 1 - right_given)
    emission = np.clip(emission, _EPS, 1.0)

    alpha = np.empty((n, horizon, 2))
    scale = np.ones((n, horizon))
    a = np.array([1 - p.prior, p.prior]) * emission[:, 0]
    scale[:, 0] = a.sum(axis=1)
    alpha[:, 0] = a / scale[:, 0, None]
    for t in range(1, horizon):
        a = (alpha[:, t - 1] @ transition) * emission[:, t]
        live = mask[:, t]
        scale[:, t] = np.where(live, a.sum(axis=1), 1.0)
        alpha[:, t] = np.where(live[:, None], a / scale[:, t, None], alpha[:, t - 1])

    beta = np.ones((n, horizon, 2))
    for t in range(horizon - 2, -1, -1):
        b = (transition @ (emission[:, t + 1] * beta[:, t + 1]).T).T / scale[:, t + 1, None]
        beta[:, t] = np.where(mask[:, t + 1, None], b, 1.0)

    gamma = alpha * beta
    gamma /= gamma.sum(axis=2, keepdims=True)
    gamma *= mask[:, :, None]

    # Expected transitions between t and t+1, only where t+1 is inside the sequence.
    follows = mask[:, 1:]
    xi = (alpha[:, :-1, :, None] * transition[None, None] * (emission[:, 1:] * beta[:, 1:])[:, :, None, :]
          / scale[:, 1:, None, None])
    xi *= follows[:, :, None, None]
    from_state = gamma[:, :-1] * follows[:, :, None]

    learn = xi[:, :, 0, 1].sum() / max(from_state[:, :, 0].sum(), _EPS)
    forget = xi[:, :, 1, 0].sum() / max(from_state[:, :, 1].sum(), _EPS) if forgets else p.forget
    right = obs[:, :, None] * gamma
    guess = right[:, :, 0].sum() / max(gamma[:, :, 0].sum(), _EPS)
    slip = 1 - right[:, :, 1].sum() / max(gamma[:, :, 1].sum(), _EPS)
    prior = gamma[:, 0, 1].mean()
    log_likelihood = float(np.log(scale).sum())
    clip = lambda v: float(min(max(v, _EPS), 1 - _EPS))  # noqa: E731
    return log_likelihood, replace(p, prior=clip(prior), learn=clip(learn), guess=clip(guess), slip=clip(slip),
                                   forget=clip(forget) if forgets else p.forget)


def simulate(p: BKTParams, learners: int, answers: int, seed: int) -> list[list[bool]]:
    """Answer sequences drawn from the BKT process itself (for tests and benchmarks)."""
    rng = np.random.default_rng(seed)
    out = []
    for _ in range(learners):
        known = rng.random() < p.prior
        seq = []
        for _ in range(answers):
            seq.append(bool(rng.random() < (1 - p.slip if known else p.guess)))
            known = (rng.random() >= p.forget) if known else (rng.random() < p.learn)
        out.append(seq)
    return out


# --- the model as research replays use it ----------------------------------------------------


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
            self.params = BKTParams(**start, forget=forget).checked()
        except (TypeError, ValueError) as error:
            raise ModelError(f"bkt: {error}") from None
        self.fitting = fit if fit is not None else len(start) < 4
        self.forgets, self.mastery_p = forgets, mastery_p
        self.result: Fit | None = None

    def fit(self, histories: Sequence[Sequence[float]], scale: Scale) -> None:
        if self.fitting:
            self.result = fit([[scale.reached(s) for s in h] for h in histories], self.params,
                                  forgets=self.forgets)
            self.params = self.result.params

    def settings(self) -> dict[str, Any]:
        """What took effect: the starting parameters, and whether EM ran from them."""
        return {**self.params.as_dict(), "fit": self.fitting, "forgets": self.forgets, "mastery_p": self.mastery_p}

    def fitted(self) -> dict[str, Any]:
        out: dict[str, Any] = self.params.as_dict()
        if self.result is not None:
            out.update(log_likelihood=round(self.result.log_likelihood, 3), em_iterations=self.result.iterations)
        return out

    def prior(self, scale: Scale) -> float:
        return trace(self.params, [])[0]

    def estimates(self, scores: Sequence[float], scale: Scale) -> list[Estimate]:
        _, steps = trace(self.params, [scale.reached(s) for s in scores])
        return [Estimate(None, s.known >= self.mastery_p, s.known, s.correct_next) for s in steps]
