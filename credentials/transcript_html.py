"""The transcript a reader takes in two minutes: one self-contained, printable HTML page (Jinja2,
autoescaped, no external assets) listing each credit, the standards behind it and its evidence."""

from __future__ import annotations

from typing import Any

from jinja2 import Environment, PackageLoader, select_autoescape

_ENV = Environment(loader=PackageLoader("credentials", "templates"), autoescape=select_autoescape(["html", "j2"]))


def render(clr: dict[str, Any], not_included: list[str] = ()) -> str:
    subject = clr["credentialSubject"]
    credits = [{"name": c["credentialSubject"]["achievement"]["name"],
                "code": c["credentialSubject"]["achievement"].get("humanCode"),
                "credits": c["credentialSubject"].get("creditsEarned"),
                "awarded": c["validFrom"][:10], "id": c["id"],
                "criteria": c["credentialSubject"]["achievement"].get("criteria", {}).get("narrative"),
                "standards": c["credentialSubject"]["achievement"].get("alignment", []),
                "evidence": c.get("evidence", []),
                "audit": f"ledger audit {subject['identifier'][0]['identityHash']} "
                         f"{c['credentialSubject']['achievement'].get('humanCode')}"}
               for c in subject["verifiableCredential"]]
    return _ENV.get_template("transcript.html.j2").render(
        clr=clr, learner=subject["identifier"][0]["identityHash"], credits=credits,
        total=sum(c["credits"] or 0 for c in credits), not_included=list(not_included),
        proof=clr.get("proof", {}))
