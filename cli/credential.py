"""`ledger issuer ...`, `ledger credential verify`, `ledger transcript`: thin doors onto `credentials`."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Optional

import typer

from cli.context import open_ledger, settings
from cli.output import emit_json, fail

JsonOption = typer.Option(False, "--json", help="Print JSON instead of text.")
issuer_app = typer.Typer(help="The district's credential issuer: keys, DID, profile.", no_args_is_help=True)
credential_app = typer.Typer(help="Check signed credentials.", no_args_is_help=True)


def _show(issuer, as_json: bool, verb: str) -> None:
    if as_json:
        emit_json({"ok": True, "did": issuer.did, "name": issuer.name, "host": issuer.host,
                   "verification_method": issuer.method_id(), "keys": list(issuer.keys),
                   "did_document": issuer.did_document()})
    else:
        typer.echo(f"{verb}{issuer.name}: {issuer.did}\n  signing with {issuer.method_id()}\n"
                   f"  {len(issuer.keys)} key(s); private keys in {issuer.home / 'issuer' / 'keys'} (0600)")


@issuer_app.command("create")
def issuer_create(name: str = typer.Option("District registrar", "--name"),
                  host: Optional[str] = typer.Option(None, "--host", help="did:web host; without it a did:key."),
                  as_json: bool = JsonOption) -> None:
    """Make the issuer: an Ed25519 key (file 0600, never in the store) and its DID."""
    from credentials.issuer import IssuerError, create

    try:
        _show(create(settings().home, name=name, host=host), as_json, "created ")
    except IssuerError as error:
        fail(str(error), as_json=as_json)


@issuer_app.command("show")
def issuer_show(as_json: bool = JsonOption) -> None:
    """The issuer's DID, current key and every earlier key."""
    from credentials.issuer import IssuerError, load

    try:
        _show(load(settings().home), as_json, "")
    except IssuerError as error:
        fail(str(error), as_json=as_json)


@issuer_app.command("rotate")
def issuer_rotate(as_json: bool = JsonOption) -> None:
    """A new signing key; earlier keys stay in the DID document so earlier credentials still verify."""
    from credentials.issuer import IssuerError, rotate

    try:
        _show(rotate(settings().home), as_json, "rotated ")
    except IssuerError as error:
        fail(str(error), as_json=as_json)


def _read_json(path: Path, what: str, as_json: bool):
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except OSError as error:
        fail(f"{what} {path}: {error.strerror}", as_json=as_json)
    except ValueError as error:
        fail(f"{what} {path}: not JSON ({error})", as_json=as_json)


@credential_app.command("verify")
def credential_verify(file: Path,
                      status_list: list[Path] = typer.Option([], "--status-list",
                                                             help="A status list credential to use (repeatable)."),
                      as_json: bool = JsonOption) -> None:
    """Check a credential offline (JSON with a Data Integrity proof, or a VC-JWT): shape, dates,
    proof, revocation. One line; exit 1 when not valid."""
    from credentials.jwt import looks_like_jwt
    from credentials.service import verify_here

    try:
        text = file.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as error:
        fail(f"credential {file}: {getattr(error, 'strerror', None) or error}", as_json=as_json)
    doc = text.strip() if looks_like_jwt(text) else _read_json(file, "credential", as_json)
    lists = [_read_json(p, "status list", as_json) for p in status_list]
    current = settings()
    ledger = open_ledger(as_json=as_json) if not current.is_sqlite or Path(current.store).exists() else None
    verdict = verify_here(doc, ledger, current.home, lists)
    if as_json:
        emit_json({"ok": verdict.ok, "line": verdict.line, "revoked": verdict.revoked,
                   "problems": verdict.problems, "checks": verdict.checks})
    else:
        typer.echo(f"{file}: {verdict.line}")
    if not verdict.ok:
        raise typer.Exit(1)


def transcript(learner: str,
               out: Optional[Path] = typer.Option(None, "--out", help="Write the signed ClrCredential here."),
               html: Optional[Path] = typer.Option(None, "--html", help="Also write the printable HTML here."),
               as_json: bool = JsonOption) -> None:
    """The learner's signed CLR 2.0 transcript: every issuable credit as a signed badge."""
    from credentials.transcript import TranscriptError, signed_transcript
    from credentials.transcript_html import render

    try:
        clr, skipped = signed_transcript(open_ledger(as_json=as_json), settings().home, learner)
    except TranscriptError as error:
        fail(str(error), as_json=as_json)
    text = json.dumps(clr, indent=2)
    if html:
        html.write_text(render(clr, skipped), encoding="utf-8")
    if out:
        out.write_text(text + "\n")
    if as_json and (out or html):
        emit_json({"ok": True, "out": str(out) if out else None, "html": str(html) if html else None,
                   "credits": len(clr["credentialSubject"]["verifiableCredential"]), "not_included": skipped})
    elif out or html:
        typer.echo(f"wrote {', '.join(str(p) for p in (out, html) if p)}"
                   + "".join(f"\n  not included: {s}" for s in skipped))
    else:
        typer.echo(text)


def register(app: typer.Typer) -> None:
    app.add_typer(issuer_app, name="issuer")
    app.add_typer(credential_app, name="credential")
    app.command("transcript")(transcript)
