"""`ledger xapi post|align|statements`: the LRS from the command line (back-filling an LRS
export, aligning activities to competencies, querying what is stored). Logic: xapi.service."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Optional

import typer

from cli.context import open_ledger, settings
from cli.output import emit_json, fail

JsonOption = typer.Option(False, "--json", help="Print JSON instead of text.")
xapi_app = typer.Typer(help="The xAPI Learning Record Store at /xapi/ (statements become evidence once aligned).",
                       no_args_is_help=True)


def _core(as_json: bool):
    from xapi.service import LrsCore

    return LrsCore(settings(), open_ledger(as_json=as_json))


@xapi_app.command("post")
def post(file: str = typer.Argument(..., help="A JSON file (or -) holding a statement or an array of them."),
         school: str = typer.Option(..., "--school", help="The school whose LMS made them (learners resolve there)."),
         as_json: bool = JsonOption) -> None:
    """Store statements as POST /xapi/statements does (same validation, same idempotency)."""
    from xapi.service import authority
    from xapi.statements import LrsError

    try:
        text = sys.stdin.read() if file == "-" else Path(file).read_text()
        documents = json.loads(text)
    except (OSError, ValueError) as error:
        fail(f"{file}: {error}", as_json=as_json)
    batch = documents if isinstance(documents, list) else [documents]
    core = _core(as_json)
    try:
        ids = core.post(batch, authority=authority(school, "cli", "ledger xapi post"), version="2.0.0")
    except LrsError as error:
        fail(error.reason, as_json=as_json)
    finally:
        core.close()
    if as_json:
        emit_json({"stored": ids})
    else:
        typer.echo(f"{len(ids)} statement(s) stored (or already stored with the same content)")


@xapi_app.command("align")
def align(activity: str = typer.Option(..., "--activity", help="An activity IRI (or an IRI prefix with --prefix)."),
          competency: list[str] = typer.Option(..., "--competency", help="A competency it demonstrates (repeatable)."),
          prefix: bool = typer.Option(False, "--prefix", help="Every activity whose IRI starts with --activity."),
          kind: str = typer.Option("quiz", "--kind", help="quiz, test, performance_task, observation or standardized."),
          success_level: Optional[float] = typer.Option(None, "--success-level", help="Level for result.success alone (default: the scale's max)."),
          failure_level: Optional[float] = typer.Option(None, "--failure-level", help="Level for a failure alone (default: the scale's min)."),
          by: str = typer.Option("district-office", "--by", help="Who posts the alignment (a district_admin)."),
          as_json: bool = JsonOption) -> None:
    """Post an alignment (an `xapi.alignment.posted` event in the catalogue) making an activity's statements evidence of competencies (stored statements count too)."""
    from xapi.statements import LrsError

    core = _core(as_json)
    try:
        result = core.align(activity, competency, prefix=prefix, kind=kind, success_level=success_level,
                            failure_level=failure_level, by=by)
    except LrsError as error:
        fail(error.reason, as_json=as_json)
    finally:
        core.close()
    if as_json:
        emit_json(result)
    else:
        typer.echo(f"aligned {activity}{'*' if prefix else ''} -> {', '.join(competency)}: "
                   f"{result['statements']} stored statement(s), {result['events'].get('accepted', 0)} new event(s)")


@xapi_app.command("statements")
def statements(agent: Optional[str] = typer.Option(None, "--agent", help='An agent as JSON, e.g. {"mbox":"mailto:a@b.org"}.'),
               verb: Optional[str] = typer.Option(None, "--verb", help="A verb IRI."),
               activity: Optional[str] = typer.Option(None, "--activity", help="An activity IRI."),
               limit: int = typer.Option(20, "--limit", min=1, max=500),
               as_json: bool = JsonOption) -> None:
    """Stored statements, newest first, voided ones left out (as GET /xapi/statements)."""
    from xapi.statements import LrsError, ifi

    key = None
    if agent is not None:
        try:
            key = ifi(json.loads(agent))
        except ValueError:
            fail("--agent: is not JSON", as_json=as_json)
        if key is None:
            fail("--agent: names no mbox, mbox_sha1sum, openid or account", as_json=as_json)
    core = _core(as_json)
    try:
        found, _ = core.statements.query(agent=key, verb=verb, activity=activity, registration=None,
                                         related_agents=False, related_activities=False, since=None, until=None,
                                         limit=limit, ascending=False, after=None)
    except LrsError as error:
        fail(error.reason, as_json=as_json)
    finally:
        core.close()
    if as_json:
        emit_json({"statements": found})
        return
    for s in found:
        obj = s["object"].get("id", s["object"].get("objectType"))
        score = ((s.get("result") or {}).get("score") or {}).get("scaled")
        typer.echo(f"{s['stored']}  {s['id']}  {s['verb']['id'].rsplit('/', 1)[-1]:<12} {obj}"
                   + (f"  scaled={score}" if score is not None else ""))
