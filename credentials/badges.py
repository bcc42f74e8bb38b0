"""An awarded credit as an Open Badges 3.0 `OpenBadgeCredential` (unsigned).

`evidence` lists the ledger events the award rests on (with their hashes); the achievement's
`alignment` points at the CASE items of the counted competencies (`targetType: CFItem`), the
bridge from mastery to credential that OB 3.0 defines. `anchor` (from `ledger.proofs.decision_anchor`)
is the signed checkpoint the award was decided under and inclusion proofs of the award and each
basis event: `ledger verify-proof` (or `ledger.proofs.check_document`) checks them with only the
ledger's public key.
"""

from __future__ import annotations

from typing import Any

CONTEXT = ["https://www.w3.org/ns/credentials/v2", "https://purl.imsglobal.org/spec/ob/v3p0/context-3.0.3.json"]


def open_badge(award: dict[str, Any], course: dict[str, Any], competencies: dict[str, dict[str, Any]],
               *, issuer_id: str, issuer_name: str, anchor: dict[str, Any] | None = None,
               sources: dict[str, dict[str, Any]] | None = None) -> dict[str, Any]:
    """`award`: the stored credit.awarded event; `course`: its course.defined payload;
    `competencies`: competency id -> framework competency (for titles and CASE GUIDs)."""
    p = award["payload"]
    alignment = []
    for state in p["competency_states"]:
        if not state["counted"]:
            continue
        competency = competencies.get(state["competency_id"], {})
        guid = competency.get("case_guid")
        alignment.append({
            "type": ["Alignment"],
            "targetName": competency.get("title", state["competency_id"]),
            "targetCode": state["competency_id"],
            "targetType": "CFItem" if guid else "ceasn:Competency",
            "targetUrl": (guid if str(guid).startswith("http") else f"urn:uuid:{guid}") if guid
            else f"urn:mastery-ledger:competency:{state['competency_id']}",
        })
    evidence = [{
        "id": f"urn:uuid:{item['event_id']}",
        "type": ["Evidence"],
        "name": f"{item['type']} {item['event_id']}",
        "description": (f"score {item['score']} on {state['competency_id']}" if item.get("score") is not None
                        else f"{item.get('decision')} by {item.get('actor_id')}")
        + f"; ledger position {item['position']}; sha256 {item['hash']}",
        # Which school recorded the piece (a former one after a transfer), and the partner of
        # external evidence: what `sources` (projections.audit.recorded_by) says of it.
        **({"narrative": (sources or {})[item["event_id"]]["source_line"]} if item["event_id"] in (sources or {}) else {}),
    } for state in p["competency_states"] if state["counted"] for item in state["evidence"] + state["sign_offs"]]
    return {
        "@context": CONTEXT,
        "id": f"urn:uuid:{award['event_id']}",
        "type": ["VerifiableCredential", "OpenBadgeCredential"],
        "name": f"{course['title']} credit",
        "issuer": {"id": issuer_id, "type": ["Profile"], "name": issuer_name},
        "validFrom": award["recorded_at"],
        "credentialSubject": {
            "type": ["AchievementSubject"],
            "identifier": [{"type": "IdentityObject", "identityHash": award["learner_id"],
                            "identityType": "identifier", "hashed": False}],
            "creditsEarned": p["credits"],
            "achievement": {
                "id": f"urn:mastery-ledger:course:{course['course_id']}:rule:{p['rule']['version']}",
                "type": ["Achievement"],
                "achievementType": "Course",
                "name": course["title"],
                "description": f"Credit for {course['title']}, awarded on demonstrated mastery.",
                "criteria": {"narrative": f"Credit rule {p['rule']['kind']} version {p['rule']['version']}, "
                                          f"approved by {p['approved_by']}."},
                "creditsAvailable": course["credits"],
                "humanCode": course["course_id"],
                "alignment": alignment,
            },
        },
        "evidence": evidence,
        **({"anchor": anchor} if anchor is not None else {}),
    }
