"""`ledger people invite|list|revoke`: one-time sign-in codes for the web pages of `ledger serve`."""

from __future__ import annotations

from typing import Optional

import typer

from cli.context import settings
from cli.output import emit_json, fail

people_app = typer.Typer(help="People who sign in to the web pages: learners, guardians, advisors, registrars, "
                              "partners.", no_args_is_help=True)


@people_app.command("invite")
def invite(
    role: str = typer.Option(..., "--role", help="learner, guardian, advisor, registrar or partner."),
    school: Optional[str] = typer.Option(None, "--school", help="The school that invites."),
    learner: list[str] = typer.Option([], "--learner", help="A learner the person is linked to (repeatable)."),
    actor: Optional[str] = typer.Option(None, "--actor", help="An advisor's or registrar's id, as their events carry it."),
    language: str = typer.Option("en", "--language", help="en or es: the pages' language for this person."),
    label: str = typer.Option("", "--label", help="Who it is for, for `people list`."),
    base_url: str = typer.Option("http://127.0.0.1:8080", "--base-url", help="Where `ledger serve` answers."),
    as_json: bool = typer.Option(False, "--json", help="Print JSON instead of text."),
) -> None:
    """Make a one-time sign-in code and link. It is shown once; only its hash is kept."""
    from ledger.people import InviteError, People

    try:
        made = People(settings()).invite(role, school_id=school, learners=learner, actor_id=actor,
                                         language=language, label=label)
    except InviteError as error:
        fail(str(error), as_json=as_json)
    link = f"{base_url.rstrip('/')}/web/sign-in?code={made.code}"
    if as_json:
        emit_json({"invite_id": made.invite_id, "code": made.code, "link": link, **made.person})
        return
    typer.echo(f"invitation {made.invite_id} ({role} of {school}): {link}")
    typer.echo("it works once; keep it now: it cannot be shown again", err=True)


@people_app.command("list")
def list_invites(as_json: bool = typer.Option(False, "--json", help="Print JSON instead of text.")) -> None:
    """Every invitation: who, as what, when issued and used (never the code)."""
    from ledger.people import People

    invites = People(settings()).list()
    if as_json:
        emit_json(invites)
        return
    for i in invites:
        p = i["person"]
        typer.echo(f"{i['invite_id']}  {p['role']:<10} {p['school_id']:<10} {','.join(p['learners']) or '-':<20} "
                   f"{'used ' + i['redeemed_at'] if i['redeemed_at'] else 'open'}  {p['label']}")
    if not invites:
        typer.echo("no invitations; make one with `ledger people invite --role ...`")


@people_app.command("revoke")
def revoke(
    person: str = typer.Argument(..., help="The person's id (an advisor's or registrar's actor id, or the "
                                           "person-... id `people list --json` shows)."),
    as_json: bool = typer.Option(False, "--json", help="Print JSON instead of text."),
) -> None:
    """End every live web session of PERSON at once (the pages check each request against this record)."""
    from ledger.people import People

    signed_in = People(settings()).revoke(person)
    if as_json:
        emit_json({"person_id": person, "revoked": True, "redeemed_invitations": signed_in})
        return
    typer.echo(f"sessions of {person} revoked" + ("" if signed_in else " (no invitation of theirs was ever used)"))


def register(app: typer.Typer) -> None:
    app.add_typer(people_app, name="people")
