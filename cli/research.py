"""Research commands (`ledger replay`, `ledger models ...`, `ledger export`), registered on the main app.

They read the official read models and never write to them."""

from __future__ import annotations

from contextlib import contextmanager
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Optional

import typer

from cli.context import open_projections, settings, when
from cli.output import emit_json, fail, progress_bar

JsonOption = typer.Option(False, "--json", help="Print JSON instead of text.")
ParamOption = typer.Option(None, "--param", "-p", help="Model parameter name=value (repeatable).")
AsOfOption = typer.Option(None, "--as-of", help="Only evidence demonstrated by this date.")
KnownAtOption = typer.Option(None, "--known-at", help="Only what the ledger knew on this date.")

models_app = typer.Typer(help="Mastery models for research: list, compare, evaluate.", no_args_is_help=True)


@contextmanager
def _reading(as_of: Optional[str], known_at: Optional[str], as_json: bool, count):
    """The projections, read-only: (connection, where they stand, the moments asked for, and
    `count(con, **moments)` for a progress total; none counted is a one-line refusal)."""
    from projections import official

    moments = {"as_of": when(as_of, "--as-of", as_json), "known_at": when(known_at, "--known-at", as_json)}
    con = open_projections(as_json)
    try:
        source = {"projections": str(settings().projections), "position": official.position(con),
                  "as_of": as_of, "known_at": known_at}
        total = count(con, **moments)
        if not total:
            fail("no counted evidence to replay; post evidence and run `ledger project` first", as_json=as_json)
        yield con, source, moments, total
    finally:
        con.close()


def _params(pairs: Optional[list[str]], as_json: bool) -> dict[str, Any]:
    from research.models import ModelError, parse_params

    try:
        return parse_params(pairs or [])
    except ModelError as error:
        fail(str(error), as_json=as_json)


def _run(work, as_json: bool):
    """Run model work, turning a model's failure into a one-line error."""
    from research.models import ModelError

    try:
        return work()
    except ModelError as error:
        fail(str(error), as_json=as_json)


def replay(
    model: str = typer.Option(..., "--model", "-m", help="Built-in name, package.module:Class or file.py:Class."),
    param: Optional[list[str]] = ParamOption,
    as_of: Optional[str] = AsOfOption,
    known_at: Optional[str] = KnownAtOption,
    out: Optional[Path] = typer.Option(None, "--out", help="Parquet file (default: LEDGER_HOME/research/...)."),
    as_json: bool = JsonOption,
) -> None:
    """Replay the whole evidence history into a model; its trajectories go to Parquet, never
    to the official tables."""
    from projections.export import write_replay
    from projections.queries import counted_pairs
    from research.models import in_effect
    from research.replay import OFFICIAL, iter_histories, needs_items, replay as run_replay

    params = _params(param, as_json)
    if model != OFFICIAL:
        _run(lambda: in_effect(model, params), as_json)  # refuse a bad name or parameter before reading anything
    # One competency's histories at a time, straight from DuckDB: a 10M-event district's
    # history loaded whole took 9 GB.
    with _reading(as_of, known_at, as_json, counted_pairs) as (con, source, moments, total):
        with progress_bar(f"replaying {model}", total, enabled=not as_json) as bar:
            from cli.privacy import erased_learners, without_learners

            erased = erased_learners()
            result = _run(lambda: run_replay(without_learners(iter_histories(
                con, **moments, items=needs_items(model, params)), erased), model, params,
                                             progress=bar.update, total=total), as_json)
    if out is None:
        stamp = datetime.now(timezone.utc).strftime("%Y%m%dT%H%M%SZ")
        safe = "".join(ch if ch.isalnum() or ch in "-_" else "_" for ch in model)
        out = settings().home / "research" / f"replay-{safe}-{stamp}.parquet"
    write_replay(result, out, source)
    mastered = result.mastered()
    summary = {"ok": True, "model": model, "params": result.params, "out": str(out), "rows": result.table.num_rows,
               "learners": result.learners, "learner_competencies": result.pairs, "mastered": mastered,
               "fitted": result.fitted, **source}
    if as_json:
        emit_json(summary)
        return
    typer.echo(f"replayed {result.table.num_rows} pieces of evidence for {result.learners} learners into {model}: "
               f"{mastered} of {result.pairs} learner-competencies mastered")
    typer.echo(f"wrote {out}")


@models_app.command("list")
def models_list(as_json: bool = JsonOption) -> None:
    """The built-in models and how to name your own."""
    from research.models import BUILT_IN
    from research.replay import OFFICIAL

    rows = {OFFICIAL: "each competency's own official method and parameters", **BUILT_IN}
    if as_json:
        emit_json([{"name": k, "description": v} for k, v in rows.items()])
        return
    for name, description in rows.items():
        typer.echo(f"{name:<20} {description}")
    typer.echo("\nYour own: --model package.module:Class or --model path/to/file.py:Class "
               "(a class with estimates(scores, scale); optional fit, prior, fitted).")


