"""Registrar commands: frameworks from CASE, credit proposals and approvals, audits, badges."""

from __future__ import annotations

import json
import uuid
from datetime import datetime, timezone
from pathlib import Path
from typing import Optional

import typer

from cli.context import open_ledger, settings, valid_id
from cli.output import emit_json, fail

JsonOption = typer.Option(False, "--json", help="Print JSON instead of text.")

framework_app = typer.Typer(help="Competency frameworks.", no_args_is_help=True)
credit_app = typer.Typer(help="Credit proposals, approvals, revocations and badges.", no_args_is_help=True)


@framework_app.command("import")
def framework_import(
    file: Path = typer.Argument(..., help="A 1EdTech CASE package (CFPackage JSON, or CFDocument/CFItems/CFAssociations)."),
    framework_id: Optional[str] = typer.Option(None, "--id", help="Framework id (default: from the CFDocument)."),
    version: int = typer.Option(1, min=1, help="Framework version; republish with a higher one."),
    scale_min: float = typer.Option(1.0, "--scale-min"),
    scale_max: float = typer.Option(4.0, "--scale-max"),
    mastery: float = typer.Option(3.0, "--mastery", help="Mastery threshold on the scale."),
    publisher: str = typer.Option("district-office", "--by", help="Who publishes it (district_admin)."),
    as_json: bool = JsonOption,
) -> None:
    """Publish a CASE package as a framework, keeping every item's CASE GUID."""
    publisher = valid_id(publisher, "--by", as_json)
    from ledger.case_import import CaseImportError, framework_payload

    try:
        package = json.loads(file.read_text(encoding="utf-8"))
        payload = framework_payload(package, framework_id=framework_id, version=version,
                                    scale={"min": scale_min, "max": scale_max, "mastery_threshold": mastery})
    except FileNotFoundError:
        fail(f"{file}: no such file", as_json=as_json)
    except (json.JSONDecodeError, UnicodeDecodeError) as error:
        fail(f"{file}: not JSON: {error}", as_json=as_json)
    except CaseImportError as error:
        fail(f"{file}: {error}", as_json=as_json)
    event = {"event_id": str(uuid.uuid5(uuid.NAMESPACE_URL, f"framework:{payload['framework_id']}:{version}")),
             "type": "framework.published", "schema_version": 1,
             "actor": {"id": publisher, "role": "district_admin"},
             "demonstrated_at": datetime.now(timezone.utc).isoformat(), "payload": payload}
    [outcome] = open_ledger(must_exist=False).post([json.dumps(event)])
    result = {"ok": outcome.status != "rejected", "status": outcome.status, "framework_id": payload["framework_id"],
              "competencies": len(payload["competencies"]), "event_id": event["event_id"],
              "reason": str(outcome.rejection) if outcome.rejection else None}
    if as_json:
        emit_json(result)
    elif outcome.rejection:
        typer.echo(f"error: {file}: {outcome.rejection}", err=True)
    else:
        typer.echo(f"framework {payload['framework_id']} ({payload['title']}): {len(payload['competencies'])} "
                   f"competencies, {outcome.status}")
    if outcome.rejection:
        raise typer.Exit(1)


@credit_app.command("propose")
def credit_propose(as_json: bool = JsonOption) -> None:
    """Record a proposal for every learner whose states now satisfy a course's rule (after `ledger project`)."""
    from consumers.credit_engine import propose
    from consumers.projector import run_projections

    current = settings()
    if not current.projections.exists():
        fail(f"no projections at {current.projections}; run `ledger project` first", as_json=as_json)
    ledger = open_ledger(as_json=as_json)
    embedded = not current.kafka_bootstrap
    if embedded:  # with Kafka, the projections follow ledger.events and catch up once the relay runs
        run_projections(ledger, current.projections)
    run = propose(ledger, current.projections)
    if embedded:
        run_projections(ledger, current.projections)
    if as_json:
        emit_json({"ok": not run.rejected, "proposed": run.proposed, "rejected": run.rejected,
                   "skipped": run.skipped})
    else:
        for item in run.proposed:
            typer.echo(f"proposed {item['course_id']} for {item['learner_id']} ({item['status']})")
        for problem in run.rejected + run.skipped:
            typer.echo(f"not proposed: {problem}", err=True)
        typer.echo(f"{len(run.proposed)} proposals recorded")
    if run.rejected:
        raise typer.Exit(1)


