"""The Hugging Face dataset card (``README.md``) of an output directory.

Its YAML header lists a ``configs:`` entry per shard kind present, so that
``load_dataset(DIR, "prm")`` works, and a ``license:``: the one licence of every row when they
all agree (Hugging Face's lower-case id), else ``other`` with the licences per source listed in the
body (from the manifest's ``licenses``, read from the rows' ``source.license`` and
``source.dataset_license``). The body says what produced the data: per command, the model (only
where an LLM wrote or tagged the rows) and the settings that command takes (its own options, from
its command line's parser), nothing it does not use.
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
    licenses = manifest.get("licenses") or {}
    header: dict[str, Any] = {
        "configs": [{"config_name": k, "data_files": [{"split": "train", "path": f"{k}/*.parquet"}]} for k in kinds],
        **license_header(licenses),
        "tags": ["synthetic", "chain-of-thought", "process-reward-model", "reverse-o1"],
        "task_categories": ["text-generation"],
    }
    version = (manifest.get("versions") or {}).get("reverse-o1")
    lines = ["---", yaml.safe_dump(header, sort_keys=False).strip(), "---", "", "# reverse-o1 dataset", ""]
    lines += [f"Made by reverse-o1{' ' + version if version else ''} pipelines (versions of every package in "
              "`manifest.json`); counts from `manifest.json`.", ""]
    lines += ["| config | rows | what |", "|---|---|---|"]
    lines += [f"| `{k}` | {rows[k]} | {DESCRIPTIONS[k]} |" for k in kinds]
    lines += ["", "## Load", "", "```python", "from datasets import load_dataset"]
    lines += [f'{k} = load_dataset("{_name(out_dir)}", "{k}", split="train")' for k in kinds]
    lines += ["```", "", "## Provenance", ""]
    for command, run in sorted(manifest.get("runs", {}).items()):
        config = run.get("config", {})
        model = f"; model `{run.get('model')}`" if uses_llm(command, config) and run.get("model") else ""
        lines.append(f"- `{command}`: {run.get('wall_seconds')} s{model}; settings `{_short(command, config)}`")
    lines += _license_lines(licenses)
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


# Options that say where things go or how fast, not what the rows are: never shown as settings.
PLUMBING = frozenset({"config", "out", "input", "repo", "lean_repo", "repo_cache", "base_url", "max_batch_size",
                      "max_concurrency", "request_timeout", "max_retries", "threads", "rows_per_shard", "max_record_bytes",
                      "shared_filesystem", "debug", "quiet", "help"})
# Settings of the LLM: shown only for a run where an LLM wrote (or tagged) the rows.
LLM_SETTINGS = frozenset({"backend", "model", "temperature", "max_new_tokens", "seed"})


def command_options(command: str) -> list[str] | None:
    """The option names (``dest``) of ``command``'s command line, in its parser's order; None when
    the command is not one of the CLI's. A run named ``CMD-VARIANT`` (the demo's ``label-binary``)
    is ``CMD``'s."""
    import argparse

    from pipelines.cli import make_parser

    parser = make_parser()
    commands = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction)).choices
    name = command if command in commands else command.split("-", 1)[0]
    sub = commands.get(name)
    if sub is None:
        return None
    return [a.dest for a in sub._actions if a.dest not in (argparse.SUPPRESS, "help") and a.option_strings]


def uses_llm(command: str, config: dict[str, Any]) -> bool:
    """Whether an LLM made the rows: every command does, but ``tag`` with the rule tagger alone."""
    return not (command.split("-", 1)[0] == "tag" and config.get("tagger", "rules") == "rules")


def settings_of(command: str, config: dict[str, Any]) -> dict[str, Any]:
    """The settings ``command`` used: its own options (not plumbing), the LLM's only where it used one,
    those left unset (None) out."""
    try:
        names = command_options(command)
    except Exception:  # the CLI could not be built: fall back to the whole config
        names = None
    names = list(config) if names is None else names
    llm = uses_llm(command, config)
    return {k: config[k] for k in names  # the model has its own place in the card
            if k in config and config[k] is not None and k not in PLUMBING | {"model"} and (llm or k not in LLM_SETTINGS)}


def _short(command: str, config: dict[str, Any]) -> str:
    return ", ".join(f"{k}={v}" for k, v in settings_of(command, config).items())


# Hugging Face's licence ids (lower case) for the SPDX ids recognised in ``schemas.provenance``.
HF_LICENSES = frozenset({
    "apache-2.0", "mit", "bsd-2-clause", "bsd-3-clause", "gpl-2.0", "gpl-3.0", "lgpl-2.1", "lgpl-3.0", "agpl-3.0",
    "mpl-2.0", "isc", "unlicense", "cc0-1.0", "cc-by-2.0", "cc-by-2.5", "cc-by-3.0", "cc-by-4.0", "cc-by-sa-3.0",
    "cc-by-sa-4.0", "cc-by-nc-2.0", "cc-by-nc-3.0", "cc-by-nc-4.0", "cc-by-nd-4.0", "cc-by-nc-sa-2.0", "cc-by-nc-sa-3.0",
    "cc-by-nc-sa-4.0", "cc-by-nc-nd-3.0", "cc-by-nc-nd-4.0", "odc-by", "odbl", "pddl",
})


def row_licenses(licenses: dict[str, Any]) -> set[str | None]:
    """Every licence that applies to some row: its ``license`` (None: unknown) and its ``dataset_license``."""
    found: set[str | None] = {None if k == "null" else k for k in (licenses.get("licenses") or {})}
    return found | set(licenses.get("dataset_licenses") or {})


def license_header(licenses: dict[str, Any]) -> dict[str, Any]:
    """``license:`` (and ``license_name:`` for ``other``) of the card's header; nothing without rows."""
    found = row_licenses(licenses)
    if not found:
        return {}
    if len(found) == 1 and None not in found:
        (spdx,) = found
        assert spdx is not None
        if spdx.lower() in HF_LICENSES:
            return {"license": spdx.lower()}
        if not spdx.startswith("see "):
            return {"license": "other", "license_name": spdx.lower()}
    if found == {None}:
        return {"license": "unknown"}
    return {"license": "other", "license_name": "several", "license_link": "README.md#licences"}


def _license_lines(licenses: dict[str, Any]) -> list[str]:
    """The ``Licences`` section: one licence for all, or the licences per source."""
    found = row_licenses(licenses)
    if not found:
        return []
    lines = ["", "## Licences", ""]
    header = license_header(licenses)
    if header.get("license") not in ("other", "unknown"):
        return lines + [f"Every row is under {sorted(found)[0]} (`source.license` of each row says so too)."]
    lines += ["The rows are not all under one licence: each row's `source.license` is the licence of what it was made from "
              "(a repository, an input file), `source.dataset_license` the licence of the published dataset a Lean "
              "theorem was read from; empty where none was found (unknown, not free to use). By source:", ""]
    lines += ["| source | kind | license | dataset license | rows |", "|---|---|---|---|---|"]
    for src in licenses.get("sources") or []:
        lines.append(f"| `{src['uri']}` | {src['source_kind']} | {src['license'] or 'unknown'} | "
                     f"{src['dataset_license'] or ''} | {src['rows']} |")
    if licenses.get("sources_left_out"):
        lines.append(f"| and {licenses['sources_left_out']} more sources (`manifest.json`: licenses) | | | | |")
    return lines


def write(out_dir: str, manifest: dict[str, Any]) -> None:
    fs.write_text(fs.join(out_dir, "README.md"), render(out_dir, manifest), out_dir)
