"""`ledger import responses FILE.csv`: a researcher's response log into the ledger, through the
same posting path as `ledger post` (research.responses says what the rows become)."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Optional

import typer

from cli.context import open_ledger, valid_id
from cli.output import emit_json, fail, progress_bar

import_app = typer.Typer(help="Bring data shared in other formats into the ledger.", no_args_is_help=True)


@import_app.command("responses")
def import_responses(
    file: Path = typer.Argument(..., help="CSV with user_id, skill_name, correct, order_id "
                                          "(optionally problem_id, template_id, timestamp or start_time)."),
    framework_id: Optional[str] = typer.Option(None, "--framework", help="Framework id (default: from the file name)."),
    version: int = typer.Option(1, "--framework-version", min=1, help="Publish the framework as this version."),
    school: str = typer.Option("responses", "--school", help="School id the learners are enrolled at."),
    grade: int = typer.Option(8, "--grade", min=0, max=12, help="Grade recorded on each enrolment."),
    dedupe: bool = typer.Option(False, "--dedupe", help="Drop rows identical in every column to an earlier row."),
    as_json: bool = typer.Option(False, "--json", help="Print JSON instead of text."),
) -> None:
    """Import a response log: a framework of its skills, enrolments, one assessment per row.
    Every usable row is recorded; each unusable one is named with its column and reasons."""
    from ledger.services import post_lines
    from research.responses import ResponseFileError, plan_import, rows_refused

    stem = re.sub(r"[^A-Za-z0-9._:-]+", "-", file.stem).strip("-._:") or "responses"
    framework_id = valid_id(framework_id or stem, "--framework", as_json)
    school = valid_id(school, "--school", as_json)
    try:
        text = file.read_text(encoding="utf-8-sig")
    except FileNotFoundError:
        fail(f"{file}: no such file", as_json=as_json)
    except UnicodeDecodeError as error:
        fail(f"{file}: not UTF-8 text (byte {error.start})", as_json=as_json)
    except OSError as error:
        fail(f"{file}: cannot read it: {error.strerror or error}", as_json=as_json)
    try:
        plan = plan_import(text, framework_id=framework_id, title=f"Skills of {file.name}", school_id=school,
                           grade=grade, version=version, dedupe=dedupe)
    except ResponseFileError as error:
        fail(f"{file}: {error}", as_json=as_json)
    ledger = open_ledger(must_exist=False)
    with progress_bar("importing", len(plan.lines), enabled=not as_json) as bar:
        report = post_lines(ledger, plan.lines, on_outcome=bar.advance)
    refused = list(rows_refused(plan, report.rejections))
    result = {"ok": not refused, "file": str(file), "framework_id": framework_id, "rows": plan.rows,
              "answers": plan.answers, "learners": plan.learners, "skills": plan.skills,
              "dropped_duplicates": plan.dropped_duplicates, **report.as_dict(), "unusable_rows": refused}
    result["rejected"] = len(refused)
    if as_json:
        emit_json(result)
    else:
        for r in refused:  # one line per unusable row, every reason on it
            reasons = "; ".join(f"{p['field']}: {p['reason']}" if p["field"] else p["reason"] for p in r["problems"])
            typer.echo(f"{r['where']}: {reasons}", err=True)
        typer.echo(f"{file.name}: {plan.answers} answers of {plan.learners} learners on {len(plan.skills)} skills; "
                   f"accepted {report.accepted}, duplicate {report.duplicate}, unusable rows {len(refused)}"
                   + (f", dropped as exact repeats {plan.dropped_duplicates}" if dedupe else ""))
    if refused:
        raise typer.Exit(1)


def register(app: typer.Typer) -> None:
    app.add_typer(import_app, name="import")