@models_app.command("compare")
def models_compare(
    a: str = typer.Argument(..., help="First model."),
    b: str = typer.Argument(..., help="Second model."),
    param_a: Optional[list[str]] = typer.Option(None, "--param-a", help="Parameter of A, name=value."),
    param_b: Optional[list[str]] = typer.Option(None, "--param-b", help="Parameter of B, name=value."),
    as_of: Optional[str] = AsOfOption,
    known_at: Optional[str] = KnownAtOption,
    examples: int = typer.Option(3, "--examples", min=0, help="Examples of differences per competency."),
    as_json: bool = JsonOption,
) -> None:
    """How many learners' mastery decisions differ between two models, per competency and overall."""
    from projections.queries import counted_pairs
    from research.replay import compare, iter_histories, needs_items, replay as run_replay

    from research.models import in_effect
    from research.replay import OFFICIAL

    pa_, pb_ = _params(param_a, as_json), _params(param_b, as_json)
    for name, params in ((a, pa_), (b, pb_)):
        if name != OFFICIAL:
            _run(lambda: in_effect(name, params), as_json)
    from cli.privacy import erased_learners, without_learners

    erased = erased_learners()  # compared (and fitted) without the erased learners, as replay does
    with _reading(as_of, known_at, as_json, counted_pairs) as (con, source, moments, total):
        with progress_bar(f"replaying {a} and {b}", 2 * total, enabled=not as_json) as bar:
            ra = _run(lambda: run_replay(without_learners(iter_histories(
                con, **moments, items=needs_items(a, pa_)), erased), a, pa_,
                                         progress=bar.update, total=total), as_json)
            rb = _run(lambda: run_replay(without_learners(iter_histories(
                con, **moments, items=needs_items(b, pb_)), erased), b, pb_,
                                         progress=lambda d, t: bar.update(total + d), total=total), as_json)
    overall, per = compare(ra, rb, examples=examples)
    if as_json:
        emit_json({"a": {"model": a, "params": pa_}, "b": {"model": b, "params": pb_}, **source,
                   "overall": overall.as_dict(), "competencies": [d.as_dict() for d in per]})
        return
    share = 100.0 * overall.differ / overall.pairs if overall.pairs else 0.0
    typer.echo(f"A = {a}, B = {b}: {overall.differ} of {overall.pairs} learner-competency decisions differ "
               f"({share:.1f}%); mastered only by A {overall.only_a}, only by B {overall.only_b}")
    typer.echo(f"  {'competency':<14} {'pairs':>6} {'differ':>7} {'only A':>7} {'only B':>7}")
    for d in per:
        typer.echo(f"  {d.competency_id:<14} {d.pairs:>6} {d.differ:>7} {d.only_a:>7} {d.only_b:>7}")
    if overall.examples:
        typer.echo("  for example:")
    for d in per:
        for e in d.examples:
            typer.echo(f"    {e['learner_id']} {e['competency_id']}: A {_decision(e['a'])}, B {_decision(e['b'])}")


def _decision(side: dict[str, Any]) -> str:
    value = (f"level {side['level']:.2f}" if side["level"] is not None
             else f"p {side['p_mastery']:.2f}" if side["p_mastery"] is not None else "")
    return f"{'mastered' if side['mastered'] else 'not yet'} ({value})"


