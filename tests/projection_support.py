"""Helpers shared by the projection tests: build read models and compare them row for row."""

from __future__ import annotations

from pathlib import Path

from projections import official


def table_rows(path: Path) -> dict[str, list[tuple]]:
    with official.connect(path, read_only=True) as con:
        return {t: con.execute(f"SELECT * FROM {t} ORDER BY ALL").fetchall() for t in official.TABLES}


def project_in_batches(events, path: Path, cuts=()) -> dict[str, list[tuple]]:
    """Apply `events` cut at the given indexes, each piece its own transaction."""
    bounds = sorted({0, len(events), *[c for c in cuts if 0 < c < len(events)]})
    with official.connect(path) as con:
        projection = official.OfficialProjection(con)
        for start, stop in zip(bounds, bounds[1:]):
            projection.apply(events[start:stop])
    return table_rows(path)
