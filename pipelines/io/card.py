"""The Hugging Face dataset card (``README.md``) of an output directory.

Its YAML header lists a ``configs:`` entry per shard kind present and per export (``pairs_step``,
...), with ``data_files`` per split, so that ``load_dataset(DIR, "prm", split="test")`` works;
``dataset_info`` (features from the Arrow schemas, rows per split), ``pretty_name``, ``language``,
``size_categories``, ``task_categories`` and a ``license:``: the one licence of every row when they
all agree (Hugging Face's lower-case id), else ``other`` with the licences per source listed in the
body (from the manifest's ``licenses``, read from the rows' ``source.license`` and
``source.dataset_license``). The body says what produced the data: per command, the model (only
where an LLM wrote or tagged the rows) and the settings that command takes (its own options, from
its command line's parser), nothing it does not use; what ``verified`` means for each command's
rows and why rows were not verified or were left out (``pipelines.io.verification``), token
lengths per column (``pipelines.io.token_lengths``) and three example rows per config
(``pipelines.io.examples``, read when the card is written), each a JSON array in a fenced block.
"""

from __future__ import annotations

import json
import re
from typing import Any

import pyarrow as pa
import yaml

from pipelines.io import fs
from pipelines.io.card_screening import screening_lines
from pipelines.io.examples import EXAMPLE_ROWS, MAX_CHARS, MAX_ITEMS
from pipelines.io.examples import examples as read_examples
from pipelines.io.token_lengths import SAMPLE_SHARDS
from pipelines.io.verification import PRM_MEANING, outcomes
from schemas.splits import SPLITS

DESCRIPTIONS = {
    "sft": "SFT rows in TRL's conversational format: `messages` (the user's problem; the assistant's tagged hidden CoT, "
           "then the answer), with `steps`, `answer`, `verified`, `verifier`, `verifier_detail`, `source`, `generator`.",
    "prm": "PRM rows in TRL's stepwise-supervision format: `prompt`, `completions`, `labels`; "
           "plus `soft_labels`, `rollouts`, `correct_rollouts`, `method`, `answer_correct`, for MCTS rows `nodes` "
           "and `q_values`, for judge and consensus rows `judge_labels`, `judge_model` (and `mc_labels`, `agreement`), "
           "and for `label` rows the `gold_answer` with its `gold_source` (and `gold_share`). A null label is a step "
           "nothing measured.",
    "trees": "`expand`'s search trees, one row per node (roots, dead ends and children never selected included): `tree_id`, "
             "`id`, `parent`, `depth`, `text`, `factor`, `prior`, `visits`, `q`, `value_sum`, `correct`, the node's own "
             "evaluation (`value`, `rollout`, `answer`, `answer_correct`), `terminal_reason`; the root's row holds the "
             "`problem`, the human `prefix` and the `gold_answer`. Rebuild a tree from the `parent` ids.",
    "difficulty": "Pass rates of `reverse-o1 difficulty`, one row per problem: `problem_id` (join key), `k` solutions "
                  "sampled from the problem alone, `correct`, `pass_rate`, unbiased `pass_at_1`/`pass_at_4`/`pass_at_k` "
                  "(Chen et al.), `mean_tokens`, and the samples (`completions`, `answers`, `outcomes`).",
    "summaries": "Summary-model pairs of `reverse-o1 summarize`, one per SFT row whose summary passed the checks: `prompt` "
                 "(the problem), `cot` (the hidden tagged CoT), `summary` (short, for the user, ending with the answer, "
                 "without tags or long copies of the CoT), `answer`, `messages` (user: problem and hidden CoT; assistant: "
                 "the summary), `sft_id`; TRL's SFTTrainer reads `.select_columns([\"messages\"])` (a string `prompt` "
                 "column would make it read prompt-completion rows).",
}
LABELS_HOW = {
    "shepherd": "Math-Shepherd: `n` completions from the prefix ending at each step; soft label = fraction that reach "
                "the gold answer, hard label = any does",
    "binary": "OmegaPRM-style binary search for the first wrong step (steps before it true, it false, later steps "
              "false where a probe reached them and null where none did); soft labels where a prefix was probed",
    "mcts": "from the MCTS tree of `expand`: a step's hard label is true where some evaluation from its prefix reached "
            "the gold answer (a tree node with a correct evaluation below it, or any step of a correct trajectory), false "
            "at a tree node none of whose evaluations did, and null where nothing measured it (a wrong trajectory's "
            "rollout steps); soft labels are null except the last step (the answer's verdict): the tree's evaluations "
            "are steered by PUCT, not independent, so its statistic is `q_values` (Q in [-1, 1]) and `rollouts` (visits)",
    "judge": "an LLM judge (`judge_model`, prompt `judge_step`, greedy, never shown the gold answer) asked of each step "
             "whether it is correct given the steps before it: true before the first step it calls incorrect, false "
             "there, null after it; soft label = P(correct) from the log-prob of its one-word reply where the backend "
             "gives one, else null. An opinion, not a measurement: exports leave these rows out unless asked "
             "(`--method judge`)",
    "consensus": "Monte Carlo labels (`mc_method` in the settings below) and the LLM judge on the same solution "
                 "(Qwen, Lessons of developing PRMs, 2025): a step's label is kept where both agree (`mc_labels`, "
                 "`judge_labels` and their `agreement` are in the row), null where they differ; a solution where they "
                 "disagree on the first wrong step is kept with those steps null (`consensus=keep-agreeing`) or filtered "
                 "`judge_disagrees` (`consensus=drop-solution`), as the settings below say; soft labels are the MC values "
                 "of the kept steps",
}
GOLD_HOW = ("Problems without a gold answer got one by majority vote (`gold=majority`): the most common final answer "
            "of `gold_samples` solutions sampled from the problem, answers grouped by math-verify equivalence, when its "
            "share of the samples is at least `min_majority` and no other answer ties it (else filtered "
            "`no_consensus_answer`); such rows say `gold_source: majority` and the share in `gold_share`.")
