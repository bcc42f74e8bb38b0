"""Research commands (`ledger replay`, `ledger models ...`, `ledger export`), registered on the main app."""

from __future__ import annotations

import typer


def register(app: typer.Typer) -> None:
    """Add the research commands to `app`."""
