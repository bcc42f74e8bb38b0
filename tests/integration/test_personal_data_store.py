"""Personal fields encrypted before hashing, decrypted at the one read point, erasable.

Against the real stores (SQLite file, or PostgreSQL on the PostgreSQL pass)."""

import hashlib

import pytest

from ledger.canonical import canonical_json
from ledger.config import ConfigError, Settings
from ledger.erasure import ErasureError, erase
from ledger.shredding import ERASED, PREFIX
from tests import factories as f
from tests.conftest import STORE_UNDER_TEST, make_ledger

SECRET = "Planted-Secret-Jane-Roe-4417"


def post(ledger, *docs):
    return [o.status for o in ledger.post([f.line(d) for d in docs])]


def seeded(ledger):
    score = f.assessment("L1")
    plan = f.event("plan.set", {"plan_id": "p1", "title": f"plan of {SECRET}", "goals": ["C1"],
                                "target_date": "2026-06-01"}, learner="L1", actor=f.ADVISOR)
    void = f.voided("L1", score, reason=f"mixed up with {SECRET}")
    l2_score = f.assessment("L2")
    other = f.voided("L2", l2_score, reason="keep me readable")
    docs = [*f.setup(["L1", "L2"]), l2_score, other, score, plan, void]
    assert set(post(ledger, *docs)) == {"accepted"}
    return docs, void


def test_stored_events_hold_ciphertext_and_readers_see_plaintext(ledger):
    docs, void = seeded(ledger)
    stored = {e.event["event_id"]: e for e in ledger.read()}
    body = stored[void["event_id"]].body
    assert SECRET not in body and PREFIX in body
    [read] = [e for e in ledger.learner_events("L1") if e.event["event_id"] == void["event_id"]]
    assert read.event["payload"]["reason"] == f"mixed up with {SECRET}"
    assert read.body == body  # the hashed body is what is stored
    assert ledger.verify().ok


def test_a_repost_is_a_duplicate_and_the_receipt_cannot_confirm_a_guess(ledger):
    docs, void = seeded(ledger)
    assert set(post(ledger, *docs)) == {"duplicate"}
    changed = {**void, "payload": {**void["payload"], "reason": "another text"}}
    assert post(ledger, changed) == ["rejected"]
    receipt = ledger._receipts([__import__("uuid").UUID(void["event_id"])])
    [fingerprint] = [r.fingerprint for r in receipt.values()]
    assert fingerprint != hashlib.sha256(canonical_json(void).encode()).hexdigest()


def test_erasure_shows_erased_keeps_scores_and_verify_passes(ledger):
    docs, void = seeded(ledger)
    done = erase(ledger, "L1", reason="data_subject_request", by="office")
    assert done.status == "erased" and done.keys_destroyed == 1
    events = ledger.learner_events("L1")
    texts = [e.event["payload"].get("reason") or e.event["payload"].get("title") for e in events]
    assert SECRET not in repr([e.event for e in events])
    assert texts.count(ERASED) == 2
    assert [e.event["payload"]["score"] for e in events if e.event["type"] == "assessment.recorded"] == [3.0]
    assert events[-1].event["type"] == "person.erased" and events[-1].event["payload"] == {
        "reason": "data_subject_request"}
    assert ledger.verify().ok
    assert ledger.learner_events("L2")[-1].event["payload"]["reason"] == "keep me readable"
    # idempotent, and nothing more is recorded about them
    assert erase(ledger, "L1", reason="other", by="office").status == "already erased"
    assert post(ledger, f.assessment("L1")) == ["rejected"]
    assert post(ledger, *docs[-2:]) == ["rejected", "rejected"]


def test_erasing_someone_unknown_or_with_a_bad_reason_changes_nothing(ledger):
    seeded(ledger)
    with pytest.raises(ErasureError, match="no learner 'nobody'"):
        erase(ledger, "nobody", reason="other", by="office")
    with pytest.raises(ErasureError, match="--reason must be one of"):
        erase(ledger, "L1", reason="because", by="office")
    with pytest.raises(ErasureError, match="actor.id"):
        erase(ledger, "L1", reason="other", by="not an id")
    assert f"mixed up with {SECRET}" in repr([e.event for e in ledger.learner_events("L1")])


def test_a_wrong_or_missing_master_key_is_a_one_line_error(ledger, tmp_path):
    seeded(ledger)
    wrong = tmp_path / "wrong.key"
    wrong.write_text("ab" * 32)
    env = {"LEDGER_HOME": str(tmp_path / "ledger")}
    if STORE_UNDER_TEST == "postgres":
        import os
        env["LEDGER_STORE"] = os.environ["LEDGER_STORE"]
    from ledger.application import Ledger
    with pytest.raises(ConfigError) as error:
        Ledger(Settings.load({**env, "LEDGER_MASTER_KEY_FILE": str(wrong)}))
    assert "not the master key" in str(error.value) and "\n" not in str(error.value)
    with pytest.raises(ConfigError) as error:
        Ledger(Settings.load({**env, "LEDGER_MASTER_KEY_FILE": str(tmp_path / "absent.key")}))
    assert "no such file" in str(error.value) and "\n" not in str(error.value)
    (tmp_path / "ledger" / "master.key").unlink()
    with pytest.raises(ConfigError, match="no such file"):
        Ledger(Settings.load(env))  # never a new key (and silent plaintext) for a store that has keys


def test_rotating_the_master_key_keeps_every_text_readable(ledger, tmp_path):
    seeded(ledger)
    from ledger.application import Ledger
    from ledger.shredding import new_master_key
    key, made = new_master_key(tmp_path / "new.key")
    assert made and ledger.shredder.rotate_master(key) == 2  # L1 and L2
    env = {"LEDGER_HOME": str(tmp_path / "ledger"), "LEDGER_MASTER_KEY_FILE": str(tmp_path / "new.key")}
    if STORE_UNDER_TEST == "postgres":
        import os
        env["LEDGER_STORE"] = os.environ["LEDGER_STORE"]
    reopened = Ledger(Settings.load(env))
    assert f"mixed up with {SECRET}" in repr([e.event for e in reopened.learner_events("L1")])
    with pytest.raises(ConfigError, match="not the master key"):
        Ledger(Settings.load({k: v for k, v in env.items() if k != "LEDGER_MASTER_KEY_FILE"}))
    reopened.close()
