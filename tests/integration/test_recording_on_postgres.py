"""The ledger's invariants on the PostgreSQL store: eventsourcing's own PostgreSQL recorder, on the
project's own server (`scripts/postgres`), each test in a schema of its own."""

import inspect
import json
import multiprocessing
import os
import subprocess
import sys

import pytest
from psycopg import sql

from ledger.application import Ledger, store_env
from ledger.canonical import GENESIS, chain_hash
from ledger.config import ConfigError, Settings
from tests import factories as f
from tests.conftest import ROOT, free_port, make_pg_ledger
from tests.integration import test_recording_on_sqlite as on_sqlite


@pytest.fixture
def ledger(pg_ledger):
    """In this module, a test that asks for `ledger` gets one on PostgreSQL."""
    return pg_ledger


# Every posting-behaviour test of the SQLite module that needs nothing but a ledger runs here too,
# on PostgreSQL (through the `ledger` fixture above), save the one that reads the SQLite file itself.
_READS_THE_SQLITE_FILE = {"test_each_event_is_chained_to_the_one_before_it_in_its_learners_stream"}
for _name, _test in vars(on_sqlite).items():
    if (_name.startswith("test_") and inspect.isfunction(_test) and _name not in _READS_THE_SQLITE_FILE
            and list(inspect.signature(_test).parameters) == ["ledger"]):
        globals()[_name] = _test


def post(ledger, *docs):
    return list(ledger.post([f.line(d) for d in docs]))


def statuses(outcomes):
    return [o.status for o in outcomes]


def test_the_ledger_records_through_the_postgres_recorder(ledger):
    assert type(ledger.recorder).__module__ == "eventsourcing.postgres"
    assert ledger.recorder.datastore.schema == ledger.env.get("POSTGRES_SCHEMA")


def test_accepted_then_duplicate_then_conflict(ledger):
    evidence = f.assessment("L1")
    assert statuses(post(ledger, *f.setup(), evidence))[-1] == "accepted"
    head = ledger.head_position()
    assert statuses(post(ledger, evidence)) == ["duplicate"]
    changed = {**evidence, "payload": {**evidence["payload"], "score": 1.0}}
    [conflict] = post(ledger, changed)
    assert conflict.status == "rejected" and "conflict" in conflict.rejection.reason
    assert ledger.head_position() == head
    assert [e.event["payload"]["score"] for e in ledger.learner_events("L1")[1:]] == [3.0]
    assert ledger.verify().ok


def test_each_event_is_chained_to_the_one_before_it_in_its_learners_stream(ledger):
    post(ledger, *f.setup(), f.assessment("L1"), f.assessment("L1", "C2", 2.0))
    table = sql.Identifier(ledger.env.get("POSTGRES_SCHEMA"), "ledger_events")
    with ledger.recorder.datastore.transaction(commit=False) as cursor:
        cursor.execute(sql.SQL("SELECT state FROM {} WHERE topic LIKE %s ORDER BY notification_id").format(table),
                       ("%Stream.Recorded",))
        rows = [json.loads(bytes(row["state"])) for row in cursor.fetchall()]
    learner_rows = [state for state in rows if json.loads(state["body"]).get("learner_id") == "L1"]
    assert len(learner_rows) == 3
    previous = GENESIS
    for state in learner_rows:
        assert state["hash"] == chain_hash(previous, state["body"])
        previous = state["hash"]


def test_two_ledgers_in_two_schemas_never_meet(pg_store, postgres_url, tmp_path):
    from tests.conftest import drop_schema

    other_schema = f"{pg_store.rsplit('=', 1)[1]}_other"
    first = make_pg_ledger(pg_store)
    second = make_pg_ledger(f"{postgres_url}?schema={other_schema}")
    try:
        post(first, *f.setup(), f.assessment("L1"))
        assert second.head_position() == 0 and second.learner_events("L1") == []
        assert statuses(post(second, *f.setup()))[-1] == "accepted"
        assert len(first.learner_events("L1")) == 2
    finally:
        first.close()
        second.close()
        drop_schema(postgres_url, other_schema)


def test_two_writer_processes_on_the_same_learners_lose_no_event(pg_store):
    on_sqlite.two_writers_post_to_the_same_learners(pg_store)


def _opener(store_url, home, rounds, barrier, conn):
    failures = []
    for _ in range(rounds):
        barrier.wait(60)
        try:
            make_pg_ledger(store_url, home).close()
        except Exception as error:  # reported to the parent, which names it
            failures.append(f"{type(error).__name__}: {error}")
    conn.send(failures)


