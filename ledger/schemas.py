"""JSON Schemas of the catalogue, one file per event type and version, generated from the models."""

from __future__ import annotations

import json
from pathlib import Path

from ledger.events import MODELS

SCHEMA_DIR = Path(__file__).resolve().parents[1] / "schemas"


def generated() -> dict[str, str]:
    """File name -> schema text, for every (type, version) in the catalogue."""
    out = {}
    for (type_, version), model in sorted(MODELS.items()):
        schema = model.model_json_schema()
        schema["$id"] = f"urn:mastery-ledger:event:{type_}:v{version}"
        out[f"{type_}.v{version}.json"] = json.dumps(schema, indent=2, sort_keys=True) + "\n"
    return out


def drift(directory: Path = SCHEMA_DIR) -> list[str]:
    """Names of schema files that are missing, stale or no longer generated."""
    expected = generated()
    present = {p.name for p in directory.glob("*.json")} if directory.is_dir() else set()
    problems = [f"{name}: missing" for name in sorted(expected.keys() - present)]
    problems += [f"{name}: no model generates it" for name in sorted(present - expected.keys())]
    problems += [
        f"{name}: differs from its model"
        for name in sorted(expected.keys() & present)
        if (directory / name).read_text() != expected[name]
    ]
    return problems


def write(directory: Path = SCHEMA_DIR) -> list[str]:
    directory.mkdir(parents=True, exist_ok=True)
    expected = generated()
    for stale in directory.glob("*.json"):
        if stale.name not in expected:
            stale.unlink()
    for name, text in expected.items():
        (directory / name).write_text(text)
    return sorted(expected)
