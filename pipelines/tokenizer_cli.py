"""``reverse-o1 tokenizer --model DIR --out DIR``: the tag vocabulary as special tokens.

Writes the tokenizer of ``--model`` with ``<Think_Start>``, ``<Think_End>`` and each factor's
``<ACT_Name-Start>``/``<ACT_Name-End>`` (and each ``--extra-token``) added as special tokens, and
prints a JSON object with their ids. ``--resize-model`` also writes the model, its embeddings grown to the new vocabulary.
Only local folders are read: nothing is downloaded. Imports nothing heavy until it runs (the CLI
builds this parser for every command).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
import tempfile
from pathlib import Path
from typing import Any

from common.errors import ConfigError
from pipelines.command import Command

COPY_CHUNK = 1 << 20

TOKENIZER_FILES = ("tokenizer.json", "tokenizer_config.json", "tokenizer.model", "vocab.json")
WEIGHT_FILES = ("model.safetensors", "model.safetensors.index.json", "pytorch_model.bin", "pytorch_model.bin.index.json")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--model", help="a local Transformers model folder (default: the embedded SmolLM2-135M-Instruct)")
    parser.add_argument("--out", required=True, help="where the tokenizer (and with --resize-model the model) goes")
    parser.add_argument("--factors", help="thought-factor vocabulary YAML (default: the built-in one)")
    parser.add_argument("--extra-token", dest="extra_tokens", action="append", metavar="TOKEN",
                        help="one more string to add as a special token (repeatable), e.g. a trainer's step "
                             "placeholder such as OpenRLHF's ки")
    parser.add_argument("--resize-model", dest="resize_model", action="store_true", default=False,
                        help="also load the model, grow its embeddings to the new vocabulary (each new row the mean "
                             "of the rows of the pieces the tag was split into before) and save it to --out")


def _model_dir(model: str | None, scratch: Path) -> Path:
    """The local folder Transformers loads: the embedded model, ``--model`` itself when local, else
    its files copied through FileSystems (``gs://``, ``s3://``) into ``scratch``."""
    from pipelines.io import fs  # imports Beam: only when the command runs, not for --help

    if not model:
        from generators.backends.smollm import converted_model_dir

        try:
            return converted_model_dir()
        except FileNotFoundError as exc:
            raise ConfigError(f"--model not given and {exc}") from None
    if not fs.is_folder(model):
        raise ConfigError(f"--model {model}: not a directory (a Transformers model folder; nothing is downloaded)")
    path = Path(model) if fs.is_local(model) else scratch
    if not fs.is_local(model):
        for meta in fs.list_files(model):
            with fs.open_read(meta.path) as src, open(path / fs.basename(meta.path), "wb") as dst:
                shutil.copyfileobj(src, dst, COPY_CHUNK)
    if not any((path / name).is_file() for name in TOKENIZER_FILES):
        raise ConfigError(f"--model {model}: no tokenizer there (none of {', '.join(TOKENIZER_FILES)})")
    return path


def _out_dir(out: str) -> str:
    """``--out``, any FileSystems path: not a file; locally, a folder that can be made and written."""
    from pipelines.io import fs  # imports Beam: only when the command runs, not for --help

    if fs.exists(out) and not fs.is_folder(out):
        raise ConfigError(f"--out {out}: is a file, not a directory")
    if fs.is_local(out):
        path = Path(out)
        try:
            path.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise ConfigError(f"--out {out}: cannot create it ({exc.strerror or exc})") from None
        if not os.access(path, os.W_OK):
            raise ConfigError(f"--out {out}: cannot write in it")
    return out


def _same_folder(out: str, model_dir: Path) -> bool:
    from pipelines.io import fs  # imports Beam: only when the command runs, not for --help

    return fs.is_local(out) and Path(out).resolve() == model_dir.resolve()


def _embedding_rows(model_dir: Path) -> int | None:
    """The model's vocabulary size from its ``config.json`` (None where it has none)."""
    try:
        config = json.loads((model_dir / "config.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    size = config.get("vocab_size") if isinstance(config, dict) else None
    if size is None and isinstance(config, dict) and isinstance(config.get("text_config"), dict):
        size = config["text_config"].get("vocab_size")
    return size if isinstance(size, int) else None


def _brief(exc: BaseException) -> str:
    lines = str(exc).strip().splitlines()
    return f"{type(exc).__name__}: {lines[0]}" if lines else type(exc).__name__


def _save(out: str, *objects: Any) -> None:
    """``save_pretrained`` into a local scratch folder (Transformers writes only local files), then
    each file to ``out`` through FileSystems, whole or absent (``fs.open_write``). ``out`` may be
    ``--model`` itself: its weights, maybe still memory-mapped, are replaced by a rename."""
    from pipelines.io import fs  # imports Beam: only when the command runs, not for --help

    with tempfile.TemporaryDirectory(prefix="reverse-o1-tokenizer-") as staging:
        for obj in objects:
            obj.save_pretrained(staging)
        for item in sorted(Path(staging).iterdir()):
            with open(item, "rb") as src, fs.open_write(fs.join(out, item.name)) as dst:
                shutil.copyfileobj(src, dst, COPY_CHUNK)


def run(args: argparse.Namespace) -> int:
    from schemas.factors import FactorFileError, load_factors

    try:
        vocabulary = load_factors(args.factors)
    except FactorFileError as exc:
        raise ConfigError(f"--factors: {exc}") from None
    extra = list(getattr(args, "extra_tokens", None) or [])
    for token in extra:
        if not token.strip() or token != token.strip():
            raise ConfigError(f"--extra-token {token!r}: must be non-empty, without leading or trailing whitespace")
    with tempfile.TemporaryDirectory(prefix="reverse-o1-model-") as scratch:
        return _run(args, vocabulary, extra, _model_dir(args.model, Path(scratch)), _out_dir(args.out))


def _run(args: argparse.Namespace, vocabulary: Any, extra: list[str], model_dir: Path, out: str) -> int:
    from generators.tokenizer_vocab import (
        TagTokenError,
        add_tag_tokens,
        check_round_trip,
        resize_and_init,
        sample_tagged_text,
        tag_tokens,
    )

    where = args.model or str(model_dir)  # as the user named it (a remote --model is read from a local copy)
    if args.resize_model and not any((model_dir / name).is_file() for name in WEIGHT_FILES):
        raise ConfigError(f"--model {where}: no model weights there for --resize-model")

    from transformers import AutoTokenizer

    try:
        tokenizer = AutoTokenizer.from_pretrained(str(model_dir), local_files_only=True)
    except Exception as exc:  # a local folder: whatever breaks the load is the folder's fault
        raise ConfigError(f"--model {where}: cannot load its tokenizer ({_brief(exc)})") from None
    tokenizer.init_kwargs.pop("local_files_only", None)  # not a setting of the tokenizer: keep it out of the saved config
    tags_only = tag_tokens(vocabulary)
    tokens = tags_only + [t for t in dict.fromkeys(extra) if t not in tags_only]
    try:
        tags = add_tag_tokens(tokenizer, tokens)
        check_round_trip(tokenizer, tags_only, sample_tagged_text(vocabulary))
    except TagTokenError as exc:
        raise ConfigError(f"--model {where}: its tokenizer cannot hold the tags ({exc})") from None

    initialized: list[str] = []
    if args.resize_model:
        from transformers import AutoModelForCausalLM

        try:
            model = AutoModelForCausalLM.from_pretrained(str(model_dir), local_files_only=True, dtype="auto")
        except Exception as exc:
            raise ConfigError(f"--model {where}: cannot load the model ({_brief(exc)})") from None
        initialized = resize_and_init(model, tags, len(tokenizer))
        _save(out, model, tokenizer)
    else:
        rows = _embedding_rows(model_dir)
        if rows is not None and len(tokenizer) > rows:
            if _same_folder(out, model_dir):
                raise ConfigError(f"--out {out} is --model: its embeddings hold {rows} tokens, the new tokenizer "
                                  f"{len(tokenizer)}; add --resize-model, or write to another --out")
            print(f"reverse-o1 tokenizer: note: the new tokenizer has {len(tokenizer)} tokens, the model at {where} "
                  f"{rows} rows: train a model made with --resize-model (or call resize_token_embeddings), else the new "
                  "ids are out of range", file=sys.stderr)
        _save(out, tokenizer)
    report = {
        "model": where,
        "out": out,
        "ids": tags.ids,
        "added": tags.added,
        "tokens_before": tags.tokens_before,
        "vocab_size": len(tokenizer),
        "model_resized": bool(args.resize_model),
        "initialized": initialized,
    }
    print(json.dumps(report, indent=2))
    return 0


COMMAND = Command("tokenizer", "a tokenizer (and model) with the tag vocabulary as special tokens", add_arguments,
                  lambda args, unknown: run(args))
