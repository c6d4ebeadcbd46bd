"""Kept for the DoFns that still import it from here; the bars live in ``pipelines.io.progress``."""

from pipelines.io.progress import Progress

__all__ = ["Progress"]
