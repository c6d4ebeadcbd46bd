"""``reverse-o1 demo``: every pipeline on the bundled samples with the embedded model.

GSM8K slice → seeds (``seeds import``) → ``label --method shepherd`` → ``expand`` (MCTS from
the first cut of two seeds) → ``label --method binary`` on the trajectories the search got
wrong, with their seed's gold answer → ``lean-cot`` on two bundled Lean theorems → ``code-cot``
on a bundled Python package committed to a fresh git repository → ``out/demo/``; then the
preference pairs (``export pairs``) and a summary table. Each step runs on
Beam's DirectRunner; the whole demo is sized for a few minutes on 2 CPU cores.
"""

from __future__ import annotations

import argparse
import io
import json
import os
import shutil
import subprocess
from contextlib import redirect_stderr
from pathlib import Path
from typing import Any

from common import local_disk
from common.cache import cache_root
from pipelines import options
from pipelines.code_cot import COMMAND as CODE_COT
from pipelines.command import CONFIG_KEYS, Command
from pipelines.config import ConfigError, build_config, with_worker_threads
from pipelines.expand import COMMAND as EXPAND
from pipelines.export.pairs import export_pairs
from pipelines.io import fs
from pipelines.io import manifest as manifest_io
from pipelines.io.resume import shard_files
from pipelines.label import COMMAND as LABEL
from pipelines.lean_cot import COMMAND as LEAN_COT
from pipelines.seeds_cli import import_file
from pipelines.summary import stage_table, table

SAMPLES = Path(__file__).resolve().parents[1] / "samples"
DEMO_DEFAULTS = {"out": "out/demo", "n": 4, "max_new_tokens": 96, "temperature": 0.7, "rows_per_shard": 1,
                 "simulations": 3, "branching": 2, "max_depth": 6, "cuts": "first"}
EXPAND_SEEDS = 2
BINARY_TRAJECTORIES = 2
LEAN_THEOREMS = 2
CODE_FUNCTIONS = 4


def run_demo(flags: dict[str, Any], yaml_path: str | None, problems: int | None, beam_args: list[str]) -> int:
    given = {k: v for k, v in flags.items() if v is not None}
    config = build_config(DEMO_DEFAULTS | given, yaml_path)
    out = config.out
    if not fs.is_local(out):
        raise ConfigError(f"demo --out {out}: the demo is a trial on this machine; give a local folder (the "
                          "pipeline commands themselves take gs:// and s3://)")
    seeds = fs.join(out, "seeds.jsonl")
    with redirect_stderr(io.StringIO()):
        import_file("gsm8k", str(SAMPLES / "gsm8k" / "gsm8k_demo.jsonl"), seeds)
    count = problems or config.limit or 3
    config = with_worker_threads(config.model_copy(update={"input": [seeds], "limit": count}), beam_args)
    where = f"{config.backend} backend ({config.model_label()}), output {out}/"

    print(f"demo 1/5: labelling {count} GSM8K problems, Math-Shepherd, n={config.n}, {where}")
    LABEL.launch(config, beam_args)
    expand = config.model_copy(update={"limit": min(count, EXPAND_SEEDS)})
    print(f"\ndemo 2/5: MCTS from the first cut of {expand.limit} seeds, {config.simulations} simulations x "
          f"{config.branching} candidates")
    EXPAND.launch(expand, beam_args)
    wrong = wrong_trajectories(out, seeds, fs.join(out, "wrong_trajectories.jsonl"))
    if wrong:
        binary = config.model_copy(update={"input": [wrong], "method": "binary", "limit": BINARY_TRAJECTORIES})
        print(f"\ndemo 3/5: binary search for the first wrong step of up to {BINARY_TRAJECTORIES} unverified "
              f"trajectories, k={config.n}")
        LABEL.launch(binary, beam_args)  # run name label-binary
    else:
        print("\ndemo 3/5: skipped, the search found no wrong trajectory to label")
    lean_inputs = sorted(str(p) for p in (SAMPLES / "lean").glob("*.json*"))
    # at the demo's short caps the 135M model's CoTs are mostly cut: kept, marked truncated=true
    lean = config.model_copy(update={"input": lean_inputs, "limit": LEAN_THEOREMS, "keep_truncated": True,
                                     "max_new_tokens": min(config.max_new_tokens, 64)})
    print(f"\ndemo 4/5: Lean CoT for {LEAN_THEOREMS} bundled Lean theorems (a thought per tactic, then an informal "
          f"solution; no Lean toolchain here, so rows are unverified)")
    LEAN_COT.launch(lean, beam_args)
    repo = demo_repository()
    code = config.model_copy(update={"input": [], "repo": [repo], "limit": CODE_FUNCTIONS, "sandbox_timeout": 5.0,
                                     "keep_truncated": True,
                                     "cot_samples": 2, "max_new_tokens": max(config.max_new_tokens, 128)})
    print(f"\ndemo 5/5: code CoT for the first {CODE_FUNCTIONS} functions of the bundled tinytext package ({repo}): "
          f"tests of the original in the sandbox, reverse CoT, then the round trip")
    summary = CODE_COT.launch(code, beam_args)
    manifest = summary.manifest
    print("\ndemo: preference pairs for DPO (`reverse-o1 export pairs`): verified vs unverified trajectories, and "
          "rStar-Math step pairs (candidates of one tree node with 2+ visits: a correct line below against a wrong one)")
    export_pairs(out, "both", 0.5, 2, 4, rule="rstar", min_visits=2)  # the command's defaults
    if not (manifest_io.load(out).get("exports") or {}).get("pairs_step"):
        print("demo: no step pairs: no two candidates of one node had 2+ visits with a correct and a wrong evaluation "
              "below (the embedded 135M model rarely reaches a GSM8K answer; a stronger --model or more "
              "--simulations give them)")
    print()
    print(stage_table(manifest))
    print()
    print(demo_table(out, manifest))
    return 0


