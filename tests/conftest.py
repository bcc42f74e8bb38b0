import os

import pytest

from ledger.application import Ledger
from ledger.config import Settings

# `LEDGER_TEST_STORE=postgres pytest` runs the suite with every test's ledger on the project's
# PostgreSQL, each test in a schema of its own; tests marked `sqlite_only` (they open the SQLite
# file itself) are deselected, and say so in the summary.
STORE_UNDER_TEST = os.environ.get("LEDGER_TEST_STORE", "sqlite")
if STORE_UNDER_TEST not in ("sqlite", "postgres"):
    raise pytest.UsageError(f"LEDGER_TEST_STORE must be sqlite or postgres, not {STORE_UNDER_TEST!r}")

# The CLI refuses to read a learner's record without a stated purpose (the record of
# disclosures); the suite's runs state one. tests/e2e/test_privacy_http_cli.py unsets it.
os.environ.setdefault("LEDGER_PURPOSE", "test suite")

_OPENED: list[tuple[Ledger, str]] = []  # PostgreSQL pass: ledgers to close, schemas to drop
_HOMES: dict[str, str] = {}  # PostgreSQL pass: this test's homes and their stores


def make_ledger(home) -> Ledger:
    """A ledger in `home`. On the PostgreSQL pass each home gets a schema of its own, as each
    home gets a file of its own on SQLite: the same home, the same store. The test's first home
    gets the store in LEDGER_STORE, so `ledger` commands run by the test with that home agree."""
    if STORE_UNDER_TEST != "postgres":
        return Ledger(Settings.load({"LEDGER_HOME": str(home)}))
    key = str(Path(home).resolve())
    if key not in _HOMES:
        _HOMES[key] = (os.environ["LEDGER_STORE"] if not _HOMES
                       else f"{os.environ['LEDGER_TEST_PG_URL']}?schema=h_{uuid.uuid4().hex[:16]}")
    store = _HOMES[key]
    ledger = Ledger(Settings.load({"LEDGER_STORE": store, "LEDGER_HOME": str(home)}))
    _OPENED.append((ledger, store.rsplit("schema=", 1)[1]))
    return ledger


def pytest_collection_modifyitems(config, items):
    if STORE_UNDER_TEST != "postgres":
        return
    kept = [item for item in items if item.get_closest_marker("sqlite_only") is None]
    deselected = [item for item in items if item.get_closest_marker("sqlite_only") is not None]
    if deselected:
        config.hook.pytest_deselected(items=deselected)
        items[:] = kept


@pytest.fixture(autouse=True)
def _store_under_test(request, monkeypatch):
    """On the PostgreSQL pass, LEDGER_STORE names a fresh schema for this test (subprocesses inherit it)."""
    if STORE_UNDER_TEST != "postgres":
        yield
        return
    postgres_url = request.getfixturevalue("postgres_url")
    schema = f"t_{uuid.uuid4().hex[:16]}"
    monkeypatch.setenv("LEDGER_STORE", f"{postgres_url}?schema={schema}")
    monkeypatch.setenv("LEDGER_TEST_PG_URL", postgres_url)
    yield
    monkeypatch.delenv("LEDGER_STORE")
    _HOMES.clear()
    schemas = {schema}
    while _OPENED:
        ledger, opened = _OPENED.pop()
        ledger.close()
        schemas.add(opened)
    for name in schemas:
        drop_schema(postgres_url, name)


@pytest.fixture
def ledger(tmp_path) -> Ledger:
    return make_ledger(tmp_path / "ledger")


import socket
import uuid
from dataclasses import dataclass
from pathlib import Path


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def broker_config(data_dir: Path):
    from consumers.kafka_broker import BrokerConfig

    return BrokerConfig(data_dir=data_dir, port=free_port(), controller_port=free_port(), heap="384m")


@pytest.fixture(scope="session")
def kafka_broker(tmp_path_factory):
    """One real Kafka broker for the session. If it cannot start, the tests fail; they never skip."""
    from consumers.kafka_broker import start, stop

    cfg = broker_config(tmp_path_factory.mktemp("kafka"))
    start(cfg, timeout=120)
    yield cfg
    stop(cfg)


@dataclass
class KafkaSpace:
    """A broker and a topic prefix of a test's own, so tests sharing the broker never meet."""

    bootstrap: str
    names: object
    partitions: int

    def env(self, home: Path) -> dict:
        import os

        return {**os.environ, "LEDGER_HOME": str(home), "LEDGER_KAFKA_BOOTSTRAP": self.bootstrap,
                "LEDGER_KAFKA_PREFIX": self.names.prefix, "LEDGER_KAFKA_PARTITIONS": str(self.partitions)}


@pytest.fixture
def kafka(kafka_broker) -> KafkaSpace:
    from consumers.topics import Names, ensure_topics

    names = Names(prefix=f"t{uuid.uuid4().hex[:8]}.")
    ensure_topics(kafka_broker.bootstrap, names, event_partitions=4)
    return KafkaSpace(kafka_broker.bootstrap, names, 4)


# --- PostgreSQL ---------------------------------------------------------------------------------

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="session")
def postgres_url() -> str:
    """The project's own PostgreSQL server (`scripts/postgres start`, which installs and creates it
    when missing), left running for later sessions. If it cannot start, the tests fail; they never skip."""
    import subprocess

    script = str(ROOT / "scripts" / "postgres")
    started = subprocess.run([script, "start"], capture_output=True, text=True, timeout=900)
    if started.returncode != 0:
        pytest.fail(f"scripts/postgres start failed (exit {started.returncode}):\n{started.stdout}{started.stderr}",
                    pytrace=False)
    return subprocess.run([script, "url"], capture_output=True, text=True, check=True).stdout.strip()


def drop_schema(postgres_url: str, schema: str) -> None:
    import psycopg
    from psycopg import sql

    with psycopg.connect(postgres_url, autocommit=True) as conn:
        conn.execute(sql.SQL("DROP SCHEMA IF EXISTS {} CASCADE").format(sql.Identifier(schema)))


@pytest.fixture
def pg_store(postgres_url):
    """A PostgreSQL LEDGER_STORE URL with a schema of this test's own (created on first use, dropped after)."""
    schema = f"t_{uuid.uuid4().hex[:16]}"
    yield f"{postgres_url}?schema={schema}"
    drop_schema(postgres_url, schema)


def make_pg_ledger(store_url: str, home=None) -> Ledger:
    environ = {"LEDGER_STORE": store_url}
    if home is not None:
        environ["LEDGER_HOME"] = str(home)
    return Ledger(Settings.load(environ))


@pytest.fixture
def pg_ledger(pg_store, tmp_path):
    """A Ledger on the project's PostgreSQL, in a fresh schema."""
    ledger = make_pg_ledger(pg_store, tmp_path / "ledger")
    yield ledger
    ledger.close()
