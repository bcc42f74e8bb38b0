"""CASE packages become frameworks that keep their GUIDs; the importer is strict."""

import copy
import json
from pathlib import Path

import pytest

from ledger.case_import import CaseImportError, framework_payload
from tests import factories as f

FIXTURE = json.loads((Path(__file__).parents[1] / "fixtures" / "case_small.json").read_text())
REAL = f.SHARED_DATA / "case"


def publish(ledger, payload):
    doc = f.event("framework.published", payload)
    [outcome] = ledger.post([f.line(doc)])
    return outcome


def test_a_small_case_package_becomes_a_framework_whose_competencies_keep_their_guids(ledger):
    payload = framework_payload(FIXTURE, framework_id="sci-practices")
    assert publish(ledger, payload).status == "accepted"
    [stored] = [e.event for e in ledger.stream_events("catalog")]
    by_guid = {c["case_guid"]: c for c in stored["payload"]["competencies"]}
    assert set(by_guid) == {i["identifier"] for i in FIXTURE["CFItems"]}
    assert by_guid["6a0c1f3e-1111-4c1a-8d1e-000000000002"]["id"] == "SP.1.a"
    assert by_guid["6a0c1f3e-1111-4c1a-8d1e-000000000002"]["parent_id"] == "SP.1"
    assert by_guid["6a0c1f3e-1111-4c1a-8d1e-000000000003"]["id"] == "case-6a0c1f3e-1111-4c1a-8d1e-000000000003"
    assert stored["payload"]["case_document_guid"] == FIXTURE["CFDocument"]["identifier"]


def test_an_association_to_nowhere_is_named():
    broken = copy.deepcopy(FIXTURE)
    broken["CFAssociations"][1]["destinationNodeURI"]["identifier"] = "00000000-dead-4000-8000-000000000000"
    with pytest.raises(CaseImportError, match="a5500000-0000-4000-8000-000000000002 points at unknown node"):
        framework_payload(broken)


def test_an_item_with_two_parents_is_refused():
    broken = copy.deepcopy(FIXTURE)
    extra = copy.deepcopy(broken["CFAssociations"][2])
    extra["identifier"] = "a5500000-0000-4000-8000-000000000009"
    extra["destinationNodeIdentifier"] = "6a0c1f3e-1111-4c1a-8d1e-000000000001"
    broken["CFAssociations"].append(extra)
    with pytest.raises(CaseImportError, match="two parents"):
        framework_payload(broken)


def test_something_that_is_not_a_case_package_says_what_is_missing():
    with pytest.raises(CaseImportError, match="CFItems is missing"):
        framework_payload({"CFDocument": {}, "CFAssociations": []})


def test_the_act_case_1_0_export_from_opensalt_imports_with_its_guids(ledger):
    package = json.loads((REAL / "act_holistic_framework_math_excerpt.json").read_text())
    payload = framework_payload(package)
    assert publish(ledger, payload).status == "accepted"
    assert len(payload["competencies"]) == 28
    assert {c["case_guid"] for c in payload["competencies"]} == {i["identifier"] for i in package["CFItems"]}
    roots = [c for c in payload["competencies"] if c["parent_id"] is None]
    assert [r["id"] for r in roots] == ["H.A.MATH.GM"]


def test_the_pre_1_0_common_core_export_imports_its_whole_hierarchy(ledger):
    package = json.loads((REAL / "ccss_math_opensalt_sample.json").read_text())
    payload = framework_payload(package, framework_id="ccss-math")
    assert publish(ledger, payload).status == "accepted"
    assert len(payload["competencies"]) == 703
    assert all(c["case_guid"].startswith("http") for c in payload["competencies"])
    assert sum(c["parent_id"] is None for c in payload["competencies"]) == 17  # children of the document
