"""Both stores the ledger can use keep the recorder contract: eventsourcing's own recorder test cases,
run against the SQLite recorder in a file and the PostgreSQL recorder on the project's own server.

The recorders are made as the ledger makes them: from `store_env` of a LEDGER_STORE, through
eventsourcing's infrastructure factory. The library's test cases are imported as a module so that
pytest does not collect its abstract classes on their own.
"""

from __future__ import annotations

import re
import threading

import pytest
from eventsourcing.persistence import InfrastructureFactory
from eventsourcing.postgres import PostgresAggregateRecorder, PostgresApplicationRecorder
from eventsourcing.sqlite import SQLiteAggregateRecorder, SQLiteApplicationRecorder
from eventsourcing.tests import persistence as contract
from eventsourcing.utils import Environment

from ledger.application import store_env
from ledger.config import Settings


_POOL_THREAD = re.compile(r"pool-\d+-(scheduler|worker-\d+)")


class _FromLedgerStore:
    """Recorders from the ledger's own store settings; each test gets a store of its own."""

    store: str
    env: dict[str, str]
    factories: list[InfrastructureFactory]
    threads_before: set[threading.Thread]

    def factory(self) -> InfrastructureFactory:
        factory = InfrastructureFactory.construct(Environment("ledger", {**store_env(Settings.load(
            {"LEDGER_STORE": self.store})), **self.env}))
        self.factories.append(factory)
        return factory

    def close_factories(self) -> None:
        # The library's concurrency cases stop their reader threads without joining them;
        # closing a SQLite connection under a thread still inside execute() crashed the
        # interpreter (seen once, on a loaded machine). Let those threads finish first.
        # Not the PostgreSQL pool's own scheduler and workers: they end only when the pool is
        # closed, so waiting for them cost 40 s a test.
        for thread in threading.enumerate():
            if (thread not in self.threads_before and thread is not threading.current_thread()
                    and not _POOL_THREAD.fullmatch(thread.name)):
                thread.join(timeout=10)
        for factory in self.factories:
            factory.close()


class OnSQLite(_FromLedgerStore):
    @pytest.fixture(autouse=True)
    def _sqlite_store(self, tmp_path):
        self.store = str(tmp_path / "ledger.db")
        # The library's concurrency cases write from ten threads at once.
        self.env = {"SQLITE_POOL_SIZE": "20"}
        self.factories = []
        self.threads_before = set(threading.enumerate())
        yield
        self.close_factories()


class OnPostgres(_FromLedgerStore):
    @pytest.fixture(autouse=True)
    def _postgres_store(self, pg_store):
        self.store = pg_store
        # The library's concurrency cases write from ten threads at once.
        self.env = {"POSTGRES_POOL_SIZE": "12", "POSTGRES_MAX_OVERFLOW": "0"}
        self.factories = []
        self.threads_before = set(threading.enumerate())
        yield
        self.close_factories()


class TestSQLiteAggregateRecorder(OnSQLite, contract.AggregateRecorderTestCase):
    def create_recorder(self):
        recorder = self.factory().aggregate_recorder()
        assert isinstance(recorder, SQLiteAggregateRecorder)
        return recorder


class TestSQLiteApplicationRecorder(OnSQLite, contract.ApplicationRecorderTestCase):
    def create_recorder(self):
        recorder = self.factory().application_recorder()
        assert isinstance(recorder, SQLiteApplicationRecorder)
        return recorder


class TestPostgresAggregateRecorder(OnPostgres, contract.AggregateRecorderTestCase):
    def create_recorder(self):
        recorder = self.factory().aggregate_recorder()
        assert isinstance(recorder, PostgresAggregateRecorder)
        return recorder


class TestPostgresApplicationRecorder(OnPostgres, contract.ApplicationRecorderTestCase):
    def create_recorder(self):
        recorder = self.factory().application_recorder()
        assert isinstance(recorder, PostgresApplicationRecorder)
        return recorder

    def test_insert_subscribe(self) -> None:
        # Optional in the library's contract (SQLite has no subscriptions); PostgreSQL keeps it.
        self.optional_test_insert_subscribe()
