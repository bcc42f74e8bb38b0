"""Mastery methods: how a sequence of scores on one competency becomes a level and a decision.

A method is named data (`{"name": "decaying_average", "params": {"weight": 0.65}}`) chosen per
competency or course. Each sees one learner's evidence for one competency in demonstration
order and gives its estimate after every piece, so the official projection and research
replays share one implementation.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

DEFAULT_METHOD = {"name": "decaying_average", "params": {"weight": 0.65}}


@dataclass(frozen=True)
class Estimate:
    """A model's belief after one piece of evidence.

    `level` is on the competency's scale; `p_mastery` is a probability of mastery for models
    that have one; `p_next` is the probability that the next piece of evidence reaches the
    mastery threshold (used to evaluate models), or None to derive it from the level."""

    level: float | None
    mastered: bool
    p_mastery: float | None = None
    p_next: float | None = None


Method = Callable[[Sequence[float], dict[str, Any], float], list[Estimate]]


class MethodError(ValueError):
    pass


def _param(params: dict[str, Any], name: str, default: float, low: float, high: float) -> float:
    value = params.get(name, default)
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not low <= value <= high:
        raise MethodError(f"parameter {name}={value!r} must be a number in [{low}, {high}]")
    return float(value)


def decaying_average(scores: Sequence[float], params: dict[str, Any], threshold: float) -> list[Estimate]:
    """Each new score counts `weight`, the running level the rest (PowerSchool / Marzano style)."""
    weight = _param(params, "weight", 0.65, 0.0, 1.0)
    out, level = [], None
    for score in scores:
        level = score if level is None else weight * score + (1 - weight) * level
        out.append(Estimate(level, level >= threshold))
    return out


def most_recent(scores: Sequence[float], params: dict[str, Any], threshold: float) -> list[Estimate]:
    return [Estimate(s, s >= threshold) for s in scores]


def highest(scores: Sequence[float], params: dict[str, Any], threshold: float) -> list[Estimate]:
    out, best = [], float("-inf")
    for score in scores:
        best = max(best, score)
        out.append(Estimate(best, best >= threshold))
    return out


def mean(scores: Sequence[float], params: dict[str, Any], threshold: float) -> list[Estimate]:
    out, total = [], 0.0
    for n, score in enumerate(scores, 1):
        total += score
        out.append(Estimate(total / n, total / n >= threshold))
    return out


def n_times_at_mastery(scores: Sequence[float], params: dict[str, Any], threshold: float) -> list[Estimate]:
    """Mastered once `n` pieces of evidence reach the threshold; the level is the latest score."""
    n = int(_param(params, "n", 2, 1, 100))
    out, hits = [], 0
    for score in scores:
        hits += score >= threshold
        out.append(Estimate(score, hits >= n))
    return out


def power_law(scores: Sequence[float], params: dict[str, Any], threshold: float) -> list[Estimate]:
    """Marzano's power law: fit score = a * n^b to the evidence so far (least squares on
    log-log, scores shifted to start at 1) and read the curve at the latest piece."""
    floor = _param(params, "floor", 1.0, -1e9, 1e9)  # the scale's minimum, so the shift keeps logs finite
    out, xs, ys = [], [], []
    for n, score in enumerate(scores, 1):
        xs.append(math.log(n))
        ys.append(math.log(max(score - floor, 0.0) + 1.0))
        if n == 1:
            level = score
        else:
            mx, my = sum(xs) / n, sum(ys) / n
            sxx = sum((x - mx) ** 2 for x in xs)
            slope = sum((x - mx) * (y - my) for x, y in zip(xs, ys)) / sxx
            level = math.exp(my + slope * (xs[-1] - mx)) - 1.0 + floor
        out.append(Estimate(level, level >= threshold))
    return out


METHODS: dict[str, Method] = {
    "decaying_average": decaying_average,
    "most_recent": most_recent,
    "highest": highest,
    "mean": mean,
    "n_times_at_mastery": n_times_at_mastery,
    "power_law": power_law,
}


def trajectory(method: dict[str, Any], scores: Sequence[float], threshold: float) -> list[Estimate]:
    """The estimate after each of `scores` (in demonstration order)."""
    try:
        fn = METHODS[method["name"]]
    except KeyError:
        raise MethodError(f"unknown mastery method {method['name']!r}; known: {', '.join(sorted(METHODS))}") from None
    return fn(scores, method.get("params") or {}, threshold)


def mastered_since(estimates: Sequence[Estimate]) -> int | None:
    """Index of the evidence from which the learner has been at mastery without a break."""
    if not estimates or not estimates[-1].mastered:
        return None
    i = len(estimates) - 1
    while i > 0 and estimates[i - 1].mastered:
        i -= 1
    return i
