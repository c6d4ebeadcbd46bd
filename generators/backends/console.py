"""Whether this process may draw progress on the console: stderr is a terminal and ``--quiet`` was
not given (the CLI sets ``REVERSE_O1_NO_PROGRESS``; worker processes inherit it). The stage
kernel's bars (``pipelines.stage.progress``) and the backends' own messages ask the same question here."""

from __future__ import annotations

import os
import sys

NO_PROGRESS = "REVERSE_O1_NO_PROGRESS"


def show_progress() -> bool:
    return sys.stderr.isatty() and not os.environ.get(NO_PROGRESS)
