"""The learner's CLR 2.0 `ClrCredential`: every credit that may be issued, each as its own signed
OpenBadgeCredential, the course achievements and their competencies, and associations from each
course to the competencies it counted (the competencies align to CASE items themselves)."""

from __future__ import annotations

import uuid
from pathlib import Path
from typing import Any

from credentials import issuer as issuers
from credentials.contexts import CLR_V2, OB_V3, VC_V2
from credentials.service import badge, now, signed
from projections.credential_checks import Refusal


class TranscriptError(ValueError):
    """No transcript can be made; the message says why."""


def _competency(alignment: dict[str, Any]) -> dict[str, Any]:
    return {"id": f"urn:mastery-ledger:competency:{alignment['targetCode']}", "type": ["Achievement"],
            "achievementType": "Competency", "name": alignment["targetName"], "humanCode": alignment["targetCode"],
            "criteria": {"narrative": f"Mastery of {alignment['targetName']} shown on the ledger's evidence."},
            "alignment": [alignment]}


def transcript(badges: list[dict[str, Any]], issuer: issuers.Issuer, learner: str) -> dict[str, Any]:
    achievements: dict[str, dict[str, Any]] = {}
    associations = []
    for credential in badges:
        course = credential["credentialSubject"]["achievement"]
        achievements[course["id"]] = course
        for alignment in course.get("alignment", []):
            competency = _competency(alignment)
            achievements.setdefault(competency["id"], competency)
            associations.append({"type": "Association", "associationType": "isParentOf",
                                 "sourceId": course["id"], "targetId": competency["id"]})
    return {
        "@context": [VC_V2, CLR_V2, OB_V3],
        "id": f"urn:uuid:{uuid.uuid4()}",
        "type": ["VerifiableCredential", "ClrCredential"],
        "issuer": {"id": issuer.did, "type": ["Profile"], "name": issuer.name},
        "validFrom": now(),
        "name": f"Mastery transcript of {learner}",
        "credentialSubject": {
            "type": ["ClrSubject"],
            "identifier": [{"type": "IdentityObject", "identityHash": learner, "identityType": "identifier",
                            "hashed": False}],
            "verifiableCredential": badges,
            "achievement": list(achievements.values()),
            "association": associations,
        },
    }


def signed_transcript(ledger: Any, home: Path, learner: str) -> tuple[dict[str, Any], list[str]]:
    """The signed ClrCredential and, for each awarded course left out, why."""
    try:
        stream = ledger.learner_events(learner)
    except ValueError as error:
        raise TranscriptError(f"{learner}'s record cannot be read: {error}") from None
    courses = list(dict.fromkeys(e.event["payload"]["course_id"] for e in stream if e.event["type"] == "credit.awarded"))
    if not courses:
        raise TranscriptError(f"{learner} holds no awarded credit")
    badges, skipped = [], []
    for course in courses:
        try:
            badges.append(badge(ledger, home, learner, course))
        except Refusal as refusal:
            skipped.append(f"{course}: {refusal}")
    return signed(transcript(badges, issuers.load_or_default(home), learner), issuers.load_or_default(home)), skipped
