"""The one way downstream code reads the ledger: "give me the events after position P".

Served by the store's notification log (embedded default) or by Kafka's `ledger.events`;
readers depend on this port, never on where the events come from."""

from __future__ import annotations

from typing import Protocol

from ledger.application import LoggedEvent


class EventReader(Protocol):
    def read(self, after: int = 0, limit: int = 10_000) -> list[LoggedEvent]:
        """Recorded events with position > `after`, in global order, at most `limit`."""
        ...

    def head_position(self) -> int:
        """The position of the newest recorded event (0 when empty)."""
        ...
