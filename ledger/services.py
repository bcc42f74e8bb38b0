"""Use cases the entrypoints share: posting a batch of lines and reporting what happened."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from ledger.application import Ledger


@dataclass
class PostReport:
    accepted: int = 0
    duplicate: int = 0
    rejected: int = 0
    rejections: list[dict[str, Any]] = field(default_factory=list)

    @property
    def total(self) -> int:
        return self.accepted + self.duplicate + self.rejected

    def as_dict(self) -> dict[str, Any]:
        return {"accepted": self.accepted, "duplicate": self.duplicate, "rejected": self.rejected,
                "rejections": self.rejections}


def post_lines(
    ledger: Ledger,
    lines: Iterable[tuple[int, str | bytes]],
    *,
    on_outcome: Callable[[int], None] | None = None,
    now: datetime | None = None,
) -> PostReport:
    """Record numbered lines (number, text); blank lines are not events and are skipped.

    A rejected line never stops the lines around it from being recorded."""
    numbered = [(number, text) for number, text in lines if text.strip()]
    report = PostReport()
    for outcome in ledger.post((text for _, text in numbered), now=now):
        setattr(report, outcome.status, getattr(report, outcome.status) + 1)
        if outcome.rejection is not None:
            report.rejections.append({
                "line": numbered[outcome.index][0],
                "event_id": outcome.event_id,
                "field": outcome.rejection.field,
                "reason": outcome.rejection.reason,
                "problems": outcome.rejection.as_dicts(),  # every (field, reason), the first one included
                "message": str(outcome.rejection),
            })
        if on_outcome is not None:
            on_outcome(1)
    return report