@models_app.command("evaluate")
def models_evaluate(
    models: list[str] = typer.Argument(..., help="Models to score; give parameters as name?k=v&k=v or with --param "
                                                 "(applies to every model)."),
    param: Optional[list[str]] = ParamOption,
    folds: int = typer.Option(5, "--folds", min=1, help="Learner-grouped folds, balanced by answers "
                                                         "(1 = fit and score on the same learners)."),
    seed: int = typer.Option(0, "--seed", help="Orders equally sized learners before folding."),
    as_of: Optional[str] = AsOfOption,
    known_at: Optional[str] = KnownAtOption,
    per_fold: bool = typer.Option(False, "--per-fold", help="Also print every fold's scores."),
    per_competency: bool = typer.Option(False, "--per-competency", help="Also print every competency's scores."),
    as_json: bool = JsonOption,
) -> None:
    """Predict every answer from the answers before it: per-fold AUC, RMSE, log loss and
    accuracy as mean ± std (the figure papers report), the pooled figure beside it."""
    from projections.queries import counted_competencies
    from research.models import in_effect
    from research.protocol import answers_per_learner, assign_folds, evaluate
    from research.replay import OFFICIAL, iter_histories, needs_items

    shared = _params(param, as_json)
    specs = [_split_spec(m, shared, as_json) for m in models]
    for name, params in specs:
        if name != OFFICIAL:
            _run(lambda: in_effect(name, params), as_json)  # a bad name or parameter fails before any work
    from cli.privacy import erased_learners, without_learners

    erased = erased_learners()  # scored (and fitted) without the erased learners, as replay does
    results = []
    # Each model reads the histories again, one competency at a time: all of a 10M-event
    # district's at once took 9 GB.
    with _reading(as_of, known_at, as_json, counted_competencies) as (con, source, moments, total):
        try:
            fold_of = assign_folds(answers_per_learner(con, **moments), folds, seed)
        except ValueError as error:
            fail(str(error), as_json=as_json)
        with progress_bar("evaluating", len(specs) * total, enabled=not as_json) as bar:
            for i, (name, params) in enumerate(specs):
                results.append((name, params, _run(lambda: evaluate(
                    without_learners(iter_histories(con, **moments, items=needs_items(name, params)), erased), name, params, fold_of, folds=folds, seed=seed, total=total,
                    progress=lambda d, t: bar.update(i * total + d)), as_json)))
    ranked = sorted(results, key=lambda r: (r[2].summary["logloss"][0] is None, r[2].summary["logloss"][0] or 0.0))
    if as_json:
        emit_json({**source, "folds": folds, "seed": seed, "models": [
            {**ev.as_dict(per_fold), "params": params} for name, params, ev in ranked]})
        return
    typer.echo(f"folds={folds} seed={seed}: mean ± std over folds (comparable with papers); pooled = all folds' "
               "predictions scored at once; best mean log loss first")
    typer.echo(f"{'model':<24} {'n':>7} {'AUC':>15} {'RMSE':>15} {'logloss':>15} {'accuracy':>15} "
               f"{'pooled AUC':>10} {'pooled RMSE':>11}")
    for name, params, ev in ranked:
        summary = ev.summary
        typer.echo(f"{_label(name, params):<24} {ev.pooled.n:>7} "
                   + " ".join(f"{_pm(*summary[m]):>15}" for m in ("auc", "rmse", "logloss", "accuracy"))
                   + f" {_num(ev.pooled.auc):>10} {_num(ev.pooled.rmse):>11}")
        if per_fold:
            for k, scores in enumerate(ev.per_fold, 1):
                typer.echo(f"  fold {k:<19} {_row(scores)}")
        if per_competency:
            for competency, scores in ev.per_competency.items():
                typer.echo(f"  {competency:<24} {_row(scores)}")
        for warning in ev.warnings:
            typer.echo(f"warning: {warning}", err=True)


def _num(value) -> str:
    return format(value, ".4f") if value is not None else "—"


def _pm(mean, std) -> str:
    return f"{mean:.4f}±{std:.4f}" if mean is not None else "—"


def _split_spec(spec: str, shared: dict[str, Any], as_json: bool) -> tuple[str, dict[str, Any]]:
    """`bkt?prior=0.2&learn=0.1` gives one model its own parameters on the command line."""
    name, _, query = spec.partition("?")
    return name, {**shared, **_params([p for p in query.split("&") if p], as_json)}


def _label(name: str, params: dict[str, Any]) -> str:
    return name + (" " + ",".join(f"{k}={v}" for k, v in params.items()) if params else "")


def _row(scores) -> str:
    return (f"{scores.n:>7} " + " ".join(f"{_num(getattr(scores, m)):>15}" for m in ("auc", "rmse", "logloss", "accuracy")))


def export(
    parquet: Path = typer.Option(..., "--parquet", help="Directory for one Parquet file per table."),
    aggregates_only: bool = typer.Option(False, "--aggregates-only", help="Only per-competency counts and "
                                         "means over every learner (the erased too), no learner rows."),
    as_json: bool = JsonOption,
) -> None:
    """The evidence history and the official states as Parquet (pandas, polars, R, Spark);
    erased learners are left out, except from --aggregates-only figures."""
    from projections.export import export_parquet
    from projections.research_aggregates import export_aggregates

    from cli.privacy import disclose_from_projections, erased_learners
    from ledger.disclosures import ALL_LEARNERS

    if not aggregates_only:  # every learner's record at once: one entry for all (`*`), listed with each
        disclose_from_projections(ALL_LEARNERS)
    con = open_projections(as_json)
    try:
        written = export_aggregates(con, parquet) if aggregates_only else \
            export_parquet(con, parquet, leave_out=erased_learners())
    finally:
        con.close()
    if as_json:
        emit_json({"ok": True, "directory": str(parquet), "tables": written})
        return
    for table, rows in written.items():
        typer.echo(f"{parquet / (table + '.parquet')}: {rows} rows")


def register(app: typer.Typer) -> None:
    """Add the research commands to `app`."""
    app.command()(replay)
    app.command()(export)
    app.add_typer(models_app, name="models")
