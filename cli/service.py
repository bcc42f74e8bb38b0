"""Service commands: `ledger serve` and `ledger keys create|list|revoke`."""

from __future__ import annotations

from typing import Optional

import typer

from cli.context import settings
from cli.output import emit_json, fail

JsonOption = typer.Option(False, "--json", help="Print JSON instead of text.")

keys_app = typer.Typer(help="API keys for `ledger serve`: each bound to a role and, for schools, a school.",
                       no_args_is_help=True)


def _keyring():
    from ledger.keyring import Keyring

    return Keyring(settings())


@keys_app.command("create")
def keys_create(
    role: str = typer.Option(..., "--role", help="school, advisor, registrar, researcher, district_admin or lrs_client (xAPI clients, HTTP Basic)."),
    school: Optional[str] = typer.Option(None, "--school", help="The school a school key posts for."),
    actor: Optional[str] = typer.Option(None, "--actor", help="The advisor or registrar the key acts as."),
    label: str = typer.Option("", "--label", help="Who holds it, for `keys list`."),
    as_json: bool = JsonOption,
) -> None:
    """Make a key. It is shown once; only its hash is kept."""
    from ledger.keyring import KeyringError

    try:
        issued = _keyring().create(role, school_id=school, actor_id=actor, label=label)
    except KeyringError as error:
        fail(str(error), as_json=as_json)
    if as_json:
        emit_json({"key_id": issued.key_id, "key": issued.secret, "role": role, "school_id": school,
                   "actor_id": actor, "label": label})
        return
    typer.echo(f"key {issued.key_id} ({role}{' for ' + school if school else ''}{' as ' + actor if actor else ''}):")
    typer.echo(issued.secret)
    typer.echo("keep it now: it cannot be shown again", err=True)


@keys_app.command("list")
def keys_list(as_json: bool = JsonOption) -> None:
    """Every key: role, bindings, when issued and revoked (never the secret)."""
    keys = _keyring().list()
    if as_json:
        emit_json(keys)
        return
    for k in keys:
        state = f"revoked {k['revoked_at']}" if k["revoked_at"] else "live"
        typer.echo(f"{k['key_id']}  {k['role']:<14} school={k['school_id'] or '-':<10} actor={k['actor_id'] or '-':<10} "
                   f"{state:<40} {k['label']}")
    if not keys:
        typer.echo("no keys; make one with `ledger keys create --role ...`")


@keys_app.command("revoke")
def keys_revoke(key_id: str, as_json: bool = JsonOption) -> None:
    """Revoke a key; servers refuse it within seconds."""
    from ledger.keyring import KeyringError

    try:
        key = _keyring().revoke(key_id)
    except KeyringError as error:
        fail(str(error), as_json=as_json)
    if as_json:
        emit_json(key)
    else:
        typer.echo(f"key {key_id} revoked at {key['revoked_at']}")


def serve(
    host: str = typer.Option("127.0.0.1", "--host"),
    port: int = typer.Option(8080, "--port", min=1, max=65535),
    project: bool = typer.Option(True, "--project/--no-project",
                                 help="Keep this server's read models up to date in the background."),
    header_timeout: float = typer.Option(10.0, "--header-timeout", min=0.1,
                                         help="Seconds a client has to send a request's line and headers."),
    body_timeout: float = typer.Option(15.0, "--body-timeout", min=0.1,
                                       help="Seconds a client has to send a request's body."),
    as_json: bool = typer.Option(False, "--json", help="Announce the server as one JSON line on stdout."),
) -> None:
    """Serve the HTTP API (OpenAPI document at /openapi.json, docs at /docs)."""
    import json
    import logging

    import uvicorn

    from api.app import create_app
    from api.edges import DeadlineH11Protocol
    from api.service import Service
    from cli.context import log_to_stderr

    log_to_stderr(logging.INFO)  # one `ledger.http` line per request (ours: it names the key id)
    current = settings()
    if as_json:
        typer.echo(json.dumps({"serving": f"http://{host}:{port}", "store": current.shown_store,
                               "projections": str(current.projections)}))
    else:
        typer.echo(f"serving the ledger at {current.shown_store} on http://{host}:{port} "
                   f"(read models {current.projections})", err=True)
    # uvicorn's own access log is off (ours replaces it) and its handlers are not installed
    # (log_config=None), so its warnings come out in our format. Idle keep-alive connections
    # close after 5 s; request heads have DeadlineH11Protocol's deadline, bodies BodyGuard's.
    protocol = type("HeadDeadline", (DeadlineH11Protocol,), {"header_timeout": header_timeout})
    # Opened here, not in the app's startup: a store that is down or a held read-model file
    # ends the command with main()'s one line, not uvicorn's traceback.
    service = Service(current, project=project)
    uvicorn.run(create_app(current, service=service, body_timeout=body_timeout), host=host, port=port,
                log_level="warning", log_config=None, access_log=False, http=protocol, timeout_keep_alive=5,
                h11_max_incomplete_event_size=16 * 1024, timeout_graceful_shutdown=10)


def register(app: typer.Typer) -> None:
    app.command()(serve)
    app.add_typer(keys_app, name="keys")
