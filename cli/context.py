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
        return official.connect(current.projections, read_only=True)
    except Exception as error:  # DuckDB raises its own IOException while a writer holds the file
        fail(f"cannot open {current.projections}: {str(error).splitlines()[0]}", as_json=as_json)


def when(value: str | None, option: str, as_json: bool) -> date | datetime | None:
    """A command-line date (YYYY-MM-DD, the whole day) or ISO datetime, or a one-line refusal."""
    if value is None:
        return None
    from projections.queries import parse_moment

    try:
        return parse_moment(value)
    except ValueError as error:
        fail(f"{option} {error}", as_json=as_json)
