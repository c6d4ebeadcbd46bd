"""Every pipeline gives the same rows whatever ``--inflight`` and ``--max-batch-sequences`` are.

The generation engine merges many elements' requests into each backend call; on the scripted
backend (a test double whose reply depends on the prompt) row ids *and* row contents must not
change with how they were merged. The replies differ from prompt to prompt, so a completion handed
to the wrong element would show. (The portable runner's rows are compared with the DirectRunner's
in ``tests/cluster/test_portable.py``; the embedded model's per-row seeds in
``tests/generators/test_transformers_backend.py``.)
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from tests.cluster.cases import CODE_POLICY, LEAN_POLICY, ROOT, SMALL_SEARCH, TINYTEXT, rows
from tests.pipelines.helpers import FIXTURES, assert_balanced, run, scripted, seed, write_jsonl
from tests.pipelines.test_code_cot import git_repo

SEEDS = [seed(i, [f"There are {40 + i} apples.", "Tom buys 2 more.", f"{40 + i} + 2 = {42 + i}."], answer=str(42 + i))
         for i in range(6)] + [seed(9, ["Poison: subtract instead.", "40 - 2 = 38."], answer="42")]
# replies keyed by the prompt: a different answer per seed's numbers, a wrong one after "Poison"
ROLLOUTS = [("Poison", "So 40 - 2 = 38.\nThe answer is 38.")] + [
    (f"There are {40 + i} apples.", f"So {40 + i} + 2 = {42 + i}.\nThe answer is {42 + i}.") for i in range(6)]
LABEL_POLICY = scripted(ROLLOUTS, default="I am not sure.")
EXPAND_POLICY = scripted([("Write the", ["Add the two numbers.", "Subtract them.", "Poison: subtract instead."]),
                          *ROLLOUTS], default="The answer is 41.")
TAG_POLICY = scripted([("minus", "Verify"), ("+", "Compute"), ("*", "Compute")], default="Decompose")
SETTINGS = {"one at a time": ["--inflight", "1", "--max-batch-sequences", "1"],
            "merged": ["--inflight", "32", "--max-batch-sequences", "64"]}


def commands(tmp: Path) -> dict[str, list[Any]]:
    seeds = write_jsonl(tmp / "seeds.jsonl", SEEDS)
    repo = tmp / "tinytext"
    if not repo.exists():
        git_repo(TINYTEXT, repo)
    common = ["--backend", "scripted", "--quiet"]
    return {
        "label": ["label", "--input", seeds, "--n", "3", *common, "--model", LABEL_POLICY],
        "label-binary": ["label", "--input", seeds, "--n", "3", "--method", "binary", *common, "--model", LABEL_POLICY],
        "expand": ["expand", "--seeds", seeds, "--cuts", "all", *SMALL_SEARCH, "--parallel-leaves", "2", *common,
                   "--model", EXPAND_POLICY],
        "lean-cot": ["lean-cot", "--input", ROOT / "samples" / "lean" / "minif2f_valid_3.jsonl", *common,
                     "--model", LEAN_POLICY],
        "code-cot": ["code-cot", "--repo", repo, "--limit", "4", "--sandbox-timeout", "4", "--repo-cache", tmp / "cache",
                     *common, "--model", CODE_POLICY],
        "tag-llm": ["tag", "--input", FIXTURES / "gsm8k_sample.jsonl", "--column", "answer", "--limit", "6",
                    "--tagger", "llm", *common, "--model", TAG_POLICY],
    }


def contents(out: Path) -> dict[str, list[str]]:
    """Every row of the output, as canonical JSON, sorted (shard names and run ids left out)."""
    return {kind: sorted(json.dumps(r, sort_keys=True, default=str) for r in rows(str(out), kind)) for kind in ("sft", "prm")}


@pytest.mark.parametrize("name", ["label", "label-binary", "expand", "lean-cot", "code-cot", "tag-llm"])
def test_rows_do_not_depend_on_how_requests_were_merged(name: str, tmp_path: Path) -> None:
    outputs = {}
    for setting, flags in SETTINGS.items():
        out = tmp_path / setting.replace(" ", "_")
        code = run([*commands(tmp_path)[name], "--out", out, *flags])
        assert code in (0, 3), (name, setting)
        assert_balanced(out)
        outputs[setting] = contents(out)
    one, merged = outputs.values()
    assert one == merged
    assert sum(len(v) for v in one.values()) > 0, "the test must compare rows"