def test_processes_opening_the_same_store_at_once_all_open_it(ledger, pg_store, tmp_path):
    # Opening an existing store must run no DDL: eventsourcing replaces its insert function on every
    # create_table, and two processes doing that at once used to fail with "tuple concurrently updated".
    # They open it with the ledger's own home, whose master key the store's key store was made with.
    ctx = multiprocessing.get_context("spawn")
    barrier = ctx.Barrier(4)
    pipes, procs = [], []
    for _ in range(4):
        parent, child = ctx.Pipe()
        proc = ctx.Process(target=_opener, args=(pg_store, tmp_path / "ledger", 6, barrier, child))
        proc.start()
        child.close()
        pipes.append(parent)
        procs.append(proc)
    try:
        failures = []
        for pipe in pipes:
            assert pipe.poll(180), "an opening process did not finish"
            failures += pipe.recv()
    finally:
        for proc in procs:
            proc.join(60)
            if proc.is_alive():
                proc.kill()
    assert failures == []


# --- configuration --------------------------------------------------------------------------------


def test_store_env_gives_eventsourcing_its_postgres_settings(postgres_url):
    env = store_env(Settings.load({"LEDGER_STORE": f"{postgres_url}?schema=public"}))
    assert env["PERSISTENCE_MODULE"] == "eventsourcing.postgres"
    assert (env["POSTGRES_HOST"], env["POSTGRES_DBNAME"], env["POSTGRES_USER"]) == ("127.0.0.1", "ledger", "postgres")
    assert env["POSTGRES_PORT"] == postgres_url.rsplit(":", 1)[1].split("/")[0]
    assert env["POSTGRES_SCHEMA"] == "public" and env["POSTGRES_PASSWORD"] == ""


@pytest.mark.parametrize("url, reason", [
    ("postgresql://127.0.0.1:5433/ledger", "expected postgresql://USER"),
    ("postgresql://postgres@127.0.0.1:5433/", "expected postgresql://USER"),
    ("postgresql://postgres@127.0.0.1:99999/ledger", "not a valid PostgreSQL URL"),
    ("postgresql://postgres@127.0.0.1:5433/ledger?colour=blue", "unknown parameter 'colour'"),
    ("postgresql://postgres@127.0.0.1:5433/ledger?schema=a;drop", "not a plain SQL name"),
])
def test_a_malformed_store_url_is_a_configuration_error(url, reason):
    with pytest.raises(ConfigError, match=reason):
        Ledger(Settings.load({"LEDGER_STORE": url}))


def test_an_unreachable_store_is_a_one_line_configuration_error_that_hides_the_password():
    url = f"postgresql://postgres:s3cret@127.0.0.1:{free_port()}/ledger"
    with pytest.raises(ConfigError) as raised:
        Ledger(Settings.load({"LEDGER_STORE": url}))
    message = str(raised.value)
    assert "\n" not in message and "s3cret" not in message
    assert "cannot use this PostgreSQL store" in message and "refused" in message


def test_the_cli_names_a_missing_database_in_one_line(postgres_url, tmp_path):
    env = {**os.environ, "LEDGER_HOME": str(tmp_path), "LEDGER_STORE": postgres_url.rsplit("/", 1)[0] + "/nothere"}
    done = subprocess.run([sys.executable, "-m", "cli", "events", "L1"], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 2
    assert done.stderr.count("\n") == 1 and "Traceback" not in done.stderr
    assert done.stderr.startswith("error: configuration:") and 'database "nothere" does not exist' in done.stderr


def test_the_cli_posts_and_reads_back_on_postgres(pg_store, tmp_path):
    env = {**os.environ, "LEDGER_HOME": str(tmp_path), "LEDGER_STORE": pg_store}
    lines = tmp_path / "events.jsonl"
    lines.write_text("".join(f.line(d) + "\n" for d in [*f.setup(), f.assessment("L1")]))

    def cli(*args):
        return subprocess.run([sys.executable, "-m", "cli", *args], cwd=ROOT, env=env,
                              capture_output=True, text=True, timeout=120)

    assert cli("init").returncode == 0
    posted = cli("post", str(lines))
    assert posted.returncode == 0, posted.stderr
    assert "accepted 4, duplicate 0, rejected 0" in posted.stdout
    assert "duplicate 4" in cli("post", str(lines)).stdout
    shown = cli("events", "L1", "--json")
    assert shown.returncode == 0, shown.stderr
    assert [e["type"] for e in json.loads(shown.stdout)] == ["learner.enrolled", "assessment.recorded"]