@credit_app.command("approve")
def credit_approve(learner: str, course: str,
                   registrar: str = typer.Option(..., "--by", help="The approving registrar's id."),
                   as_json: bool = JsonOption) -> None:
    """Approve the learner's latest proposal: records `credit.awarded` with its full basis."""
    registrar = valid_id(registrar, "--by", as_json)
    from consumers.credit_engine import CreditError, approve

    try:
        result = approve(open_ledger(as_json=as_json), learner, course, registrar)
    except CreditError as error:
        fail(str(error), as_json=as_json)
    if as_json:
        emit_json({"ok": True, **result})
    else:
        # The recorded approver: approving again records nothing, so --by may name someone else.
        typer.echo(f"{result['status']}: {result['credits']} credit(s) in {course} for {learner}, "
                   f"approved by {result['approved_by']} ({result['credit_event_id']})")


@credit_app.command("confirm")
def credit_confirm(learner: str, course: str,
                   registrar: str = typer.Option(..., "--by", help="The reviewing registrar's id."),
                   note: Optional[str] = typer.Option(None, "--note", help="What the review found; kept in the ledger."),
                   as_json: bool = JsonOption) -> None:
    """Record a registrar's review of a flagged award (`credit.confirmed`): the ledger re-evaluates
    the rule with the voided evidence removed and clears the flag only if it still holds."""
    registrar = valid_id(registrar, "--by", as_json)
    from consumers.credit_engine import CreditError, confirm

    try:
        result = confirm(open_ledger(as_json=as_json), learner, course, registrar, note)
    except CreditError as error:
        fail(str(error), as_json=as_json)
    if as_json:
        emit_json({"ok": True, **result})
    else:
        typer.echo(f"{result['status']}: {course} for {learner} confirmed by {result['confirmed_by']}; "
                   f"re-evaluated: {result['re_evaluation']} ({result['confirmation_event_id']})")


@credit_app.command("revoke")
def credit_revoke(learner: str, course: str,
                  registrar: str = typer.Option(..., "--by", help="The revoking registrar's id."),
                  reason: str = typer.Option(..., "--reason", help="Why; kept in the ledger."),
                  as_json: bool = JsonOption) -> None:
    """Revoke an awarded credit (a new event; the award stays in the ledger)."""
    registrar = valid_id(registrar, "--by", as_json)
    from consumers.credit_engine import CreditError, revoke

    try:
        result = revoke(open_ledger(as_json=as_json), learner, course, registrar, reason)
    except CreditError as error:
        fail(str(error), as_json=as_json)
    if as_json:
        emit_json({"ok": True, **result})
    else:
        typer.echo(f"revoked {course} for {learner} ({result['revocation_event_id']})")


@credit_app.command("list")
def credit_list(status: Optional[str] = typer.Option(None, help="Only this status (proposed, approved, stale, awarded, "
                                                                 "flagged, revoked)."),
                as_json: bool = JsonOption) -> None:
    """Proposals and awards from the `credit_audit` read model."""
    from cli.context import open_projections
    from projections.queries import credits

    try:
        rows = credits(open_projections(as_json), status=status)
    except ValueError as error:
        fail(f"--status: {error}", as_json=as_json)
    from cli.privacy import reveal

    rows = reveal(rows)  # a flag's or a revocation's reason is sealed in the read model
    if as_json:
        emit_json(rows)
        return
    for r in rows:
        typer.echo(f"{r['learner_id']}  {r['course_id']:<8} {r['kind']:<8} {r['status']:<9} {r['credit_event_id']}"
                   + (f"  {r['note']}" if r["note"] else ""))


@credit_app.command("badge")
def credit_badge(learner: str, course: str,
                 out: Optional[Path] = typer.Option(None, "--out", help="Write the credential here."),
                 issuer: str = typer.Option("urn:mastery-ledger:district", "--issuer"),
                 issuer_name: str = typer.Option("District registrar", "--issuer-name"),
                 sign: bool = typer.Option(False, "--sign", help="Sign it (eddsa-rdfc-2022) with the issuer's key, "
                                                                 "with a revocation status entry."),
                 as_jwt: bool = typer.Option(False, "--jwt", help="With --sign: as a VC-JWT (EdDSA, kid = the "
                                                                  "issuer's key) instead of a Data Integrity proof."),
                 with_anchor: bool = typer.Option(False, "--anchor", help="With --sign: carry the checkpoint anchor "
                                                  "(signed, under an inline context term that verifiers pinning "
                                                  "context URLs refuse)."),
                 as_json: bool = JsonOption,
                 ) -> None:
    """The awarded credit as an Open Badges 3.0 credential (unsigned JSON, or --sign); refused, with
    the reason, for a revoked or flagged award, or when the log does not verify."""
    if (as_jwt or with_anchor) and not sign:
        fail(f"{'--jwt' if as_jwt else '--anchor'}: goes with --sign (the unsigned badge always carries the anchor)",
             as_json=as_json)
    if sign:
        return _signed_badge(learner, course, out, as_json, as_jwt, with_anchor)
    from credentials.badges import open_badge
    from ledger.streams import CATALOG_KEY
    from projections.credential_checks import badge_refusal

    ledger = open_ledger(as_json=as_json)
    refusal = badge_refusal(ledger, learner, course)
    if refusal:
        fail(refusal, as_json=as_json)
    awards = [e.event for e in ledger.learner_events(learner)
              if e.event["type"] == "credit.awarded" and e.event["payload"]["course_id"] == course]
    catalog = [e.event for e in ledger.stream_events(CATALOG_KEY)]
    course_def = [e["payload"] for e in catalog if e["type"] == "course.defined" and e["payload"]["course_id"] == course][-1]
    competencies = {c["id"]: c for e in catalog if e["type"] == "framework.published" for c in e["payload"]["competencies"]}
    from ledger.proofs import decision_anchor  # the award's checkpoint and inclusion proofs travel with it
    from projections.audit import recorded_by

    text = json.dumps(open_badge(awards[-1], course_def, competencies, issuer_id=issuer, issuer_name=issuer_name,
                                 anchor=decision_anchor(ledger, awards[-1]),
                                 sources=recorded_by(ledger.learner_events(learner))), indent=2)
    if out:
        out.write_text(text + "\n")
        if as_json:
            emit_json({"ok": True, "out": str(out), "credential_id": f"urn:uuid:{awards[-1]['event_id']}"})
        else:
            typer.echo(f"wrote {out}")
    else:
        typer.echo(text)  # the credential is JSON already, with or without --json