SIZES = ((1_000, "n<1K"), (10_000, "1K<n<10K"), (100_000, "10K<n<100K"), (1_000_000, "100K<n<1M"),
         (10_000_000, "1M<n<10M"), (100_000_000, "10M<n<100M"))


def size_category(rows: int) -> str:
    return next((name for limit, name in SIZES if rows < limit), "100M<n<1B")


_DTYPES = {pa.string(): "string", pa.large_string(): "large_string", pa.bool_(): "bool", pa.int64(): "int64",
           pa.int32(): "int32", pa.float64(): "float64", pa.float32(): "float32"}


def features_yaml(schema: pa.Schema) -> list[dict[str, Any]]:
    """An Arrow schema as the card's ``dataset_info.features``, in ``datasets``' own YAML form
    (``Features.from_arrow_schema(schema)._to_yaml_list()``, which a test compares it with): written
    here so that the launcher need not import ``datasets`` to write a card."""
    return [{"name": f.name, **_feature(f.type)} for f in schema]


def _feature(kind: pa.DataType) -> dict[str, Any]:
    if pa.types.is_struct(kind):
        return {"struct": [{"name": kind.field(i).name, **_feature(kind.field(i).type)} for i in range(kind.num_fields)]}
    if pa.types.is_list(kind) or pa.types.is_large_list(kind):
        inner = _feature(kind.value_type)
        return {"list": inner["dtype"] if set(inner) == {"dtype"} else inner.get("struct", inner)}
    if kind not in _DTYPES:
        raise ValueError(f"no dataset card dtype for Arrow type {kind}")
    return {"dtype": _DTYPES[kind]}


def _split_counts(manifest: dict[str, Any], kind: str) -> dict[str, int]:
    splits = (manifest.get("splits") or {}).get(kind)
    if splits:
        return {k: splits[k] for k in SPLITS if splits.get(k)}
    rows = (manifest.get("outputs") or {}).get(f"{kind}_rows", 0)
    return {"train": rows} if rows else {}


