"""1EdTech CASE packages (CFDocument, CFItems, CFAssociations) as a `framework.published` event.

Takes both shapes seen in the wild: CASE 1.0 REST exports (UUID identifiers, `originNodeURI` /
`destinationNodeURI` link objects) and pre-1.0 OpenSALT exports (`originNodeIdentifier` /
`destinationNodeIdentifier`, URIs as identifiers). Strict: an association that points at
nothing, an item with two parents, or a repeated identifier is an error naming the culprit.
"""

from __future__ import annotations

import re
import uuid
from typing import Any

_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._:-]{0,127}$")
_NAMESPACE = uuid.uuid5(uuid.NAMESPACE_URL, "urn:mastery-ledger:case")


class CaseImportError(ValueError):
    pass


def _node(association: dict[str, Any], end: str) -> str:
    link = association.get(f"{end}NodeURI")
    if isinstance(link, dict) and link.get("identifier"):
        return str(link["identifier"])
    if association.get(f"{end}NodeIdentifier"):
        return str(association[f"{end}NodeIdentifier"])
    raise CaseImportError(f"association {association.get('identifier', '?')} has no {end} node")


def _competency_id(item: dict[str, Any], taken: set[str]) -> str:
    # Prefer the code people read (humanCodingScheme); else a stable id derived from the GUID.
    code = (item.get("humanCodingScheme") or "").strip()
    if code and _ID.match(code) and code not in taken:
        return code
    identifier = str(item["identifier"])
    try:
        return f"case-{uuid.UUID(identifier)}"
    except ValueError:
        return f"case-{uuid.uuid5(_NAMESPACE, identifier)}"


def _title(item: dict[str, Any]) -> str:
    text = (item.get("abbreviatedStatement") or item.get("fullStatement") or item.get("humanCodingScheme") or "").strip()
    if not text:
        raise CaseImportError(f"CFItem {item['identifier']} has no statement")
    return text if len(text) <= 300 else text[:299] + "…"


def framework_payload(package: dict[str, Any], *, framework_id: str | None = None, version: int = 1,
                      scale: dict[str, float] | None = None) -> dict[str, Any]:
    """The payload of a `framework.published` event for a CASE package (or bare export)."""
    if not isinstance(package, dict):
        raise CaseImportError("a CASE package is a JSON object")
    package = package.get("CFPackage", package)
    for key in ("CFDocument", "CFItems", "CFAssociations"):
        if key not in package:
            raise CaseImportError(f"not a CASE package: {key} is missing")
    document = package["CFDocument"]
    if not document.get("identifier") or not document.get("title"):
        raise CaseImportError("CFDocument needs an identifier and a title")
    items = package["CFItems"]
    if not items:
        raise CaseImportError("the package has no CFItems")
    by_identifier: dict[str, dict[str, Any]] = {}
    for item in items:
        if not item.get("identifier"):
            raise CaseImportError("a CFItem has no identifier")
        if str(item["identifier"]) in by_identifier:
            raise CaseImportError(f"CFItem {item['identifier']} appears twice")
        by_identifier[str(item["identifier"])] = item
    parents: dict[str, str | None] = {}
    document_id = str(document["identifier"])
    for association in package["CFAssociations"]:
        if association.get("associationType") != "isChildOf":
            continue  # exactMatchOf, precedes, ... are not part of the hierarchy
        child, parent = _node(association, "origin"), _node(association, "destination")
        if child not in by_identifier:
            raise CaseImportError(f"association {association.get('identifier')} starts at unknown item {child}")
        if parent != document_id and parent not in by_identifier:
            raise CaseImportError(f"association {association.get('identifier')} points at unknown node {parent}")
        if child in parents:
            raise CaseImportError(f"CFItem {child} has two parents")
        parents[child] = None if parent == document_id else parent
    ids: dict[str, str] = {}
    for identifier, item in by_identifier.items():
        ids[identifier] = _competency_id(item, set(ids.values()))
    competencies = []
    for identifier, item in by_identifier.items():
        statement = (item.get("fullStatement") or "").strip()
        competencies.append({
            "id": ids[identifier], "title": _title(item),
            "parent_id": ids[parents[identifier]] if parents.get(identifier) else None,
            "case_guid": identifier, **({"statement": statement[:4000]} if statement else {}),
        })
    if framework_id is None:
        framework_id = _competency_id({"identifier": document_id}, set())
    return {
        "framework_id": framework_id, "title": str(document["title"])[:300], "version": version,
        "scale": scale or {"min": 1, "max": 4, "mastery_threshold": 3},
        "competencies": competencies, "case_document_guid": document_id,
        "source": f"CASE package {document_id}" + (f" by {document['creator']}" if document.get("creator") else ""),
    }
