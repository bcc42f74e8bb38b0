"""`ledger partners link|unlink`: a school links a community partner to a learner (ledger.partners).

The partner then posts with a `partner` key (`ledger keys create --role partner --actor ORG`)."""

from __future__ import annotations

from typing import Optional

import typer

from cli.context import open_ledger
from cli.output import emit_json, fail
from ledger.partners import link_event
from ledger.services import post_lines

partners_app = typer.Typer(help="Community partners linked to learners: their evidence counts once signed off.",
                           no_args_is_help=True)


def _record(event: dict, as_json: bool) -> None:
    import json

    ledger = open_ledger(as_json=as_json)
    try:
        report = post_lines(ledger, [(1, json.dumps(event))])
    finally:
        ledger.close()
    if report.rejections:
        fail(report.rejections[0]["message"], as_json=as_json)
    if as_json:
        emit_json({"event_id": event["event_id"], "type": event["type"], **event["payload"]})
    else:
        typer.echo(f"{event['type']}: {event['payload']['partner_id']} for learner {event['learner_id']}")


@partners_app.command("link")
def link(learner: str = typer.Option(..., "--learner"), school: str = typer.Option(..., "--school"),
         partner: str = typer.Option(..., "--partner", help="The partner organisation's id (its key's --actor)."),
         name: Optional[str] = typer.Option(None, "--name"), by: str = typer.Option("sis", "--by"),
         as_json: bool = typer.Option(False, "--json")) -> None:
    """Link a partner to a learner: it may post observations and artifacts about them."""
    _record(link_event(learner, school, partner, by=by, name=name), as_json)


@partners_app.command("unlink")
def unlink(learner: str = typer.Option(..., "--learner"), school: str = typer.Option(..., "--school"),
           partner: str = typer.Option(..., "--partner"), by: str = typer.Option("sis", "--by"),
           as_json: bool = typer.Option(False, "--json")) -> None:
    """End a partner's link: it posts nothing more about the learner."""
    _record(link_event(learner, school, partner, by=by, unlink=True), as_json)