def configs(manifest: dict[str, Any]) -> list[dict[str, Any]]:
    """``(config_name, data_files, rows per split, features)`` of every config the folder holds: the
    shard kinds (one glob per split: with a test split, shard names say their split), then exports."""
    from schemas.arrow import SCHEMAS

    split_on = bool((manifest.get("split") or {}).get("test_fraction"))
    out = []
    for kind in ("sft", "prm", "trees", "difficulty", "summaries"):
        counts = _split_counts(manifest, kind)
        if counts:
            files = {s: f"{kind}/*.{s}.parquet" if split_on else f"{kind}/*.parquet" for s in counts}
            nbytes = (manifest.get("split_bytes") or {}).get(kind) or {}
            out.append({"name": kind, "data_files": files, "rows": counts, "features": features_yaml(SCHEMAS[kind]),
                        "description": DESCRIPTIONS[kind], "bytes": nbytes})
    for name, export in sorted((manifest.get("exports") or {}).items()):
        counts = {s: export["rows"][s] for s in SPLITS if (export.get("rows") or {}).get(s)}
        if counts:
            out.append({"name": name, "data_files": {s: export["data_files"][s] for s in counts}, "rows": counts,
                        "features": export.get("features"), "description": export.get("description", ""),
                        "bytes": export.get("bytes") or {}})
    return out


def header(out_dir: str, manifest: dict[str, Any], found: list[dict[str, Any]]) -> dict[str, Any]:
    """The card's YAML header: what the Hub and ``datasets`` read."""
    total = sum(n for c in found for n in c["rows"].values() if c["name"] in ("sft", "prm"))
    commands = sorted({c.split("-", 1)[0] if c.startswith("label") else c for c in (manifest.get("runs") or {})})
    info = []
    for c in found:
        entry: dict[str, Any] = {"config_name": c["name"]}
        if c["features"]:
            entry["features"] = c["features"]
        entry["splits"] = [{"name": s, "num_bytes": int(c["bytes"].get(s, 0)), "num_examples": n} for s, n in c["rows"].items()]
        info.append(entry)
    return {
        "pretty_name": f"reverse-o1 synthetic chain-of-thought ({', '.join(commands) or 'empty'})",
        **license_header(manifest.get("licenses") or {}),
        "language": ["en"],
        "size_categories": [size_category(total)],
        "task_categories": ["text-generation"],
        "tags": ["synthetic", "chain-of-thought", "process-reward-model", "reverse-o1"],
        "configs": [{"config_name": c["name"], "data_files": [{"split": s, "path": p} for s, p in c["data_files"].items()]}
                    for c in found],
        "dataset_info": info,
    }


def render(out_dir: str, manifest: dict[str, Any], examples: dict[str, list[dict[str, Any]]] | None = None) -> str:
    """The card; ``examples`` (config → rows, ``pipelines.io.examples``) where they were read."""
    found = configs(manifest)
    lines = ["---", yaml.safe_dump(header(out_dir, manifest, found), sort_keys=False, allow_unicode=True).strip(), "---",
             "", "# reverse-o1 dataset", ""]
    version = (manifest.get("versions") or {}).get("reverse-o1")
    lines += [f"Made by reverse-o1{' ' + version if version else ''} pipelines (versions of every package in "
              "`manifest.json`); counts from `manifest.json`.", ""]
    lines += ["| config | split | rows | what |", "|---|---|---|---|"]
    for c in found:
        lines += [f"| `{c['name']}` | {s} | {n} | {c['description']} |" for s, n in c["rows"].items()]
    lines += _split_lines(manifest)
    lines += _load_lines(out_dir, found)
    lines += _verified_lines(manifest)
    lines += _reason_lines(manifest)
    lines += screening_lines(manifest)
    lines += _label_lines(manifest)
    lines += _token_lines(manifest.get("token_lengths") or {})
    lines += _example_lines(found, examples or {})
    lines += ["", "## Provenance", ""]
    for command, run in sorted(manifest.get("runs", {}).items()):
        model = f"; model `{run.get('model')}`" if run.get("uses_llm", True) and run.get("model") else ""
        lines.append(f"- `{command}`: {run.get('wall_seconds')} s{model}; settings `{_short(run)}`")
    for name, export in sorted((manifest.get("exports") or {}).items()):
        settings = ", ".join(f"{k}={v}" for k, v in (export.get("settings") or {}).items())
        lines.append(f"- `export` → `{name}` at {export.get('at')}{'; settings `' + settings + '`' if settings else ''}")
    lines += _license_lines(manifest.get("licenses") or {})
    lines += ["", "## Stages (read = written + filtered + dead-lettered)", ""]
    lines += ["| stage | read | written | filtered | dead-lettered |", "|---|---|---|---|---|"]
    for stage, entry in manifest.get("stages", {}).items():
        filtered = ", ".join(f"{k}: {v}" for k, v in sorted(entry["filtered"].items())) or "0"
        lines.append(f"| {stage} | {entry['read']} | {entry['written']} | {filtered} | {entry['dead_lettered']} |")
    lines += _tag_lines(manifest)
    lines += _factor_lines(manifest.get("factors") or {})
    notes = manifest.get("notes") or []
    if notes:
        lines += ["", "## Notes", ""] + [f"- {n}" for n in notes]
    return "\n".join(lines) + "\n"


