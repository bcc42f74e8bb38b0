"""Finding one's way around: the frameworks, competencies and courses in force, and the dead letters."""

from __future__ import annotations

import base64
from typing import Optional

import typer

from cli.context import open_ledger, settings
from cli.output import emit_json, fail

JsonOption = typer.Option(False, "--json", help="Print JSON instead of text.")
# Text shows this much of a dead letter's original bytes; --json shows them whole.
SHOWN_BYTES = 120


def _catalog(as_json: bool) -> list[dict]:
    from ledger.streams import CATALOG_KEY

    return [e.event for e in open_ledger(as_json=as_json).stream_events(CATALOG_KEY)]


def frameworks(as_json: bool = JsonOption) -> None:
    """The published frameworks (latest version of each), from the store's catalogue."""
    from ledger.reference_data import frameworks as listed

    rows = listed(_catalog(as_json))
    if as_json:
        emit_json(rows)
        return
    if not rows:
        typer.echo("no framework has been published (`ledger framework import` or `ledger post`)")
    for f in rows:
        scale = f["scale"]
        typer.echo(f"{f['framework_id']:<16} v{f['version']}  {f['competencies']:>3} competencies  "
                   f"scale {scale['min']:g}..{scale['max']:g}, mastery at {scale['mastery_threshold']:g}  {f['title']}")


def competencies(framework: Optional[str] = typer.Option(None, "--framework", help="Only this framework's."),
                 as_json: bool = JsonOption) -> None:
    """The competencies of the published frameworks: the ids evidence may name."""
    from ledger.reference_data import competencies as listed, frameworks as known

    catalog = _catalog(as_json)
    if framework is not None and framework not in {f["framework_id"] for f in known(catalog)}:
        fail(f"--framework {framework!r}: no such framework (`ledger frameworks` lists them)", as_json=as_json)
    rows = listed(catalog, framework)
    if as_json:
        emit_json(rows)
        return
    if not rows:
        typer.echo("no framework has been published")
    for c in rows:
        parent = f"  (under {c['parent_id']})" if c["parent_id"] else ""
        typer.echo(f"{c['competency_id']:<14} {c['framework_id']:<16} {c['title']}{parent}")


def courses(as_json: bool = JsonOption) -> None:
    """The defined courses (latest definition of each): credits, competencies and credit rule."""
    from ledger.reference_data import courses as listed

    rows = listed(_catalog(as_json))
    if as_json:
        emit_json(rows)
        return
    if not rows:
        typer.echo("no course has been defined")
    for c in rows:
        rule = c["credit_rule"]
        typer.echo(f"{c['course_id']:<10} {c['credits']:g} credit(s)  rule {rule['kind']} v{rule['version']}  "
                   f"method {c['mastery_method']['name']}  {c['title']}: {', '.join(c['competencies'])}")


def rejected(limit: int = typer.Option(100, "--limit", min=1, help="Show the most recent N dead letters."),
             as_json: bool = JsonOption) -> None:
    """The dead letters of `evidence.rejected`: where each came from, why, and its original bytes."""
    from kafka.errors import KafkaError

    from consumers.dead_letters import DeadLetterError, read_dead_letters
    from consumers.topics import Names

    current = settings()
    if not current.kafka_bootstrap:
        fail("`ledger rejected` needs Kafka: set LEDGER_KAFKA_BOOTSTRAP (e.g. 127.0.0.1:9092)", as_json=as_json)
    names = Names.from_env()
    try:
        total, letters = read_dead_letters(current.kafka_bootstrap, names, limit=limit)
    except DeadLetterError as error:
        fail(str(error), as_json=as_json)
    except KafkaError as error:
        fail(f"Kafka at {current.kafka_bootstrap}: {type(error).__name__} {error}; "
             "is the broker running (`ledger broker status`)?", as_json=as_json)
    if as_json:
        emit_json({"topic": names.rejected, "total": total, "shown": len(letters), "dead_letters": [
            {**letter, "key": _text(letter["key"]), "value": _text(letter["value"]),
             "value_base64": base64.b64encode(letter["value"]).decode()} for letter in letters]})
        return
    typer.echo(f"{names.rejected}: {total} dead letter(s)" + (f", the last {len(letters)} shown" if len(letters) < total else ""))
    for letter in letters:
        field = f"{letter['field']}: " if letter["field"] else ""
        value = letter["value"]
        shown = repr(value[:SHOWN_BYTES])[2:-1] + (f"… ({len(value)} bytes)" if len(value) > SHOWN_BYTES else "")
        typer.echo(f"[{letter['partition']}/{letter['offset']}] from {letter['source']}: {field}{letter['reason']}")
        typer.echo(f"    {shown}")


def _text(value: bytes | None) -> str | None:
    # The original bytes as text where they are UTF-8 (they usually are JSON); value_base64 is exact.
    return value.decode("utf-8", "replace") if value is not None else None


def register(app: typer.Typer) -> None:
    app.command("frameworks")(frameworks)
    app.command("competencies")(competencies)
    app.command("courses")(courses)
    app.command("rejected")(rejected)
