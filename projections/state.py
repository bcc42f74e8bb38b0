"""One competency's state from its evidence: shared by the maintained table and the
as-of / known-at queries, so both always agree."""

from __future__ import annotations

import json
from collections.abc import Sequence
from functools import lru_cache
from typing import Any

import duckdb

from projections.methods import mastered_since, trajectory


def methods_by_competency(con: duckdb.DuckDBPyConnection) -> dict[str, tuple[str, str, float]]:
    """competency id -> (method name, params JSON, mastery threshold)."""
    return {c: (m.lstrip("~"), p, t) for c, m, p, t in con.execute(
        "SELECT competency_id, method, params, threshold FROM competency").fetchall()}


@lru_cache(maxsize=1024)
def _method(name: str, params: str) -> dict[str, Any]:
    # A few methods serve millions of states: parse each one's parameters once.
    return {"name": name, "params": json.loads(params)}


def competency_state(method: tuple[str, str, float], evidence: Sequence[tuple[float, Any]]) -> dict[str, Any]:
    """`evidence`: (score, demonstrated_at) in demonstration order, voided ones left out."""
    name, params, threshold = method
    estimates = trajectory(_method(name, params), [s for s, _ in evidence], threshold)
    since = mastered_since(estimates)
    return {"level": estimates[-1].level, "mastered": estimates[-1].mastered, "method": name, "params": params,
            "evidence_count": len(evidence), "first_demonstrated": evidence[0][1],
            "last_demonstrated": evidence[-1][1], "mastered_since": evidence[since][1] if since is not None else None}
