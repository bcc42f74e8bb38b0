"""`ledger erase`, `ledger keys-rotate-master`, `ledger disclosures`: thin over ledger.erasure,
ledger.shredding and ledger.disclosures."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer

from cli.context import open_ledger
from cli.output import emit_json, fail

JsonOption = typer.Option(False, "--json", help="Print JSON instead of text.")


def erase(
    person: str = typer.Argument(..., help="The learner's pseudonymous id."),
    reason: str = typer.Option(..., "--reason", help="data_subject_request, retention_ended, legal_order or other."),
    by: str = typer.Option(..., "--by", help="The district admin's id, as the erasure event will carry it."),
    as_json: bool = JsonOption,
) -> None:
    """Erase a person: record the erasure and destroy their data key. Their personal fields read
    `[erased]` everywhere from then on; scores and dates stay, and `ledger verify` still passes."""
    from ledger.erasure import ErasureError, erase as run_erase

    try:
        done = run_erase(open_ledger(as_json=as_json), person, reason=reason, by=by)
    except ErasureError as error:
        fail(str(error), as_json=as_json)
    if as_json:
        emit_json({"ok": True, **done.as_dict()})
    else:
        typer.echo(f"{person}: {done.status} (event {done.event_id})")


def keys_rotate_master(
    new_key_file: Path = typer.Option(..., "--new-key-file", help="The new master key (64 hex digits); made "
                                      "if the file does not exist."),
    as_json: bool = JsonOption,
) -> None:
    """Rewrap every person's data key with a new master key; no event changes. Point
    LEDGER_MASTER_KEY_FILE at the new file afterwards."""
    from ledger.shredding import new_master_key

    ledger = open_ledger(as_json=as_json)
    key, made = new_master_key(new_key_file)
    count = ledger.shredder.rotate_master(key)
    result = {"ok": True, "rewrapped": count, "new_key_file": str(new_key_file), "created": made}
    if as_json:
        emit_json(result)
    else:
        typer.echo(f"rewrapped {count} data keys with {new_key_file}; set LEDGER_MASTER_KEY_FILE={new_key_file}")


def register(app: typer.Typer) -> None:
    app.command("erase")(erase)
    app.command("keys-rotate-master")(keys_rotate_master)