def demo_repository() -> str:
    """The bundled tinytext package committed to a fresh git repository (fixed author and date, so
    the commit is the same on every machine); a plain directory when git is missing. Git needs a
    local folder: it is made in reverse-o1's cache (``demo/tinytext-repo``), not in the output.
    Returns what ``--repo`` gets."""
    target = str(cache_root() / "demo" / "tinytext-repo")
    local_disk.remove_tree(target)
    shutil.copytree(SAMPLES / "code" / "tinytext", target)
    if shutil.which("git") is None:
        return target
    env = {**os.environ, "GIT_AUTHOR_NAME": "reverse-o1 demo", "GIT_AUTHOR_EMAIL": "demo@localhost",
           "GIT_COMMITTER_NAME": "reverse-o1 demo", "GIT_COMMITTER_EMAIL": "demo@localhost",
           "GIT_AUTHOR_DATE": "2026-01-01T00:00:00Z", "GIT_COMMITTER_DATE": "2026-01-01T00:00:00Z"}
    for argv in (["init", "-q", "-b", "main"], ["add", "-A"], ["commit", "-q", "-m", "tinytext 0.1.0"]):
        subprocess.run(["git", "-c", "core.hooksPath=/dev/null", *argv], cwd=target, env=env, check=True,
                       capture_output=True)
    return target + "@HEAD"


def wrong_trajectories(out: str, seeds_path: str, target: str) -> str | None:
    """The expand run's unverified SFT rows as trajectory rows with their seed's gold answer."""
    gold = {s["id"]: s["answer"] for s in map(json.loads, fs.read_bytes(seeds_path).decode("utf-8").splitlines())}
    rows = [r for p in shard_files(out, "sft") for r in fs.read_parquet(p).to_pylist()]
    picked = [
        {"id": r["id"], "source_kind": r["source_kind"], "source": r["source"], "problem": r["problem"],
         "steps": r["steps"], "answer": r["answer"], "gold_answer": gold[r["source"]["symbol"]]}
        for r in sorted(rows, key=lambda r: r["id"])
        if not r["verified"] and len(r["steps"]) >= 2 and r["source"]["symbol"] in gold
    ]
    if not picked:
        return None
    fs.write_text(target, "".join(json.dumps(r) + "\n" for r in picked))
    return target


def demo_table(out: str, manifest: dict[str, Any]) -> str:
    prm = [r for p in shard_files(out, "prm") for r in fs.read_parquet(p).to_pylist()]
    sft = [r for p in shard_files(out, "sft") for r in fs.read_parquet(p).to_pylist()]
    rows = []
    for method, run in (("shepherd", "label"), ("mcts", "expand"), ("binary", "label-binary")):
        mine = [r for r in prm if r["method"] == method]
        if run not in manifest.get("runs", {}):
            continue
        soft = [v for r in mine for v, n in zip(r["soft_labels"], r["rollouts"], strict=True) if n and v is not None]
        spent = sum(sum(r["rollouts"]) for r in mine)  # completions from prefixes: visits double-count in a tree
        if method == "mcts":
            spent = manifest["stages"].get("expand/expand", {}).get("stats", {}).get("rollouts", 0)
        seeds_sft = [r for r in sft if r["source_kind"] == "seed"]
        verified = f"{sum(r['verified'] for r in seeds_sft)}/{len(seeds_sft)}" if method == "mcts" else "-"
        rows.append([f"{run} ({method})", len(mine), sum(len(r["completions"]) for r in mine),
                     f"{sum(soft) / len(soft):.3f}" if soft else "n/a", spent, verified,
                     f"{manifest['runs'][run]['wall_seconds']:.1f}"])
    lean = [r for r in sft if r["source_kind"] == "lean"]
    if "lean-cot" in manifest.get("runs", {}):
        rows.append(["lean-cot (thoughts)", "-", sum(len(r["steps"]) for r in lean), "-", "-",
                     f"{sum(r['verified'] for r in lean)}/{len(lean)}", f"{manifest['runs']['lean-cot']['wall_seconds']:.1f}"])
    code = [r for r in sft if r["source_kind"] == "code"]
    if "code-cot" in manifest.get("runs", {}):
        rows.append(["code-cot (reverse CoT)", "-", sum(len(r["steps"]) for r in code), "-", "-",
                     f"{sum(r['verified'] for r in code)}/{len(code)}", f"{manifest['runs']['code-cot']['wall_seconds']:.1f}"])
    table_text = table(rows, ["pipeline", "PRM rows", "steps", "mean soft label", "rollouts", "SFT verified", "wall s"])
    return table_text + f"\n\n{out}: {manifest['outputs']['dead_letters']} dead letters; see {out}/README.md"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--problems", type=int, default=None, help="GSM8K problems to label (default 3)")
    parser.add_argument("--n", type=int, help="completions per step (default 4 in the demo)")
    options.sft_options(parser)
    options.common(parser)


def run(args: argparse.Namespace, unknown: list[str]) -> int:
    flags = {k: v for k, v in vars(args).items() if k in CONFIG_KEYS}
    return run_demo(flags, args.config, args.problems, unknown)


COMMAND = Command("demo", "run every pipeline on the bundled samples with the embedded model", add_arguments, run,
                  beam_options=True)