def _signed_badge(learner: str, course: str, out: Optional[Path], as_json: bool, as_jwt: bool = False,
                  with_anchor: bool = False) -> None:
    from cli.context import settings
    from credentials.issuer import IssuerError
    from credentials.service import badge, badge_jwt
    from projections.credential_checks import Refusal

    try:
        ledger, home = open_ledger(as_json=as_json), settings().home
        if as_jwt:
            return _jwt_badge(badge_jwt(ledger, home, learner, course, with_anchor=with_anchor), out, as_json)
        doc = badge(ledger, home, learner, course, with_anchor=with_anchor)
    except (Refusal, IssuerError) as error:
        fail(str(error), as_json=as_json)
    text = json.dumps(doc, indent=2)
    if out:
        out.write_text(text + "\n")
        if as_json:
            emit_json({"ok": True, "out": str(out), "credential_id": doc["id"],
                       "status": doc["credentialStatus"]["id"]})
        else:
            typer.echo(f"wrote {out} (signed by {doc['proof']['verificationMethod']})")
    else:
        typer.echo(text)


def _jwt_badge(token: str, out: Optional[Path], as_json: bool) -> None:
    if out:
        out.write_text(token + "\n")
    if as_json:
        emit_json({"ok": True, "out": str(out) if out else None, "jwt": token})
    elif out:
        typer.echo(f"wrote {out} (VC-JWT)")
    else:
        typer.echo(token)


def audit(
    learner: str,
    course: str,
    fmt: str = typer.Option("text", "--format", help="text, json or html"),
    out: Optional[Path] = typer.Option(None, "--out", help="Write the report here instead of printing it."),
    as_json: bool = typer.Option(False, "--json", help="Print JSON (the same as --format json)."),
) -> None:
    """How a credit was earned: decision, rule, evidence, voids, sign-offs, timeline, and every hash re-checked."""
    from projections.audit import AuditError, build_audit, render_text
    from projections.audit_html import render_html

    if as_json and fmt not in ("text", "json"):
        fail(f"--json and --format {fmt}: choose one", as_json=True)
    fmt = "json" if as_json else fmt
    if fmt not in ("text", "json", "html"):
        fail(f"--format {fmt!r}: choose text, json or html")
    try:
        report = build_audit(open_ledger(as_json=fmt == "json"), learner, course)
    except AuditError as error:
        fail(str(error), as_json=fmt == "json")
    text = {"text": render_text, "html": render_html,
            "json": lambda a: json.dumps(a, indent=2, default=str)}[fmt](report)
    if out:
        out.write_text(text if text.endswith("\n") else text + "\n", encoding="utf-8")
        from cli.context import settings
        from ledger.erasure import note_audit_copy

        note_audit_copy(settings().home, learner, out)  # erasure deletes it (it holds the plaintext)
        if as_json:
            emit_json({"ok": report["verification"]["ok"], "out": str(out),
                       "verification": report["verification"]["line"]})
        else:
            typer.echo(f"wrote {out}: {report['verification']['line']}")
    else:
        typer.echo(text)
    if not report["verification"]["ok"]:
        raise typer.Exit(1)


def register(app: typer.Typer) -> None:
    app.add_typer(framework_app, name="framework")
    app.add_typer(credit_app, name="credit")
    app.command("audit")(audit)
