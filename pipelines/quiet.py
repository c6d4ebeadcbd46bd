"""Known noise of the libraries we use, silenced at the source so that what the console shows is ours.

Beam logs "apitools not found ..." on the root logger whenever its GCP modules are imported
without the ``gcp`` extra (nothing of ours needs them: ``gs://`` paths need the extra and say so).
The filter drops exactly those messages and nothing else.
"""

from __future__ import annotations

import logging

#: (logger name, start of the message) of records that say nothing to a reverse-o1 user
KNOWN_NOISE: tuple[tuple[str, str], ...] = (
    ("root", "apitools not found, and bigquery client libraries are not available"),
    ("apache_beam.transforms.core", "Using yield and return in the process method"),
)


class KnownNoise(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        message = str(record.msg)
        return not any(record.name == name and message.startswith(start) for name, start in KNOWN_NOISE)


def install() -> None:
    """Attach the filter to each logger that emits known noise (idempotent)."""
    for name in {name for name, _ in KNOWN_NOISE}:
        logger = logging.getLogger() if name == "root" else logging.getLogger(name)
        if not any(isinstance(f, KnownNoise) for f in logger.filters):
            logger.addFilter(KnownNoise())
