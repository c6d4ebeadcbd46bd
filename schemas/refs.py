"""Record refs: where a record was read from, as dead letters and ``Source.path`` name it.

A ref is ``PATH:LINE`` for a JSONL line (1-based) or ``PATH#INDEX`` for an item of a JSON array
or a Parquet row (0-based); a whole file (one that cannot be read) is just ``PATH``. ``PATH`` is
a local path or a URI (``s3://bucket/key``, ``memfs://...``) and may itself hold ``:`` or ``#``.

Readers that build a ref also know its path and hand it on (``RawRecord.path``); ``ref_path``
is for code that only has the ref.
"""

from __future__ import annotations

import re

_POSITION = re.compile(r"[:#]\d+\Z")


def ref_path(ref: str) -> str:
    """The file a ref names: ``s3://b/in/x.jsonl:3`` → ``s3://b/in/x.jsonl``, ``/a/b.parquet#12`` →
    ``/a/b.parquet``. Only a trailing ``:DIGITS`` or ``#DIGITS`` is a position, so a scheme's ``:``
    and a ``:`` or ``#`` inside a folder name stay (``/data/run:2/x.jsonl:5`` → ``/data/run:2/x.jsonl``);
    a ref without a position is returned as it is."""
    return _POSITION.sub("", ref, count=1)
