"""Kept for projections.export, which writes a replay: the research code lives in `research/`."""

from research.replay import Replay  # noqa: F401
