"""Opening the ledger and its read models for a command, with one-line reasons when they are missing."""

from __future__ import annotations

from datetime import date, datetime
from pathlib import Path

from cli.output import fail
from ledger.application import Ledger
from ledger.config import Settings


def settings() -> Settings:
    return Settings.load()


def open_ledger(*, must_exist: bool = True, as_json: bool = False) -> Ledger:
    current = settings()
    if must_exist and current.is_sqlite and not Path(current.store).exists():
        fail(f"no ledger at {current.store}; run `ledger init` (or `ledger demo`) first", as_json=as_json)
    return Ledger(current)


def open_projections(as_json: bool):
    """A read-only DuckDB connection to the official read models."""
    from projections import official

    current = settings()
    if not current.projections.exists():
        fail(f"no projections at {current.projections}; run `ledger project` first", as_json=as_json)
    try:
        # A follower holds the file only while it writes a batch: wait that out.
        return official.connect(current.projections, read_only=True, wait=READ_WAIT_SECONDS)
    except Exception as error:  # DuckDB raises its own IOException while a writer holds the file
        fail(f"cannot open {current.projections}: {held_reason(error)}", as_json=as_json)


READ_WAIT_SECONDS = 5.0


def held_reason(error: BaseException) -> str:
    """One line for a DuckDB file another process holds, naming who usually does."""
    from projections import official

    first = str(error).splitlines()[0] if str(error) else type(error).__name__
    first = first.split(". See also ")[0]
    if official.locked(error):
        return (f"{first} (another process is writing it: `ledger serve` keeps its read models open, "
                "a long `ledger project` holds them until done; try again, or point LEDGER_PROJECTIONS elsewhere)")
    return first


def when(value: str | None, option: str, as_json: bool) -> date | datetime | None:
    """A command-line date (YYYY-MM-DD, the whole day) or ISO datetime, or a one-line refusal."""
    if value is None:
        return None
    from projections.queries import parse_moment

    try:
        return parse_moment(value)
    except ValueError as error:
        fail(f"{option} {error}", as_json=as_json)


def operational_reason(error: BaseException) -> str | None:
    """One line for an operational condition a command met (a DuckDB file held or broken, a
    Kafka broker away), or None for anything else. Only libraries already loaded are asked,
    so no command imports DuckDB or Kafka to find out."""
    import sys

    duckdb = sys.modules.get("duckdb")
    if duckdb is not None and isinstance(error, duckdb.Error):
        return f"read models: {held_reason(error)}"
    kafka_errors = sys.modules.get("kafka.errors")
    if kafka_errors is not None and isinstance(error, kafka_errors.KafkaError):
        return kafka_reason(error, settings().kafka_bootstrap)
    return None


def kafka_reason(error: BaseException, bootstrap: str | None) -> str:
    """`Kafka at HOST: KafkaTimeoutError: Unable to bootstrap …; is the broker running …?` (kafka-python's
    messages often start with the exception's name already: say it once)."""
    name, text = type(error).__name__, str(error)
    said = text if text.startswith(name) else f"{name}: {text}" if text else name
    return f"Kafka at {bootstrap}: {said}; is the broker running (`ledger broker status`)?"


def log_to_stderr(level: int | None = None) -> None:
    """One greppable line per record on stderr: `2026-03-02T10:15:00Z INFO ledger.project batch position=…`.
    Long-running commands (followers, `serve`) log at INFO; the rest only warnings."""
    import logging
    import time as _time

    root = logging.getLogger()
    if not root.handlers:
        handler = logging.StreamHandler()
        formatter = logging.Formatter("%(asctime)s %(levelname)s %(name)s %(message)s", "%Y-%m-%dT%H:%M:%SZ")
        formatter.converter = _time.gmtime
        handler.setFormatter(formatter)
        root.addHandler(handler)
        root.setLevel(logging.WARNING)
        # kafka-python logs every lost connection at ERROR with a traceback: our own retry lines say it once.
        logging.getLogger("kafka").setLevel(logging.CRITICAL)
    if level is not None:
        logging.getLogger("ledger").setLevel(level)
        logging.getLogger("consumers").setLevel(level)


def open_kafka_reader(current: Settings, as_json: bool, follow: bool):
    """`ledger.events` as a reader. A follower started while the broker is away waits for it,
    as the relay and the ingest do; a one-off run says so in one line."""
    import logging
    import time

    from kafka.errors import KafkaError

    from consumers.kafka_reader import KafkaEventReader
    from consumers.topics import Names

    failures = 0
    while True:
        try:
            return KafkaEventReader(current.kafka_bootstrap, Names.from_env())
        except KafkaError as error:
            if not follow:
                raise
            failures += 1
            logging.getLogger("ledger.project").warning("Kafka at %s: %s: %s; retrying (attempt %d)",
                                                        current.kafka_bootstrap, type(error).__name__, error,
                                                        failures)
            time.sleep(min(0.5 * failures, 10.0))
        except RuntimeError as error:  # the topic is missing: `ledger init` creates it
            fail(str(error), as_json=as_json)


def valid_id(value: str, option: str, as_json: bool) -> str:
    """An id given on the command line, checked up front, so a refusal names the option the user
    typed (`--by`) rather than the event field it would have filled (`actor.id`)."""
    from pydantic import TypeAdapter, ValidationError

    from ledger.events import Id

    try:
        return TypeAdapter(Id).validate_python(value)
    except ValidationError:
        fail(f"{option}: {value!r} is not a valid id (letters, digits . _ : - only, starting with a letter "
             "or digit, at most 128)", as_json=as_json)