def _split_lines(manifest: dict[str, Any]) -> list[str]:
    split = manifest.get("split") or {}
    if not split.get("test_fraction"):
        return ["", "One split, `train` (`--test-fraction F` puts whole problems in a `test` split)."]
    return ["", "## Splits", "",
            f"Whole problems go to `test` with probability {split['test_fraction']} (split seed {split.get('seed', 0)}): "
            "every row made from one problem (a seed and all its trajectories and PRM rows, a Lean theorem, a function of "
            "a repository in any commit) is in the same split, decided by a hash of the problem alone "
            "(`schemas/splits.py`), so no test problem is seen in training. Exports keep the split of their rows."]


def _load_lines(out_dir: str, found: list[dict[str, Any]]) -> list[str]:
    """Snippets that run as written from any folder: the folder's absolute path (or its URL)."""
    where = _where(out_dir)
    lines = ["", "## Load", "", f"From any folder (this card's folder is `{where}`; change the path if you move it):", "",
             "```python", "from datasets import load_dataset", ""]
    for c in found:
        for s in c["rows"]:
            var = c["name"] if s == "train" else f"{c['name']}_{s}"
            lines.append(f'{var} = load_dataset("{where}", "{c["name"]}", split="{s}")')
    if any(c["name"] == "sft" for c in found):
        lines += ["", "# only the rows whose answer was verified (see \"Verified rows\")",
                  'sft_verified = sft.filter(lambda row: row["verified"])']
    lines += ["```", ""]
    if found:
        first = found[0]
        files = {s: f"{where}/{p}" for s, p in first["data_files"].items()}
        lines += ["The files alone, without this card (any folder or bucket `datasets` can read):", "", "```python",
                  "from datasets import load_dataset", "",
                  f'{first["name"]} = load_dataset("parquet", data_files={files!r})', "```"]
    return lines


def _where(out_dir: str) -> str:
    if fs.is_local(out_dir):
        import os.path

        return os.path.abspath(out_dir)
    return out_dir.rstrip("/")


def _cell(value: object) -> str:
    return str(value).replace("|", "\\|").replace("\n", " ")


