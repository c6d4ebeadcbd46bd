"""The five pipelines as a cluster user runs them: inputs on a shared store, a command line each.

Used by the filesystem guard (``memfs://``), the S3 tests and the portable-runner tests, so each
runs the same commands with the same scripted policies (test doubles, not models) and can
compare row ids across runners and filesystems. Outputs are read through ``pipelines.io.fs``.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

from pipelines.io import fs
from tests.pipelines.helpers import FIXTURES, scripted, seed

ROOT = Path(__file__).resolve().parents[2]
TINYTEXT = ROOT / "samples" / "code" / "tinytext"
SEEDS = [seed(i, ["There are 40 apples.", "Tom buys 2 more.", "40 + 2 = 42."]) for i in range(3)]
LABEL_POLICY = scripted(default="The answer is 42.")
EXPAND_POLICY = scripted([("Write the", "Add the two numbers.")], default="So 40 + 2 = 42.\nThe answer is 42.")
LEAN_POLICY = scripted(
    [("Write the thought", "We compare both sides of the goal and look for a way to make them agree."),
     ("Write a concise informal solution", "First we rewrite the condition.\nThen both sides agree.\nThe answer is 7.")],
    default="")
CODE_POLICY = scripted(
    [("For your eyes only", "1. I need to work out what the task asks for from the docstring.\n"
      "2. Then I handle the edge cases before the main case.\n3. Finally I return the value the docstring promises."),
     ("def clamp(", "```python\ndef clamp(value, low, high):\n    if low > high:\n        raise ValueError('bad')\n"
      "    return max(low, min(value, high))\n```")],
    default="I cannot write that.")
SMALL_SEARCH = ["--simulations", "3", "--branching", "2", "--max-depth", "4"]
PIPELINES = ("tag", "label", "expand", "lean-cot", "code-cot")


def upload_inputs(root: str) -> dict[str, str]:
    """The inputs under ``root`` (any filesystem): ``{name: path}``."""
    files = {
        "seeds": ("seeds.jsonl", "".join(json.dumps(s) + "\n" for s in SEEDS).encode()),
        "cot": ("cot/gsm8k_sample.jsonl", (FIXTURES / "gsm8k_sample.jsonl").read_bytes()),
        "lean": ("lean/minif2f_valid_3.jsonl", (ROOT / "samples" / "lean" / "minif2f_valid_3.jsonl").read_bytes()),
    }
    paths = {}
    for name, (rel, data) in files.items():
        paths[name] = fs.join(root, rel)
        fs.write_bytes(paths[name], data)
    return paths


def argv(name: str, inputs: dict[str, str], out: str, repo: str | None = None) -> list[str]:
    """The command line of pipeline ``name`` (``repo``: a git repository for ``code-cot``)."""
    common = ["--out", out, "--backend", "scripted"]
    if name == "tag":
        return ["tag", "--input", inputs["cot"], "--column", "answer", "--limit", "6", "--rows-per-shard", "2", *common]
    if name == "label":
        return ["label", "--input", inputs["seeds"], "--n", "2", *common, "--model", LABEL_POLICY]
    if name == "expand":
        return ["expand", "--seeds", inputs["seeds"], "--cuts", "first", *SMALL_SEARCH, *common, "--model", EXPAND_POLICY]
    if name == "lean-cot":
        return ["lean-cot", "--input", inputs["lean"], "--limit", "2", *common, "--model", LEAN_POLICY]
    if name == "code-cot":
        assert repo is not None
        return ["code-cot", "--repo", repo, "--limit", "3", "--sandbox-timeout", "4", *common, "--model", CODE_POLICY]
    raise ValueError(name)


def rows(out: str, kind: str) -> list[dict[str, Any]]:
    from pipelines.io.resume import shard_files

    return [r for p in shard_files(out, kind) for r in fs.read_parquet(p).to_pylist()]


def ids(out: str) -> dict[str, list[str]]:
    return {kind: sorted(r["id"] for r in rows(out, kind)) for kind in ("sft", "prm")}


def manifest(out: str) -> dict[str, Any]:
    return fs.read_json(fs.join(out, "manifest.json"))


def dead_letters(out: str) -> list[dict[str, Any]]:
    letters = []
    for meta in fs.list_files(fs.join(out, "dead_letter"), ".jsonl"):
        letters += [json.loads(line) for line in fs.read_bytes(meta.path).decode().splitlines() if line.strip()]
    return letters


def assert_counts_add_up(out: str, command: str) -> dict[str, Any]:
    """Every stage of ``command`` balances, the dead letters on the store match, outputs are counted."""
    data = manifest(out)
    mine = {k: v for k, v in data["stages"].items() if k.startswith(command + "/")}
    assert mine, f"no stages of {command} in the manifest: {sorted(data['stages'])}"
    for stage, e in mine.items():
        assert e["read"] == e["written"] + sum(e["filtered"].values()) + e["dead_lettered"], stage
    assert data["outputs"]["sft_rows"] == len(rows(out, "sft"))
    assert data["outputs"]["prm_rows"] == len(rows(out, "prm"))
    assert data["outputs"]["dead_letters"] == len(dead_letters(out))
    return data


Runner = Callable[[list[str]], int]
