"""How every command speaks: JSON on request, one-line failures, progress on stderr."""

from __future__ import annotations

import json
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any, NoReturn

import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn


def emit_json(value: Any) -> None:
    typer.echo(json.dumps(value, indent=2, default=str))


def fail(reason: str, *, as_json: bool = False, code: int = 1) -> NoReturn:
    if as_json:
        emit_json({"ok": False, "error": reason})
    else:
        typer.echo(f"error: {reason}", err=True)
    raise typer.Exit(code)


@contextmanager
def progress_bar(description: str, total: int | None, *, enabled: bool = True) -> Iterator[Any]:
    """Yields advance(n) and set_total(n); draws on stderr only when it is a terminal."""
    if not enabled or not sys.stderr.isatty():
        yield _Silent()
        return
    columns = [TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeRemainingColumn()]
    with Progress(*columns, transient=True, console=Console(stderr=True)) as bar:
        task = bar.add_task(description, total=total)
        yield _Bar(bar, task)


class _Silent:
    def advance(self, n: int = 1) -> None:
        pass

    def update(self, completed: int, total: int | None = None) -> None:
        pass


class _Bar:
    def __init__(self, bar: Progress, task: Any) -> None:
        self.bar, self.task = bar, task

    def advance(self, n: int = 1) -> None:
        self.bar.advance(self.task, n)

    def update(self, completed: int, total: int | None = None) -> None:
        self.bar.update(self.task, completed=completed, total=total)
