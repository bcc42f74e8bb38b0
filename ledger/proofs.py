"""Proofs that travel with decisions: an audit's or a badge's `anchor` (the first signed checkpoint
covering the decision, and an inclusion proof for the decision and each basis event), and the
checks a holder runs on it with nothing but the ledger's public key (`ledger verify-proof`)."""

from __future__ import annotations

from typing import Any

from ledger import checkpoints, merkle
from ledger.anchor import AnchorError, leaf_data
from ledger.checkpoints import Checkpoint


def check_anchor(anchor: dict[str, Any], public_key: Any) -> list[str]:
    """Problems with an anchor (empty: every proof holds), using only the anchor and the public key
    (a PEM text, raw hex, or key object). Each proof shows that an event with that id and stored
    hash was leaf `leaf_index` of the log whose signed checkpoint is given."""
    problems = []
    try:
        key = public_key if hasattr(public_key, "verify") else checkpoints.load_public_key(public_key)
        checkpoint = Checkpoint.from_dict(anchor.get("checkpoint"), "anchor checkpoint")
        checkpoints.check_signature(checkpoint, key)
    except checkpoints.CheckpointError as error:
        return [str(error)]
    for proof in anchor.get("proofs") or []:
        try:
            leaf = merkle.leaf_hash(leaf_data(proof["stream"], int(proof["version"]), proof["event_id"], proof["hash"]))
            merkle.verify_inclusion(leaf, int(proof["leaf_index"]), checkpoint.tree_size,
                                    [bytes.fromhex(h) for h in proof["path"]], bytes.fromhex(checkpoint.root))
        except (KeyError, TypeError, ValueError) as error:
            problems.append(f"event {proof.get('event_id')}: {error}")
    if not anchor.get("proofs"):
        problems.append("the anchor carries no inclusion proofs")
    return problems


def position_of(recorder: Any, stream: Any, version: int) -> int | None:
    """The log position (notification id) of a stream's event at `version`, by the store's index."""
    from eventsourcing.sqlite import SQLiteAggregateRecorder

    if isinstance(recorder, SQLiteAggregateRecorder):
        with recorder.datastore.transaction(commit=False) as cursor:
            cursor.execute(f"SELECT rowid FROM {recorder.events_table_name} WHERE originator_id = ? "
                           "AND originator_version = ?", [stream.hex, version])
            row = cursor.fetchone()
        return row[0] if row else None
    from psycopg.sql import SQL, Identifier

    statement = SQL("SELECT notification_id FROM {schema}.{table} WHERE originator_id = %s "
                    "AND originator_version = %s").format(schema=Identifier(recorder.datastore.schema),
                                                          table=Identifier(recorder.events_table_name))
    with recorder.datastore.get_connection() as conn, conn.cursor() as cursor:
        cursor.execute(statement, [stream, version])
        row = cursor.fetchone()
    if not row:
        return None
    return next(iter(row.values())) if isinstance(row, dict) else row[0]


def cited_events(document: dict[str, Any]) -> dict[str, str | None]:
    """Event id -> hash (when the document states it) of the events an audit or badge rests on."""
    cited: dict[str, str | None] = {}
    for item in document.get("evidence") or []:  # an Open Badge
        if isinstance(item, dict) and str(item.get("id", "")).startswith("urn:uuid:"):
            description = str(item.get("description", ""))
            cited[item["id"][9:]] = description.rsplit("sha256 ", 1)[1][:64] if "sha256 " in description else None
    decision = document.get("decision") if isinstance(document.get("decision"), dict) else None
    if decision and decision.get("event_id"):  # an audit
        cited[str(decision["event_id"])] = decision.get("hash")
        for state in document.get("competencies") or []:
            for item in state.get("evidence") or []:
                cited[str(item["event_id"])] = item.get("hash")
    return cited


def check_document(document: Any, public_key: Any) -> tuple[list[str], list[str]]:
    """(event ids proven, problems) for an audit, a badge or a bare anchor: the anchor holds, and
    every event the document cites is proven with the hash the document states."""
    if not isinstance(document, dict):
        return [], ["not a JSON object"]
    anchor = document.get("anchor", document)
    if isinstance(anchor, dict) and anchor.get("unavailable"):
        return [], [f"the document's anchor could not be made: {anchor['unavailable']}"]
    if not isinstance(anchor, dict) or "proofs" not in anchor:
        return [], ["the document carries no anchor (it was made before checkpoints, or the decision is "
                    "not yet covered by one: run `ledger checkpoint` and make it again)"]
    problems = check_anchor(anchor, public_key)
    proven = {p.get("event_id"): p.get("hash") for p in anchor.get("proofs") or [] if isinstance(p, dict)}
    for event_id, stated in cited_events(document).items():
        if event_id not in proven:
            problems.append(f"event {event_id} is cited but the anchor has no proof for it")
        elif stated and stated != proven[event_id]:
            problems.append(f"event {event_id} is cited with hash {stated[:16]}…, the proof is for {proven[event_id][:16]}…")
    return ([] if problems else sorted(e for e in proven if e)), problems


def decision_anchor(ledger: Any, decision: dict[str, Any]) -> dict[str, Any]:
    """The anchor a credit decision (a recorded credit.proposed/awarded event) carries: the first
    checkpoint covering it and inclusion proofs of it and of every basis event, positions read from
    the store. {"unavailable": reason} when no such proof can be made from this log."""
    from ledger.streams import stream_id

    key = f"learner:{decision['learner_id']}"
    versions = {e.event["event_id"]: e.position for e in ledger.stream_events(key)}
    wanted = [str(decision["event_id"])] + [str(i["event_id"]) for s in decision["payload"]["competency_states"]
                                             for i in s["evidence"] + s["sign_offs"]]
    items, missing = [], []
    for event_id in dict.fromkeys(wanted):
        position = position_of(ledger.recorder, stream_id(key), versions[event_id]) if event_id in versions else None
        if position is None:
            missing.append(event_id)
        else:
            items.append((event_id, position))
    if missing:
        return {"unavailable": f"events not in {key}'s stream: {', '.join(missing)}"}
    try:
        made = ledger.anchor.anchor(ledger.recorder, items)
    except AnchorError as error:
        return {"unavailable": str(error)}
    return made or {"unavailable": "no signed checkpoint covers the decision yet (run `ledger checkpoint`)",
                    "pending": True}
