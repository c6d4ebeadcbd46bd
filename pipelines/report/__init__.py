"""``reverse-o1 report DIR -o FILE``: a self-contained HTML report of an output folder, in pictures.

``render_report`` is what the CLI writes and the studio serves. Imports nothing heavy until it is
called (the CLI imports this package to build its parser for every command).
"""

from __future__ import annotations


def render_report(folder: str) -> str:
    """The whole HTML document for ``folder`` (local, ``gs://``, ``s3://``); ConfigError when it is no folder."""
    from pipelines.report.data import load_figures
    from pipelines.report.html import render

    return render(load_figures(folder))
