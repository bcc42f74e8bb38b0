"""Research replays: the counted evidence history run through any mastery model, kept apart
from the official tables, compared between models and scored on how well it predicts.

The history comes from the official read models (voids applied, both time axes), read-only:
nothing here writes to the official DuckDB file.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any

import duckdb
import pyarrow as pa

from projections.methods import Estimate
from research.models import (MethodModel, ModelError, Scale, build, fit_model, fitted_params, in_effect,
                            next_probability, reads_items)
from research.items import history_batches

# A model named "official" uses each competency's own official method and parameters.
OFFICIAL = "official"

Progress = Callable[[int, int], None]


@dataclass
class History:
    learner_id: str
    event_ids: list[str] = field(default_factory=list)
    scores: list[float] = field(default_factory=list)
    demonstrated: list[datetime] = field(default_factory=list)
    items: list[str | None] = field(default_factory=list)  # filled only by an item-aware read


@dataclass
class Competency:
    competency_id: str
    scale: Scale
    method: str
    params: dict[str, Any]
    histories: list[History]


def iter_histories(con: duckdb.DuckDBPyConnection, *, as_of: date | datetime | None = None,
                   known_at: date | datetime | None = None, rows: int = 100_000,
                   items: bool = False) -> Iterator[Competency]:
    """Every learner's counted evidence per competency, in demonstration order, one competency
    at a time, read from DuckDB in batches: only one competency's histories are Python objects
    at once (all of a 10M-event district's were 9 GB). Keep the connection open until done.
    `items`: also each answer's item, for models that read it (`reads_items`)."""
    scales = {c: (Scale(lo, hi, t), m.lstrip("~"), json.loads(p or "{}")) for c, lo, hi, t, m, p in con.execute(
        "SELECT competency_id, scale_min, scale_max, threshold, method, params FROM competency").fetchall()}
    current: str | None = None
    histories: dict[str, History] = {}
    for batch in history_batches(con, as_of=as_of, known_at=known_at, rows=rows, items=items):
        columns = [batch.column(i).to_pylist() for i in range(5)]
        answered = batch.column(5).to_pylist() if items else None
        for row, (learner, competency, event_id, score, at) in enumerate(zip(*columns)):
            if competency != current:
                if current in scales and histories:
                    yield Competency(current, *scales[current], list(histories.values()))
                current, histories = competency, {}
            history = histories.get(learner)
            if history is None:
                history = histories[learner] = History(learner)
            history.event_ids.append(event_id)
            history.scores.append(score)
            history.demonstrated.append(at)
            if answered is not None:
                history.items.append(answered[row])
    if current in scales and histories:
        yield Competency(current, *scales[current], list(histories.values()))


def needs_items(name: str, params: dict[str, Any]) -> bool:
    """Whether the model named so needs the item-aware history read (`iter_histories(items=True)`)."""
    return name != OFFICIAL and reads_items(build(name, params))


def _model_for(name: str, params: dict[str, Any], competency: Competency) -> Any:
    if name == OFFICIAL:
        return MethodModel(competency.method, **competency.params)
    return build(name, params)


def _estimates(model: Any, name: str, competency: Competency, history: History) -> list[Estimate]:
    try:
        out = list(model.estimates_for(history, competency.scale) if reads_items(model)
                   else model.estimates(history.scores, competency.scale))
    except ModelError:
        raise
    except Exception as error:  # a researcher's model can fail in any way; say where
        raise ModelError(f"model {name} failed on learner {history.learner_id}, competency "
                         f"{competency.competency_id}: {type(error).__name__}: {error}") from None
    if len(out) != len(history.scores):
        raise ModelError(f"model {name} gave {len(out)} estimates for {len(history.scores)} pieces of evidence "
                         f"(learner {history.learner_id}, competency {competency.competency_id})")
    return out


def _fitted_model(name: str, params: dict[str, Any], competency: Competency,
                  histories: Sequence[History] | None = None) -> Any:
    model = _model_for(name, params, competency)
    chosen = competency.histories if histories is None else histories
    try:
        if reads_items(model):  # learner and item matter to it, not only the scores
            model.fit_answers(chosen, competency.scale)
        else:
            fit_model(model, [h.scores for h in chosen], competency.scale)
    except ModelError:
        raise
    except Exception as error:
        raise ModelError(f"model {name} failed to fit competency {competency.competency_id}: "
                         f"{type(error).__name__}: {error}") from None
    return model


# --- replay ---------------------------------------------------------------------------------


REPLAY_SCHEMA = pa.schema([
    ("model", pa.string()), ("learner_id", pa.string()), ("competency_id", pa.string()),
    ("event_id", pa.string()), ("step", pa.int32()), ("demonstrated_at", pa.timestamp("us", tz="UTC")),
    ("score", pa.float64()), ("level", pa.float64()), ("p_mastery", pa.float64()), ("p_next", pa.float64()),
    ("mastered", pa.bool_()),
])


FINAL_SCHEMA = pa.schema([("learner_id", pa.string()), ("competency_id", pa.string()), ("mastered", pa.bool_()),
                          ("level", pa.float64()), ("p_mastery", pa.float64())])


@dataclass
class Replay:
    model: str
    params: dict[str, Any]
    table: pa.Table
    fitted: dict[str, dict[str, Any]]
    learners: int
    pairs: int
    last: pa.Table  # FINAL_SCHEMA: each pair's row after its last evidence

    def final(self) -> dict[tuple[str, str], tuple[bool, float | None, float | None]]:
        """(learner, competency) -> (mastered, level, p_mastery) after the last evidence."""
        cols = self.last.to_pydict()
        return {(learner, competency): (mastered, level, p) for learner, competency, mastered, level, p in zip(
            cols["learner_id"], cols["competency_id"], cols["mastered"], cols["level"], cols["p_mastery"])}

    def mastered(self) -> int:
        """How many pairs end mastered."""
        return self.last.column("mastered").to_pylist().count(True)

    def metadata(self, source: dict[str, Any]) -> dict[bytes, bytes]:
        return {b"mastery_ledger.replay": json.dumps(
            {"model": self.model, "params": self.params, "fitted": self.fitted, **source}, default=str).encode()}


def replay(competencies: Iterable[Competency], name: str, params: dict[str, Any], *,
           progress: Progress | None = None, total: int | None = None) -> Replay:
    """Every learner's trajectory under the model: one row per piece of counted evidence.
    `competencies` may be an iterator (`iter_histories`); `total` (pairs) is then for progress."""
    # One Arrow table per competency: Python lists of every row at once took ~1 KB a piece of
    # evidence (10 GB for a 10M-event district), Arrow about a tenth of that.
    parts: list[pa.Table] = []
    lasts: list[pa.Table] = []
    fitted: dict[str, dict[str, Any]] = {}
    done, learners = 0, set()
    for competency in competencies:
        columns: dict[str, list[Any]] = {f.name: [] for f in REPLAY_SCHEMA}
        last: dict[str, list[Any]] = {f.name: [] for f in FINAL_SCHEMA}
        model = _fitted_model(name, params, competency)
        fitted[competency.competency_id] = fitted_params(model)
        for history in competency.histories:
            estimates = _estimates(model, name, competency, history)
            n = len(estimates)
            learners.add(history.learner_id)
            columns["model"] += [name] * n
            columns["learner_id"] += [history.learner_id] * n
            columns["competency_id"] += [competency.competency_id] * n
            columns["event_id"] += history.event_ids
            columns["step"] += range(1, n + 1)
            columns["demonstrated_at"] += history.demonstrated
            columns["score"] += history.scores
            columns["level"] += [e.level for e in estimates]
            columns["p_mastery"] += [e.p_mastery for e in estimates]
            columns["p_next"] += [next_probability(e, competency.scale) for e in estimates]
            columns["mastered"] += [bool(e.mastered) for e in estimates]
            if n:
                for column, value in zip(("learner_id", "competency_id", "mastered", "level", "p_mastery"),
                                         (history.learner_id, competency.competency_id, bool(estimates[-1].mastered),
                                          estimates[-1].level, estimates[-1].p_mastery)):
                    last[column].append(value)
            done += 1
            if progress is not None and done % 500 == 0:
                progress(done, total if total is not None else done)
        parts.append(pa.table(columns, schema=REPLAY_SCHEMA))
        lasts.append(pa.table(last, schema=FINAL_SCHEMA))
    if progress is not None:
        progress(done, total if total is not None else done)
    table = pa.concat_tables(parts) if parts else REPLAY_SCHEMA.empty_table()
    last_table = pa.concat_tables(lasts) if lasts else FINAL_SCHEMA.empty_table()
    # What took effect (defaults, coerced flags), not what was typed, goes into the metadata.
    settings = dict(params) if name == OFFICIAL else in_effect(name, params)
    return Replay(name, settings, table, fitted, len(learners), done, last_table)


# --- compare --------------------------------------------------------------------------------


@dataclass
class Difference:
    competency_id: str
    pairs: int = 0
    differ: int = 0
    only_a: int = 0
    only_b: int = 0
    examples: list[dict[str, Any]] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        return {"competency_id": self.competency_id, "pairs": self.pairs, "differ": self.differ,
                "mastered_only_by_a": self.only_a, "mastered_only_by_b": self.only_b, "examples": self.examples}


def compare(a: Replay, b: Replay, *, examples: int = 3) -> tuple[Difference, list[Difference]]:
    """Where the two models' final mastery decisions differ, overall and per competency."""
    final_a, final_b = a.final(), b.final()
    overall = Difference("*")
    per: dict[str, Difference] = {}
    for key in sorted(final_a.keys() | final_b.keys()):
        learner, competency = key
        (mastered_a, level_a, p_a), (mastered_b, level_b, p_b) = (
            final_a.get(key, (False, None, None)), final_b.get(key, (False, None, None)))
        row = per.setdefault(competency, Difference(competency))
        for d in (overall, row):
            d.pairs += 1
            if mastered_a != mastered_b:
                d.differ += 1
                d.only_a += mastered_a
                d.only_b += mastered_b
                if len(d.examples) < examples:
                    d.examples.append({"learner_id": learner, "competency_id": competency,
                                       "a": {"mastered": mastered_a, "level": level_a, "p_mastery": p_a},
                                       "b": {"mastered": mastered_b, "level": level_b, "p_mastery": p_b}})
    return overall, [per[c] for c in sorted(per)]
