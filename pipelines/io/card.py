"""The Hugging Face dataset card (``README.md``) of an output directory.

Its YAML header lists a ``configs:`` entry per shard kind present, so that
``load_dataset(DIR, "prm")`` works, and the body says what produced the data.
"""

from __future__ import annotations

from typing import Any

import yaml

from pipelines.io import fs

DESCRIPTIONS = {
    "sft": "SFT rows: `messages` (user problem, assistant tagged hidden CoT then answer), `steps`, `verified`.",
    "prm": "PRM rows in TRL's stepwise-supervision format: `prompt`, `completions`, `labels`; "
    "plus `soft_labels`, `rollouts`, `correct_rollouts`, `method`.",
}


def render(out_dir: str, manifest: dict[str, Any]) -> str:
    rows = {k: manifest.get("outputs", {}).get(f"{k}_rows", 0) for k in ("sft", "prm")}
    kinds = [k for k in ("sft", "prm") if rows[k]]
    header: dict[str, Any] = {
        "configs": [{"config_name": k, "data_files": [{"split": "train", "path": f"{k}/*.parquet"}]} for k in kinds],
        "tags": ["synthetic", "chain-of-thought", "process-reward-model", "reverse-o1"],
        "task_categories": ["text-generation"],
    }
    lines = ["---", yaml.safe_dump(header, sort_keys=False).strip(), "---", "", "# reverse-o1 dataset", ""]
    lines += ["Made by [reverse-o1](https://pypi.org/project/reverse-o1/) pipelines; counts from `manifest.json`.", ""]
    lines += ["| config | rows | what |", "|---|---|---|"]
    lines += [f"| `{k}` | {rows[k]} | {DESCRIPTIONS[k]} |" for k in kinds]
    lines += ["", "## Load", "", "```python", "from datasets import load_dataset"]
    lines += [f'{k} = load_dataset("{_name(out_dir)}", "{k}", split="train")' for k in kinds]
    lines += ["```", "", "## Provenance", ""]
    lines.append(f"- model: `{manifest.get('model')}`")
    for command, run in sorted(manifest.get("runs", {}).items()):
        lines.append(f"- `{command}`: {run.get('wall_seconds')} s; config `{_short(run.get('config', {}))}`")
    lines += ["", "## Stages (read = written + filtered + dead-lettered)", ""]
    lines += ["| stage | read | written | filtered | dead-lettered |", "|---|---|---|---|---|"]
    for stage, entry in manifest.get("stages", {}).items():
        filtered = ", ".join(f"{k}: {v}" for k, v in sorted(entry["filtered"].items())) or "0"
        lines.append(f"| {stage} | {entry['read']} | {entry['written']} | {filtered} | {entry['dead_lettered']} |")
    lines += _factor_lines(manifest.get("factors") or {})
    notes = manifest.get("notes") or []
    if notes:
        lines += ["", "## Notes", ""] + [f"- {n}" for n in notes]
    return "\n".join(lines) + "\n"


def _factor_lines(factors: dict[str, Any]) -> list[str]:
    """Steps per thought factor (overall and per source kind) in the SFT rows, and who tagged them."""
    total = factors.get("steps") or 0
    if not total:
        return []
    kinds = list(factors.get("by_source_kind", {}))
    lines = ["", "## Thought factors", "",
             f"{total} steps of the SFT rows, each tagged `<ACT_Factor-Start> ... <ACT_Factor-End>` inside "
             "`<Think_Start> ... <Think_End>`.", ""]
    lines += ["| factor | steps | share | " + " | ".join(f"`{k}`" for k in kinds) + " |", "|---|---|---|" + "---|" * len(kinds)]
    for factor, n in factors.get("by_factor", {}).items():
        per_kind = " | ".join(str(factors["by_source_kind"][k].get(factor, 0)) for k in kinds)
        lines.append(f"| {factor} | {n} | {n / total:.1%} | {per_kind} |")
    tiers = factors.get("tiers") or {}
    if tiers:
        lines += ["", "Tagged in the latest runs by: " + ", ".join(f"{t} {n}" for t, n in tiers.items())
                  + f"; LLM answers that named no factor (the rules' factor kept): {factors.get('llm_fallbacks', 0)}."]
    return lines


def _name(out_dir: str) -> str:
    """The folder's name as ``load_dataset`` is shown it (a relative local path made absolute first)."""
    if fs.is_local(out_dir):
        import os.path

        return os.path.basename(os.path.abspath(out_dir))
    return fs.basename(out_dir)


def _short(config: dict[str, Any]) -> str:
    keys = ("backend", "model", "method", "n", "temperature", "max_new_tokens", "seed", "tagger", "factors")
    return ", ".join(f"{k}={config[k]}" for k in keys if k in config)


def write(out_dir: str, manifest: dict[str, Any]) -> None:
    fs.write_text(fs.join(out_dir, "README.md"), render(out_dir, manifest), out_dir)
