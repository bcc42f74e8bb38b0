"""Bayesian Knowledge Tracing (Corbett & Anderson 1995): a two-state hidden Markov model of
"not yet known" / "known", observed through right/wrong answers with guess and slip.

`fit` is Baum-Welch (EM) over all learners' sequences for one skill at once, vectorised over
sequences so a district's history fits in seconds. Its update rules are the ones pyBKT uses,
so fitted parameters can be checked against that reference implementation.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace

import numpy as np

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


def trace(p: BKTParams, answers: Sequence[bool]) -> tuple[float, list[Step]]:
    """The prediction before any answer, and the belief after each answer."""
    known = p.prior
    first = known * (1 - p.slip) + (1 - known) * p.guess
    steps = []
    for right in answers:
        if right:
            seen_known, seen_unknown = known * (1 - p.slip), (1 - known) * p.guess
        else:
            seen_known, seen_unknown = known * p.slip, (1 - known) * (1 - p.guess)
        posterior = seen_known / max(seen_known + seen_unknown, _EPS)
        known = posterior * (1 - p.forget) + (1 - posterior) * p.learn
        steps.append(Step(known, known * (1 - p.slip) + (1 - known) * p.guess))
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