def _verified_lines(manifest: dict[str, Any]) -> list[str]:
    """What ``verified`` means for each command's rows: it differs (a code-cot row's answer is right even unverified)."""
    sft = (manifest.get("generation") or {}).get("sft") or []
    if not sft:
        return []
    rows = sum(e["rows"] for e in sft)
    verified = sum(e.get("verified", 0) for e in sft)
    lines = ["", "## Verified rows", "",
             f"{verified} of {rows} SFT rows have `verified = true`. What that means, and what an unverified row is, "
             "depends on the command that made the row (below): only `expand`'s unverified rows are wrong answers. "
             "Unverified rows are kept; train on `sft.filter(lambda row: row[\"verified\"])`, write only verified rows "
             "with `--only-verified`, or export them with `reverse-o1 export sft DIR --verified`.", ""]
    truncated = (manifest.get("outputs") or {}).get("sft_truncated") or 0
    if truncated:
        lines += [f"{truncated} SFT rows have `truncated = true`: their CoT was cut at the token cap and kept "
                  "(`--keep-truncated`); leave them out with `sft.filter(lambda row: not row[\"truncated\"])`.", ""]
    for outcome in outcomes(manifest):
        if not outcome.sft_rows and outcome.meaning is None:
            continue
        counts = (f"{outcome.sft_rows} SFT rows, {outcome.sft_verified} verified"
                  + (f", {outcome.sft_truncated} truncated" if outcome.sft_truncated else ""))
        if outcome.meaning is None:
            lines.append(f"- `{outcome.command}` ({counts}).")
            continue
        m = outcome.meaning
        lines += [f"- `{outcome.command}` ({counts}): the answer is {m.answer}.",
                  f"  - `verified = true`: {m.verified}.", f"  - `verified = false`: {m.unverified}."]
    if (manifest.get("outputs") or {}).get("prm_rows"):
        lines += ["", f"{PRM_MEANING}."]
    lines += ["", "| verifier | model | prompt version | rows | verified |", "|---|---|---|---|---|"]
    lines += [f"| {e.get('verifier')} | {e.get('model')} | {e.get('prompt_version')} | {e['rows']} | {e.get('verified', 0)} |"
              for e in sft]
    return lines


def _reason_lines(manifest: dict[str, Any]) -> list[str]:
    """Why rows were not verified or were left out, per command (its latest run): counts by reason."""
    found = [o for o in outcomes(manifest) if o.reasons]
    if not found:
        return []
    lines = ["", "## Why rows were not verified or were left out", "",
             "Counts of each command's latest run (`manifest.json`: `stages`), by reason."]
    for outcome in found:
        unverified = f"; {outcome.unverified} of {outcome.sft_rows} SFT rows unverified" if outcome.sft_rows else ""
        lines += ["", f"### `{outcome.command}`{unverified}", "", "| what | reason | count |", "|---|---|---|"]
        for group in outcome.reasons:
            lines += [f"| {_cell(group.what)} | `{_cell(reason)}` | {n} |" for reason, n in group.counts.items()]
    return lines


def _token_lines(lengths: dict[str, Any]) -> list[str]:
    """Tokens per row and column, in the embedded tokenizer's tokens (``manifest.token_lengths``)."""
    columns = lengths.get("columns") or {}
    if lengths.get("unavailable"):
        return ["", "## Token lengths", "", f"Not counted: the tokenizer could not be loaded ({lengths['unavailable']})."]
    if not columns:
        return []
    sampled = lengths.get("sampled") or {}
    of = ", ".join(f"{sampled.get(kind, 0)} {kind.upper()} rows" for kind in columns)
    lines = ["", "## Token lengths", "",
             f"Tokens per row, per column, in the {lengths.get('tokenizer')} tokenizer's tokens (the embedded model's; "
             "no special tokens; a list's texts joined by newlines: `steps` their text, `messages` their content, "
             f"without the chat template's few tokens per turn), over {of} (the first rows of up to {SAMPLE_SHARDS} "
             "shards per kind).", "",
             "| config | column | rows | mean | p50 | p95 | max |", "|---|---|---|---|---|---|---|"]
    for kind, per_column in columns.items():
        for column, s in per_column.items():
            lines.append(f"| `{kind}` | `{column}` | {s['rows']} | {s['mean']} | {s['p50']} | {s['p95']} | {s['max']} |")
    return lines


def _fence(text: str) -> str:
    """A code fence longer than any run of backticks in ``text`` (a row may hold a fenced block itself)."""
    longest = max((len(run) for run in re.findall(r"`+", text)), default=0)
    return "`" * max(3, longest + 1)


