"""The `ledger` command: a thin shell over the ledger's services."""

from __future__ import annotations

import gc
import logging
import os
import sqlite3
import sys
import time
from pathlib import Path
from typing import Optional

import typer
from eventsourcing.persistence import PersistenceError

from cli.output import emit_json, fail, progress_bar
from ledger.application import Ledger
from ledger.config import ConfigError, Settings
from ledger.services import post_lines

app = typer.Typer(
    help="The mastery ledger: immutable competency evidence, replayed into mastery and credit.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)

JsonOption = typer.Option(False, "--json", help="Print JSON instead of text.")


@app.callback()
def _global(
    ctx: typer.Context,
    home: Optional[Path] = typer.Option(None, "--home", help="Ledger folder (overrides LEDGER_HOME)."),
    purpose: Optional[str] = typer.Option(None, "--purpose", help="Why you read a learner's record, for the "
                                          "record of disclosures (or LEDGER_PURPOSE)."),
) -> None:
    if home is not None:
        os.environ["LEDGER_HOME"] = str(home)
    from cli.privacy import name_cli_reader

    name_cli_reader(ctx.invoked_subcommand, purpose)


from cli.context import open_ledger as _open  # noqa: E402
from cli.context import open_projections
from cli.context import when as _when
from cli.context import settings as _settings
from cli.context import log_to_stderr


@app.command()
def init(as_json: bool = JsonOption) -> None:
    """Create the store (and, when Kafka is configured, its topics)."""
    settings = _settings()
    ledger = Ledger(settings)
    result = {"ok": True, "store": settings.shown_store, "head_position": ledger.head_position()}
    if settings.kafka_bootstrap:
        from consumers.topics import Names, ensure_topics

        result["topics"] = _kafka(lambda: ensure_topics(settings.kafka_bootstrap, Names.from_env()), settings, as_json)
    if as_json:
        emit_json(result)
    else:
        typer.echo(f"ledger ready at {settings.shown_store} (head position {result['head_position']})")
        for name, count in result.get("topics", {}).items():
            typer.echo(f"topic {name}: {count} partitions on {settings.kafka_bootstrap}")


@app.command()
def post(
    file: str = typer.Argument(..., help="A JSON Lines file of events, or - for standard input."),
    as_json: bool = JsonOption,
) -> None:
    """Record events from JSON Lines; every valid line is kept even when others are rejected."""
    # Read as bytes and split on line ends only: a line that is not UTF-8 is that line's problem
    # (rejected by number, with its byte offset), not the file's.
    if file == "-":
        lines = sys.stdin.buffer.read().splitlines()
    else:
        path = Path(file)
        if not path.is_file():
            fail(f"{file}: no such file", as_json=as_json)
        try:
            lines = path.read_bytes().splitlines()
        except OSError as error:
            fail(f"{file}: cannot read it: {error.strerror or error}", as_json=as_json)
    ledger = _open(must_exist=False)
    with progress_bar("posting", len(lines), enabled=not as_json) as bar:
        report = post_lines(ledger, enumerate(lines, 1), on_outcome=bar.advance)
    if as_json:
        emit_json({"ok": report.rejected == 0, **report.as_dict()})
    else:
        for r in report.rejections:  # one line per rejected line, naming every problem it has
            typer.echo(f"line {r['line']}: {r['message']}", err=True)
        typer.echo(f"accepted {report.accepted}, duplicate {report.duplicate}, rejected {report.rejected}")
    if report.rejected:
        raise typer.Exit(1)


@app.command()
def events(learner: str, as_json: bool = JsonOption) -> None:
    """A learner's events, in the order the ledger recorded them."""
    found = _open(as_json=as_json).learner_events(learner)
    if not found:
        fail(f"no events for learner {learner!r}", as_json=as_json)
    if as_json:
        emit_json([{"version": e.position, "hash": e.hash, **e.event} for e in found])
        return
    for e in found:
        ev = e.event
        # The chain hash shortened as git shortens commits: enough to compare by eye (--json has it whole).
        typer.echo(f"{e.position:>5}  {ev['demonstrated_at'][:19]}  {ev['type']:<24} {ev['event_id']}  "
                   f"{e.hash[:12]}  {_summary(ev)}")


def _summary(event: dict) -> str:
    p = event["payload"]
    for key in ("competency_id", "voided_event_id", "subject_event_id", "plan_id", "course_id", "advisor_id"):
        if key in p:
            extra = f" score={p['score']}" if "score" in p else ""
            return f"{key}={p[key]}{extra}"
    if "levels" in p:
        return "levels=" + ",".join(f"{k}:{v}" for k, v in p["levels"].items())
    return ""


# verify (chains, receipts, the Merkle tree against signed checkpoints, credits), checkpoint, verify-proof
from cli import integrity  # noqa: E402

verify = app.command()(integrity.verify)
app.command()(integrity.checkpoint)
app.command("verify-proof")(integrity.verify_proof)


@app.command()
def demo(
    seed: int = typer.Option(7, help="Random seed; the same seed makes the same district."),
    learners: int = typer.Option(400, min=1, help="How many learners."),
    schools: int = typer.Option(3, min=1, help="How many schools."),
    as_json: bool = JsonOption,
) -> None:
    """Generate a district's school year, post it through `ledger post`'s path, and summarise."""
    from ledger.demo import generate

    settings = _settings()
    started = time.perf_counter()
    district = generate(seed=seed, learners=learners, schools=schools)
    ledger = Ledger(settings)
    with progress_bar("posting the district", len(district.lines), enabled=not as_json) as bar:
        report = post_lines(ledger, enumerate(district.lines, 1), on_outcome=bar.advance)
    from consumers.projector import run_projections

    with progress_bar("projecting", ledger.head_position(), enabled=not as_json) as bar:
        projected = run_projections(ledger, settings.projections,
                                    progress=lambda done, total: bar.update(done, total))
    from consumers.demo_credits import award_and_audit

    credits = award_and_audit(ledger, settings.projections, settings.home / "audits")
    elapsed = time.perf_counter() - started
    check = ledger.verify()
    summary = {
        "ok": report.rejected == 0 and check.ok,
        "store": settings.shown_store,
        "schools": len(district.schools),
        "learners": len(district.learners),
        "courses": len(district.courses),
        "competencies": len(district.competencies),
        "lines_posted": report.total,
        **{k: v for k, v in report.as_dict().items() if k != "rejections"},
        "voids": district.voids,
        "seconds": round(elapsed, 2),
        "chains_verified": check.ok,
        "projected_events": projected.events,
        "credits": credits,
        "projections": str(settings.projections),
        "sample_learners": _samples(settings, district.learners[:3]),
    }
    if as_json:
        emit_json(summary)
    else:
        typer.echo(
            f"District (seed {seed}): {summary['schools']} schools, {summary['learners']} learners, "
            f"{summary['courses']} courses over {summary['competencies']} competencies\n"
            f"Posted {report.total} lines in {elapsed:.1f}s: accepted {report.accepted}, "
            f"duplicate {report.duplicate} (connector retries and re-runs), rejected {report.rejected}; "
            f"{district.voids} results voided\n"
            f"Verified {check.events} events in {check.streams} hash chains: "
            f"{'intact' if check.ok else 'BROKEN'}\n"
            f"Store: {settings.shown_store}; projections: {settings.projections}"
        )
        for sample in summary["sample_learners"]:
            mastered = [c["competency_id"] for c in sample["competencies"] if c["mastered"]]
            typer.echo(f"  {sample['learner_id']}: {len(mastered)}/{len(sample['competencies'])} competencies "
                       f"mastered ({', '.join(mastered[:6])}{'…' if len(mastered) > 6 else ''})")
            for p in sample["plans"]:
                typer.echo(f"    plan {p['plan_id']}: {p['goals_mastered']}/{p['goals']} goals "
                           f"({p['percent']:.0f}%), target {p['target_date']}, pace {p['pace']}")
        typer.echo(f"Credits: {credits['proposed']} proposed by the credit engine, {credits['awarded']} approved "
                   f"by {'reg-district'}; evidence behind one award was then voided, so it is flagged for review")
        for report in credits["audits"]:
            typer.echo(f"  audit ({report['status']}): {report['path']}")
        first = district.learners[0]
        typer.echo(f"Try: ledger events {first} | ledger state {first} --as-of 2026-01-15 | ledger plan {first}")
        if credits["flagged"]:
            typer.echo(f"     ledger audit {' '.join(credits['flagged'])}")
    if not summary["ok"]:
        raise typer.Exit(1)


def _reader(settings: Settings, as_json: bool, follow: bool = False):
    """The store's notification log, or `ledger.events` when Kafka is configured."""
    if settings.kafka_bootstrap:
        from cli.context import open_kafka_reader

        return open_kafka_reader(settings, as_json, follow)
    return _open(as_json=as_json)


@app.command()
def project(
    follow: bool = typer.Option(False, "--follow", help="Keep following the log after catching up."),
    rebuild: bool = typer.Option(False, "--rebuild", help="Drop the read models and replay from position 0."),
    batch_size: int = typer.Option(20_000, "--batch-size", min=1, help="Events per DuckDB transaction."),
    as_json: bool = JsonOption,
) -> None:
    """Bring the DuckDB read models up to date with the log."""
    from consumers.projector import run_projections

    if follow:
        log_to_stderr(logging.INFO)
    settings = _settings()
    reader = _reader(settings, as_json, follow)
    with progress_bar("projecting", None if follow else reader.head_position(), enabled=not as_json) as bar:
        try:
            run = run_projections(reader, settings.projections, rebuild=rebuild, follow=follow,
                                  batch_size=batch_size, progress=lambda done, total: bar.update(done, total))
        except KeyboardInterrupt:
            fail("stopped; the projections hold every batch committed before the stop", as_json=as_json, code=130)
    result = {"ok": True, "projections": str(settings.projections), "events": run.events,
              "position": run.position, "seconds": round(run.seconds, 2)}
    if as_json:
        emit_json(result)
    else:
        rate = run.events / run.seconds if run.seconds else 0
        typer.echo(f"projected {run.events} events in {run.seconds:.1f}s ({rate:,.0f}/s); "
                   f"position {run.position}; {settings.projections}")


def _kafka(action, settings: Settings, as_json: bool):
    """Run a Kafka action, turning "no broker there" into a one-line reason."""
    from kafka.errors import KafkaError

    try:
        return action()
    except KafkaError as error:
        from cli.context import kafka_reason

        fail(kafka_reason(error, settings.kafka_bootstrap), as_json=as_json)


def _need_kafka(settings: Settings, command: str, as_json: bool) -> str:
    if not settings.kafka_bootstrap:
        fail(f"`ledger {command}` needs Kafka: set LEDGER_KAFKA_BOOTSTRAP (e.g. 127.0.0.1:9092)", as_json=as_json)
    return settings.kafka_bootstrap


@app.command()
def relay(
    follow: bool = typer.Option(False, "--follow", help="Keep relaying new events as they are recorded."),
    batch_size: int = typer.Option(2_000, "--batch-size", min=1, help="Events per Kafka transaction."),
    as_json: bool = JsonOption,
) -> None:
    """Publish the store's events to Kafka `ledger.events`, exactly once, in order per learner."""
    from consumers.relay import TopicMissing
    from consumers.relay import relay as run_relay
    from consumers.topics import Names

    settings = _settings()
    bootstrap = _need_kafka(settings, "relay", as_json)
    ledger = _open(as_json=as_json)
    if follow or not sys.stderr.isatty():
        log_to_stderr(logging.INFO)  # a line per batch where no progress bar shows it
    with progress_bar("relaying", ledger.head_position(), enabled=not as_json) as bar:
        try:
            run = _kafka(lambda: run_relay(ledger, bootstrap, Names.from_env(), follow=follow, batch_size=batch_size,
                                           progress=lambda done, total: bar.update(done, total)), settings, as_json)
        except TopicMissing as missing:
            fail(str(missing), as_json=as_json)
        except KeyboardInterrupt:
            fail("stopped; every committed transaction is in the topic, the rest will be relayed next time",
                 as_json=as_json, code=130)
    if as_json:
        emit_json({"ok": True, **vars(run)})
    else:
        typer.echo(f"relayed {run.events} events ({run.messages} messages, {run.transactions} transactions); "
                   f"position {run.position}")


@app.command()
def ingest(
    follow: bool = typer.Option(False, "--follow", help="Keep consuming; otherwise stop when caught up."),
    as_json: bool = JsonOption,
) -> None:
    """Record submissions from Kafka `evidence.submissions`; rejects go to `evidence.rejected`."""
    from consumers.ingest import ingest as run_ingest
    from consumers.topics import Names

    settings = _settings()
    bootstrap = _need_kafka(settings, "ingest", as_json)
    ledger = _open(must_exist=False)
    if follow or not sys.stderr.isatty():
        log_to_stderr(logging.INFO)  # a line per committed batch (offsets, outcomes, lag)
    try:
        run = _kafka(lambda: run_ingest(ledger, bootstrap, Names.from_env(), follow=follow), settings, as_json)
    except KeyboardInterrupt:
        fail("stopped; offsets were committed with each recorded batch", as_json=as_json, code=130)
    if as_json:
        emit_json({"ok": True, **vars(run)})
    else:
        typer.echo(f"ingested {run.messages} messages: accepted {run.accepted}, duplicate {run.duplicate}, "
                   f"rejected {run.rejected} (dead-lettered to evidence.rejected)")


@app.command()
def status(as_json: bool = JsonOption) -> None:
    """Store head, projection positions, and with Kafka the relay position and ingest lag."""
    from projections import official

    settings = _settings()
    ledger = _open(as_json=as_json)
    result: dict = {"store": settings.shown_store, "store_head": ledger.head_position()}
    if settings.projections.exists():
        try:
            with official.connect(settings.projections, read_only=True, wait=2.0) as con:
                result["projections"] = dict(con.execute(
                    "SELECT projection, position FROM projection_position ORDER BY 1").fetchall())
        except Exception as error:  # held open by a running `ledger project`
            result["projections"] = f"unavailable: {str(error).splitlines()[0]}"
    if settings.kafka_bootstrap:
        from consumers.status import kafka_status
        from consumers.topics import Names

        names = Names.from_env()
        result["kafka"] = _kafka(lambda: kafka_status(settings.kafka_bootstrap, names), settings, as_json)
    from xapi.service import unaligned_summary

    lrs = unaligned_summary(settings, ledger)
    if lrs is not None:
        result["xapi"] = lrs
    if as_json:
        emit_json(result)
        return
    typer.echo(f"store      {settings.shown_store}: head position {result['store_head']}")
    if lrs is not None:
        typer.echo(f"xapi       {lrs['statements']} statements, {lrs['unaligned_statements']} not aligned to a competency")
        for item in lrs["top_unaligned_activities"]:
            typer.echo(f"  {item['statements']:>8}  {item['activity']}")
        if lrs["refused_by_ledger"]:
            typer.echo(f"xapi       {lrs['refused_by_ledger']} statement event(s) stored by the LRS but refused by the ledger")
            for item in lrs["refusal_reasons"]:
                typer.echo(f"  {item['events']:>8}  {item['reason']}")
    projections = result.get("projections")
    if isinstance(projections, dict):
        for name, position in projections.items():
            typer.echo(f"projection {name}: position {position}")
    elif projections:
        typer.echo(f"projections {projections}")
    kafka = result.get("kafka")
    if kafka:
        typer.echo(f"kafka      {kafka['bootstrap']}: relay position {kafka['relay_position']}")
        for name in (names.events, names.submissions, names.rejected):
            for partition, info in kafka[name]["partitions"].items():
                lag = f", ingest lag {info['lag']}" if "lag" in info else ""
                typer.echo(f"  {name}[{partition}]: end offset {info['end_offset']}{lag}")


broker_app = typer.Typer(help="Run the project's single-node Kafka broker (KRaft, from Maven Central jars).",
                         no_args_is_help=True)
app.add_typer(broker_app, name="broker")

from cli.xapi import xapi_app  # noqa: E402

app.add_typer(xapi_app, name="xapi")

from cli.partners import partners_app  # noqa: E402

app.add_typer(partners_app, name="partners")


def _broker_call(action, as_json: bool):
    from consumers.kafka_broker import BrokerConfig, BrokerError

    try:
        return action(BrokerConfig.from_env())
    except BrokerError as error:
        fail(str(error), as_json=as_json)


def _show_broker(result, as_json: bool) -> None:
    if as_json:
        emit_json(result.as_dict())
        return
    state_text = f"running (pid {result.pid})" if result.running else "not running"
    typer.echo(f"Kafka {result.version} on {result.bootstrap}: {state_text}; data in {result.data_dir}")
    for name, count in sorted(result.topics.items()):
        typer.echo(f"  topic {name}: {count} partitions")


@broker_app.command("start")
def broker_start(as_json: bool = JsonOption) -> None:
    """Start the broker (fetching its jars once) and wait until it answers.

    Where: LEDGER_KAFKA_DIR (data), LEDGER_KAFKA_PORT (default 9092), LEDGER_KAFKA_HEAP (512m)."""
    from consumers.kafka_broker import start

    say = (lambda message: None) if as_json else (lambda message: typer.echo(message, err=True))
    _show_broker(_broker_call(lambda cfg: start(cfg, progress=say), as_json), as_json)


@broker_app.command("stop")
def broker_stop(as_json: bool = JsonOption) -> None:
    """Stop the broker cleanly."""
    from consumers.kafka_broker import stop

    stopped = _broker_call(stop, as_json)
    if as_json:
        emit_json({"ok": True, "stopped": stopped})
    else:
        typer.echo("broker stopped" if stopped else "broker was not running")


@broker_app.command("status")
def broker_status(as_json: bool = JsonOption) -> None:
    """Where the broker is and what it holds; exits 1 if it is not running."""
    from consumers.kafka_broker import status as broker_state

    result = _broker_call(broker_state, as_json)
    _show_broker(result, as_json)
    if not result.running:
        raise typer.Exit(1)


def _projections(learner: str, as_json: bool):
    from projections import queries

    con = open_projections(as_json)
    if not queries.learner_exists(con, learner):
        fail(f"learner {learner!r} is not in the projections", as_json=as_json)
    from cli.privacy import disclose_from_projections

    disclose_from_projections(learner)
    return con


@app.command()
def state(
    learner: str,
    as_of: Optional[str] = typer.Option(None, "--as-of", help="What was true on this date (demonstration time)."),
    known_at: Optional[str] = typer.Option(None, "--known-at", help="What the ledger knew on this date (recording time)."),
    as_json: bool = JsonOption,
) -> None:
    """A learner's competency states, now or on a date on either time axis."""
    from projections import queries

    when, known = _when(as_of, "--as-of", as_json), _when(known_at, "--known-at", as_json)
    con = _projections(learner, as_json)
    rows = queries.competency_states(con, learner, as_of=when, known_at=known)
    if as_json:
        emit_json({"learner_id": learner, "as_of": as_of, "known_at": known_at, "competencies": rows})
        return
    typer.echo(f"{learner}" + (f"  as of {as_of}" if as_of else "") + (f"  known at {known_at}" if known_at else ""))
    for r in rows:
        since = f"  since {r['mastered_since']:%Y-%m-%d}" if r["mastered_since"] else ""
        typer.echo(f"  {r['competency_id']:<10} level {r['level']:.2f}  {'MASTERED' if r['mastered'] else 'not yet':<8}"
                   f"  {r['method']:<18} {r['evidence_count']:>3} evidence{since}")
    if not rows:
        typer.echo("  no evidence counts on that date")


@app.command()
def plan(
    learner: str,
    today: Optional[str] = typer.Option(None, "--on", help="Judge pace on this date instead of today."),
    as_json: bool = JsonOption,
) -> None:
    """A learner's learning plans: goals, progress and pace."""
    from projections import queries

    on = _when(today, "--on", as_json)
    con = _projections(learner, as_json)
    from cli.privacy import reveal

    rows = reveal(queries.plans(con, learner, today=on))
    if as_json:
        emit_json({"learner_id": learner, "plans": rows})
        return
    if not rows:
        typer.echo(f"{learner} has no learning plan")
    for p in rows:
        typer.echo(f"{learner}  {p['title']} ({p['plan_id']}): {p['goals_mastered']}/{p['goals']} goals mastered "
                   f"({p['percent']:.0f}%), target {p['target_date']}, pace: {p['pace'].replace('_', ' ')}")
        for g in p["goal_states"]:
            level = f"{g['level']:.2f}" if g["level"] is not None else "  — "
            typer.echo(f"    {g['competency_id']:<10} {level}  {'mastered' if g['mastered'] else ''}")


def _samples(settings: Settings, learners: list[str]) -> list[dict]:

    from projections import official, queries

    with official.connect(settings.projections, read_only=True) as con:
        return [{"learner_id": learner, "competencies": queries.competency_states(con, learner),
                 "plans": queries.plans(con, learner)} for learner in learners]


@app.command()
def schemas(check: bool = typer.Option(False, "--check", help="Only report drift; exit 1 if any."),
            as_json: bool = JsonOption) -> None:
    """Write the JSON Schemas of the event catalogue into schemas/ (or check them)."""
    from ledger import schemas as catalogue

    if check:
        problems = catalogue.drift()
        if as_json:
            emit_json({"ok": not problems, "directory": str(catalogue.SCHEMA_DIR), "drift": problems})
        else:
            for problem in problems:
                typer.echo(problem)
            if not problems:
                typer.echo("schemas match the models")
        if problems:
            raise typer.Exit(1)
        return
    written = catalogue.write()
    if as_json:
        emit_json({"ok": True, "directory": str(catalogue.SCHEMA_DIR), "written": written})
    else:
        typer.echo(f"wrote {len(written)} schemas to {catalogue.SCHEMA_DIR}")


from cli.catalogue import register as _register_catalogue  # noqa: E402
from cli.credit import register as _register_credit  # noqa: E402
from cli.research import register as _register_research  # noqa: E402
from cli.import_responses import register as _register_import  # noqa: E402
from cli.service import register as _register_service  # noqa: E402
from cli.people import register as _register_people  # noqa: E402
from cli.privacy import register as _register_privacy  # noqa: E402
from cli.credential import register as _register_credential  # noqa: E402

_register_catalogue(app)
_register_credit(app)
_register_research(app)
_register_import(app)
_register_service(app)
_register_people(app)
_register_privacy(app)
_register_credential(app)


def main() -> None:
    # The ledger keeps many long-lived objects (cached learner streams) and allocates many
    # short-lived ones per event; the default thresholds run full collections that find nothing
    # and cost more the bigger the history (measured: +30% posting speed at 240k events).
    gc.set_threshold(50_000, 50, 1_000)
    from cli.context import log_to_stderr
    from ledger.disclosures import PurposeMissing

    log_to_stderr()
    try:
        app()
    except ConfigError as error:
        typer.echo(f"error: configuration: {error}", err=True)
        sys.exit(2)
    except PurposeMissing as error:  # nothing of the learner's was read
        typer.echo(f"error: {error}", err=True)
        sys.exit(2)
    except (PersistenceError, sqlite3.Error, OSError) as error:
        typer.echo(f"error: {type(error).__name__}: {error}", err=True)
        sys.exit(2)
    except Exception as error:  # a DuckDB file held by another process, a broker away: one line
        from cli.context import operational_reason

        reason = operational_reason(error)
        if reason is None:
            raise
        typer.echo(f"error: {reason}", err=True)
        sys.exit(2)
