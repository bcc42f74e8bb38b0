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
        for path in done.not_deleted:  # the erasure holds; the copy is the operator's to remove
            typer.echo(f"warning: could not delete the audit copy {path}; delete it by hand", err=True)


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


# Top-level commands that read a learner's identifiable record (a group such as `credit` counts
# as one: its badge and audit read the record, and so do its decisions).
DISCLOSING = {"events", "state", "plan", "audit", "credit", "transcript", "export"}
# Of those, the reads that must state why (`credit badge`, not the registrar's decisions in
# `credit approve` and the like, which read the record to decide on it).
PURPOSE_REQUIRED = {"events", "state", "plan", "audit", "export", "transcript", "credit badge"}


def name_cli_reader(command: str | None, purpose: str | None) -> None:
    """The CLI's reader for the record of disclosures: the operator's account, their purpose.
    Where a purpose is required and none is stated, the first disclosure is refused (exit 2)
    before anything is read; `--help` and commands that end before reading disclose nothing."""
    import getpass
    import os

    from ledger.disclosures import Reader, name_reader

    if command not in DISCLOSING:
        return
    stated = (purpose or os.environ.get("LEDGER_PURPOSE") or "").strip()

    def refusal() -> str | None:
        import click

        leaf = click.get_current_context(silent=True)
        name = f"{command} {leaf.info_name}" if leaf is not None and leaf.info_name != command else command
        if stated or name not in PURPOSE_REQUIRED:
            return None
        return (f"--purpose is required: `ledger {name}` reads a learner's identifiable record; state why "
                "(ledger --purpose TEXT ..., or LEDGER_PURPOSE), for the record of disclosures")

    reader = Reader(key_id=f"cli:{getpass.getuser()}", role="operator", school_id=None, what=command,
                    purpose=(stated or "operator (purpose not stated)")[:300], refusal=refusal)
    name_reader(reader)


def disclose_from_projections(learner: str) -> None:
    """For reads answered by the projections alone (state, plans), which skip the central read point."""
    from cli.context import settings
    from ledger.disclosures import DisclosureLog, disclose

    from pathlib import Path

    current = settings()
    if current.is_sqlite and not Path(current.store).exists():
        return  # no ledger here: nothing of anyone's can be read (the command says so itself)
    log = DisclosureLog(current)
    try:
        disclose(log, learner)
    finally:
        log.close()


def erased_learners() -> set[str]:
    """The learners whose data key is destroyed: left out of exports."""
    from cli.context import settings
    from ledger.key_store import key_store_for

    keys = key_store_for(settings())
    try:
        return {person for person, row in keys.rows().items() if row.wrapped is None or row.erasing}
    finally:
        keys.close()


def without_learners(competencies, left_out: set[str]):
    """A replay's histories without the erased learners' (models are fitted without them too)."""
    from dataclasses import replace

    for competency in competencies:
        yield replace(competency, histories=[h for h in competency.histories if h.learner_id not in left_out]) \
            if left_out else competency


def reveal(rows):
    """Projection rows with their sealed texts opened (the projections hold ciphertext only)."""
    from cli.context import settings
    from ledger.shredding import Shredder

    shredder = Shredder.for_settings(settings())
    try:
        return shredder.reveal(rows)
    finally:
        shredder.keys.close()


def disclosures(
    learner: str = typer.Argument(..., help="The learner's pseudonymous id."),
    as_json: bool = JsonOption,
) -> None:
    """Every recorded read of the learner's record: who (key, role, school), what, when, why.
    Exits 1 if the record's chain is broken (an entry altered, removed or reordered)."""
    from cli.context import settings
    from ledger.disclosures import DisclosureLog

    log = DisclosureLog(settings())
    entries, problems = log.entries(learner), log.check()
    log.close()
    if as_json:
        emit_json({"ok": not problems, "learner_id": learner, "disclosures": entries, "problems": problems})
    else:
        for e in entries:
            typer.echo(f"{e['seq']:>6}  {e['at'][:19]}  {e['what']:<10} {e['role']:<14} {e['key_id']:<20} "
                       f"{e['school_id'] or '-':<12} {e['purpose']}")
        if not entries:
            typer.echo(f"no recorded disclosures of {learner}")
        for problem in problems:
            typer.echo(f"error: {problem}", err=True)
    if problems:
        raise typer.Exit(1)


def register(app: typer.Typer) -> None:
    app.command("disclosures")(disclosures)
    app.command("erase")(erase)
    app.command("keys-rotate-master")(keys_rotate_master)