def _example_lines(found: list[dict[str, Any]], examples: dict[str, list[dict[str, Any]]]) -> list[str]:
    """Up to ``EXAMPLE_ROWS`` rows per config, each config's a JSON array."""
    shown = [(c["name"], examples[c["name"]]) for c in found if examples.get(c["name"])]
    if not shown:
        return []
    lines = ["", "## Examples", "",
             f"The first {EXAMPLE_ROWS} rows of each config's first files, as JSON; strings over {MAX_CHARS} characters "
             f"are cut (`… [N more chars]`) and lists keep their first {MAX_ITEMS} items."]
    for name, rows in shown:
        text = json.dumps(rows, ensure_ascii=False, indent=1, allow_nan=False)
        fence = _fence(text)
        lines += ["", f"### `{name}`", "", f"{fence}json", text, fence]
    return lines


def _label_lines(manifest: dict[str, Any]) -> list[str]:
    prm = (manifest.get("generation") or {}).get("prm") or []
    if not prm:
        return []
    runs = manifest.get("runs") or {}
    lines = ["", "## How the step labels were made", ""]
    for method in sorted({e.get("method") for e in prm if e.get("method")}):
        lines.append(f"- `{method}`: {LABELS_HOW.get(method, method)}.")
    for command in sorted(c for c in runs if c.startswith(("label", "expand"))):
        lines.append(f"- `{command}` settings: `{_short(runs[command])}`.")
    if any((runs[c].get("settings") or {}).get("gold") == "majority" for c in runs if c.startswith("label")):
        lines.append(f"- {GOLD_HOW}")
    lines += ["", "| method | model | prompt version | rows |", "|---|---|---|---|"]
    lines += [f"| {e.get('method')} | {e.get('model')} | {e.get('prompt_version')} | {e['rows']} |" for e in prm]
    lines += ["", "A null label is a step nothing measured (`mcts` rows' rollout steps, `binary` rows' unprobed steps after "
              "the first error, `judge` and `consensus` rows' steps after the first error and the steps MC and the "
              "judge disagree on). TRL's stepwise trainers cast labels to int and take no null: train from "
              "`reverse-o1 export prm DIR` (config `prm_trl`: a measured label on every step, measured methods by default, "
              "`--method all --unmeasured cut` for the rest), or `export openrlhf DIR [--soft]`."]
    return lines


def _tag_lines(manifest: dict[str, Any]) -> list[str]:
    """The tag strings and the factor vocabulary the SFT rows use (a custom ``--factors`` file if a run had one)."""
    if not (manifest.get("outputs") or {}).get("sft_rows"):
        return []
    from schemas.factors import load_factors
    from schemas.tags import THINK_END, THINK_START

    files = sorted({r.get("config", {}).get("factors") for r in (manifest.get("runs") or {}).values()} - {None})
    try:
        vocabulary = load_factors(files[0] if files else None)
    except Exception:  # the custom file is gone: name what the rows used, from the counts
        vocabulary = None
    lines = ["", "## Tags", "",
             f"The assistant turn of `messages` is `{THINK_START}`, one `<ACT_Factor-Start> TEXT <ACT_Factor-End>` per "
             f"step, `{THINK_END}`, then the answer (`schemas/tags.py`). `reverse-o1 tokenizer` adds these strings to a "
             "tokenizer as special tokens.", ""]
    if vocabulary is None:
        names = sorted((manifest.get("factors") or {}).get("by_factor", {}))
        return lines + [f"Factors: {', '.join(f'`{n}`' for n in names)}."]
    lines += [f"Vocabulary `{vocabulary.version}` ({'built-in' if not files else files[0]}):", "",
              "| factor | tags | meaning |", "|---|---|---|"]
    lines += [f"| {f.name} | `<ACT_{f.name}-Start>` `<ACT_{f.name}-End>` | {f.description} |" for f in vocabulary.factors]
    return lines


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


def _short(run: dict[str, Any]) -> str:
    """A run's settings as its command recorded them in the manifest (``runs.CMD.settings``)."""
    return ", ".join(f"{k}={v}" for k, v in (run.get("settings") or {}).items())


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
    """``README.md`` of ``out_dir``, with the example rows read from its files."""
    examples = read_examples(out_dir, configs(manifest))
    fs.write_text(fs.join(out_dir, "README.md"), render(out_dir, manifest, examples), out_dir)
