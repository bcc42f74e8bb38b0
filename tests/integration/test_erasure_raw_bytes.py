"""A planted personal string, searched for in every copy the ledger makes: the store (the SQLite
file's bytes, or the PostgreSQL table), every message of `ledger.events` read with kcat, the
DuckDB projections and a Parquet export. Before erasure: ciphertext only; after: the key is gone
from the key store, the ciphertext opens to nothing, and `verify` passes both times."""

import json
import subprocess
import sys
from pathlib import Path

import duckdb

from tests import factories as f
from tests.conftest import STORE_UNDER_TEST, make_ledger

SECRET = "Planted-Secret-Ana-Sousa-7731"
TOKEN = "pd1:L1:"


def run(env, *args, stdin=None):
    done = subprocess.run([sys.executable, "-m", "cli", *args], env=env, input=stdin, capture_output=True,
                          text=True, timeout=300)
    assert done.returncode == 0, done.stdout + done.stderr
    return done.stdout


def kcat_messages(kafka) -> bytes:
    done = subprocess.run(["kcat", "-C", "-b", kafka.bootstrap, "-t", kafka.names.events, "-e", "-q",
                           "-X", "isolation.level=read_committed", "-f", "%k\t%s\n"], capture_output=True, timeout=60)
    assert done.returncode == 0, done.stderr.decode()
    return done.stdout


def store_bytes(home: Path, ledger) -> bytes:
    """The store as bytes: the SQLite files themselves, or every stored row of the PostgreSQL table."""
    if STORE_UNDER_TEST != "postgres":
        return b"".join(p.read_bytes() for p in home.glob("ledger.db*"))
    datastore = ledger.recorder.datastore
    with datastore.get_connection() as conn, conn.cursor() as cursor:
        cursor.execute(f'SELECT state FROM "{datastore.schema}".{ledger.recorder.events_table_name}')
        return b"".join(bytes(row["state"] if isinstance(row, dict) else row[0]) for row in cursor.fetchall())


def key_store_bytes(home: Path, ledger) -> bytes:
    if STORE_UNDER_TEST != "postgres":
        return b"".join(p.read_bytes() for p in home.glob("ledger.keys.db*"))
    return b"".join(r.wrapped or b"" for r in ledger.shredder.keys.rows().values())


def duckdb_strings(path: Path) -> str:
    """Every value of every table of a DuckDB file as text (its storage compresses strings, so its
    raw bytes alone would prove little)."""
    con = duckdb.connect(str(path), read_only=True)
    try:
        tables = [t for (t,) in con.execute("SELECT table_name FROM information_schema.tables").fetchall()]
        return "\n".join(repr(con.execute(f'SELECT * FROM "{t}"').fetchall()) for t in tables)
    finally:
        con.close()


def parquet_strings(directory: Path) -> str:
    con = duckdb.connect()
    return "\n".join(repr(con.execute("SELECT * FROM read_parquet(?)", [str(p)]).fetchall())
                     for p in sorted(directory.glob("*.parquet")))


def test_a_planted_string_is_ciphertext_everywhere_and_unrecoverable_after_erasure(kafka, tmp_path):
    home = tmp_path / "home"
    env = kafka.env(home)
    ledger = make_ledger(home)
    score = f.assessment("L1")
    posted = [*f.setup(["L1", "L2"]), score, f.voided("L1", score, reason=f"mixed up with {SECRET}")]
    assert {o.status for o in ledger.post([f.line(d) for d in posted])} == {"accepted"}
    # One more through Kafka ingest, which records as `ledger post` does.
    plan = f.event("plan.set", {"plan_id": "p1", "title": f"plan of {SECRET}", "goals": ["C1"],
                                "target_date": "2026-06-01"}, learner="L1", actor=f.ADVISOR)
    subprocess.run(["kcat", "-P", "-b", kafka.bootstrap, "-t", kafka.names.submissions, "-K", "\t"],
                   input=b"L1\t" + f.line(plan).encode() + b"\n", check=True, timeout=60)
    assert json.loads(run(env, "ingest", "--json"))["accepted"] == 1
    run(env, "relay")
    run(env, "project")
    run(env, "export", "--parquet", str(tmp_path / "before"))

    copies = {"store": store_bytes(home, ledger), "kafka": kcat_messages(kafka),
              "duckdb": (home / "projections.duckdb").read_bytes() + duckdb_strings(home / "projections.duckdb").encode(),
              "parquet": parquet_strings(tmp_path / "before").encode()}
    for name, data in copies.items():
        assert SECRET.encode() not in data, name
    for name in ("store", "kafka"):
        assert data_has(copies[name], TOKEN), name
    assert TOKEN in duckdb_strings(home / "projections.duckdb")  # the void reason and the plan title, sealed
    assert SECRET in run(env, "events", "L1", "--json")  # a reader with the key sees plaintext
    assert json.loads(run(env, "verify", "--json"))["ok"]
    wrapped = ledger.shredder.keys.rows(["L1"])["L1"].wrapped
    assert wrapped and wrapped in key_store_bytes(home, ledger)
    sealed = [line for line in copies["kafka"].decode().splitlines() if TOKEN in line]

    erased = json.loads(run(env, "erase", "L1", "--reason", "data_subject_request", "--by", "office", "--json"))
    assert erased["status"] == "erased"
    run(env, "relay")
    run(env, "project")
    run(env, "export", "--parquet", str(tmp_path / "after"))
    ledger.shredder.forget()
    after = {"store": store_bytes(home, ledger), "kafka": kcat_messages(kafka),
             "duckdb": duckdb_strings(home / "projections.duckdb").encode(),
             "parquet": parquet_strings(tmp_path / "after").encode(), "keys": key_store_bytes(home, ledger)}
    for name, data in after.items():
        assert SECRET.encode() not in data, name
    assert wrapped not in after["keys"]  # the wrapped key's bytes are gone from the key store
    assert ledger.shredder.keys.rows(["L1"])["L1"].wrapped is None
    # What Kafka still holds opens to nothing, in a fresh process too.
    fresh = make_ledger(home)
    opened = fresh.shredder.reveal([json.loads(line.split("\t", 1)[1]) for line in sealed])
    assert SECRET not in json.dumps(opened) and "[erased]" in json.dumps(opened)
    shown = run(env, "events", "L1", "--json")
    assert SECRET not in shown and "[erased]" in shown
    assert json.loads(run(env, "verify", "--json"))["ok"]
    # Scores and dates stay under the pseudonym; the other learner is untouched.
    events = json.loads(shown)
    assert [e["payload"]["score"] for e in events if e["type"] == "assessment.recorded"] == [3.0]
    assert "person.erased" in {e["type"] for e in events}
    # The Parquet export leaves the erased learner out, and keeps the others.
    def exported(name):
        return {learner for (learner,) in duckdb.connect().execute(
            "SELECT DISTINCT learner_id FROM read_parquet(?)", [str(tmp_path / name / "learner.parquet")]).fetchall()}
    assert exported("before") == {"L1", "L2"} and exported("after") == {"L2"}


def data_has(data: bytes, text: str) -> bool:
    return text.encode() in data
