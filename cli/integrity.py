"""`ledger verify`, `ledger checkpoint` and `ledger verify-proof`: the anchored log from the shell."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Optional

import typer

from cli.context import open_ledger
from cli.output import emit_json, fail, progress_bar

JsonOption = typer.Option(False, "--json", help="Print JSON instead of text.")


def verify(
    since: Optional[Path] = typer.Option(None, "--since", metavar="CHECKPOINT_FILE",
                                         help="A checkpoint you kept (its JSON, or a checkpoints file: the last "
                                              "line): prove the current log extends it."),
    as_json: bool = JsonOption,
) -> None:
    """Check every chain, stream and receipt, the Merkle tree against every signed checkpoint, and
    every credit award; exit 1 naming what broke."""
    from ledger.checkpoints import CheckpointError, load_kept
    from ledger.verification import verify_everything

    kept = None
    if since is not None:
        try:
            kept = load_kept(since)
        except CheckpointError as error:
            fail(f"--since {error}", as_json=as_json)
    ledger = open_ledger(as_json=as_json)
    with progress_bar("verifying", ledger.head_position(), enabled=not as_json) as bar:
        report = verify_everything(ledger, ledger.anchor, since=kept,
                                   progress=lambda done, total: bar.update(done, total))
    if as_json:
        emit_json(report.as_dict())
    else:
        _print(report)
    if not report.ok:
        raise typer.Exit(1)


def _print(report: Any) -> None:
    echo = typer.echo
    if not report.broken:
        echo(f"verified {report.events} events in {report.streams} streams and {report.receipts} receipts: "
             "every chain is intact")
        latest = report.latest_checkpoint
        if latest:
            echo(f"the Merkle tree of {report.tree_size} events matches all {report.checkpoints} signed checkpoints "
                 f"(latest: {latest['tree_size']} events at {latest['time']}"
                 + (f"; {report.unanchored} since, not yet signed)" if report.unanchored else ")"))
        if report.since and report.since.get("consistent"):
            echo(f"the log extends the kept checkpoint of {report.since['tree_size']} events "
                 f"({report.since['time']}): consistency proof of {len(report.since['consistency_proof'])} hashes "
                 "verified")
    for b in report.broken:
        where = f" at position {b['position']}" if b.get("position") else ""
        event = f", event {b['event_id']}" if b.get("event_id") else ""
        echo(f"BROKEN ({b['kind']}){where}{event}: {b['reason']}")
    if not report.credit_problems:
        echo(f"verified {report.credits_checked} credit awards: every basis is reproduced from the log")
    for p in report.credit_problems:
        echo(f"CREDIT {p['credit_event_id']} ({p['learner_id']}, {p['course_id']}): {p['problem']}")


def checkpoint(as_json: bool = JsonOption) -> None:
    """Extend the Merkle tree to the newest recorded event and sign a checkpoint now (one is made
    after every posted batch anyway); prints it, as appended to the checkpoints file."""
    ledger = open_ledger(as_json=as_json)
    made = ledger.anchor.checkpoint(ledger.recorder, force=True)
    if as_json:
        emit_json({**made.as_dict(), "checkpoints_file": str(ledger.anchor.checkpoints_file),
                   "public_key_file": str(ledger.anchor.public_key_file)})
        return
    typer.echo(made.to_json())
    typer.echo(f"appended to {ledger.anchor.checkpoints_file}; public key {ledger.anchor.public_key_file}", err=True)


def verify_proof(
    file: Path = typer.Argument(..., help="An audit (--json), an Open Badge, or an anchor, as JSON."),
    public_key: Optional[Path] = typer.Option(None, "--public-key",
                                              help="The ledger's published checkpoint key (PEM; default: the "
                                                   "one in the ledger home)."),
    as_json: bool = JsonOption,
) -> None:
    """Check a decision's anchor offline: the checkpoint's signature and each event's inclusion proof."""
    from ledger.proofs import check_document
    from ledger.checkpoints import public_key_path
    from ledger.config import Settings

    try:
        document = json.loads(file.read_text(encoding="utf-8"))
    except OSError as error:
        fail(f"{file}: {error.strerror}", as_json=as_json)
    except (ValueError, UnicodeDecodeError) as error:
        fail(f"{file}: not JSON ({error})", as_json=as_json)
    settings = Settings.load()
    key_path = public_key or public_key_path(settings.checkpoint_key_file)
    try:
        key_text = key_path.read_text()
    except OSError as error:
        fail(f"{key_path}: {error.strerror} (pass the ledger's public key with --public-key)", as_json=as_json)
    checked, problems = check_document(document, key_text)
    if as_json:
        emit_json({"ok": not problems, "events_proven": checked, "problems": problems})
    else:
        for problem in problems:
            typer.echo(f"NOT PROVEN: {problem}")
        if not problems:
            typer.echo(f"proven: {len(checked)} events were in the log signed by the checkpoint "
                       "(signature and inclusion proofs verified)")
    if problems:
        raise typer.Exit(1)
