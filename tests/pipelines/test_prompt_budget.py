"""Every prompt bounded, in every pipeline: an input whose prompt is over the backend's budget is
filtered ``prompt_too_long`` (by the stage kernel, whichever generator built the prompt), the rest
go on, and the manifest adds up. Functions too large for any prompt are filtered at extraction
(``function_too_large``): the issue's 800 KB docstring and 5 MB default argument through
``code-cot`` now finish in seconds.

The scripted backend (a test double) counts words as tokens, so budgets here are word counts;
one case runs the real embedded model, whose own tokenizer decides.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from generators.backends.registry import BackendConfig, create_backend
from generators.tagging.llm import LLMTagger
from pipelines.sources.code import extract as python_extract
from schemas.factors import load_factors
from schemas.records import Step
from tests.pipelines.helpers import FIXTURES, assert_balanced, dead_letters, prm_rows, run, scripted, seed, write_jsonl
from tests.pipelines.test_code_cot import FORWARD, git_repo, sft_rows

WORDY = "Many words make this problem long. " * 500  # 3,500 words: over a 1,000-word budget
BUDGET = ["--prompt-budget", "1000"]


def seeds(tmp_path: Path) -> Path:
    return write_jsonl(tmp_path / "seeds.jsonl", [
        seed(1, ["There are 40 apples.", "Tom buys 2 more.", "40 + 2 = 42."]),
        seed(2, ["There are 40 apples.", "Tom buys 2 more.", "40 + 2 = 42."], problem=WORDY + "How many apples?"),
    ])


def wrong(i: int, problem: str) -> dict:
    """A failed attempt (answer 7, gold 42): what ``--method binary`` searches (a seed needs no rollout)."""
    return {"id": f"w{i}", "source_kind": "seed", "problem": problem, "answer": "7", "gold_answer": "42",
            "steps": [{"text": t} for t in ["There are 40 apples.", "Tom eats 33.", "40 - 33 = 7."]]}


@pytest.mark.parametrize("method", ["shepherd", "binary"])
def test_label_filters_a_prompt_over_the_budget(tmp_path: Path, method: str) -> None:
    out = tmp_path / "out"
    inputs = write_jsonl(tmp_path / "attempts.jsonl", [wrong(1, "Problem 1?"), wrong(2, WORDY + "How many apples?")])
    policy = scripted(default="So 40 + 2 = 42.\nThe answer is 42.")
    assert run(["label", "--input", inputs, "--out", out, "--backend", "scripted", "--model", policy,
                "--n", "2", "--method", method, *BUDGET]) == 0
    data = assert_balanced(out)
    [stage] = [name for name in data["stages"] if name.endswith("/label")]
    assert data["stages"][stage]["filtered"] == {"prompt_too_long": 1}
    assert [r["prompt"] for r in prm_rows(out)] == ["Problem 1?"] and not dead_letters(out)
    assert data["config"]["prompt_budget"] == 1000  # the run records the budget it ran under


def test_expand_filters_a_prompt_over_the_budget(tmp_path: Path) -> None:
    out = tmp_path / "out"
    policy = scripted([("Write the", "Add the two numbers.")], default="So 40 + 2 = 42.\nThe answer is 42.")
    assert run(["expand", "--seeds", seeds(tmp_path), "--out", out, "--backend", "scripted", "--model", policy,
                "--simulations", "2", "--branching", "2", "--max-depth", "3", "--cuts", "first", *BUDGET]) == 0
    data = assert_balanced(out)
    assert data["stages"]["expand/expand"]["filtered"] == {"prompt_too_long": 1}
    assert {r["prompt"] for r in prm_rows(out)} == {"Problem 1?"} and not dead_letters(out)


def test_lean_cot_filters_a_prompt_over_the_budget(tmp_path: Path) -> None:
    lines = (FIXTURES / "lean" / "minif2f_valid_8.jsonl").read_text(encoding="utf-8").splitlines()[:2]
    wordy = json.loads(lines[1])
    wordy["informal_prefix"] = f"/-- {WORDY} -/\n"
    theorems = tmp_path / "theorems.jsonl"
    theorems.write_text(lines[0] + "\n" + json.dumps(wordy) + "\n", encoding="utf-8")
    out = tmp_path / "out"
    policy = scripted([("Write the thought", "We compare both sides of the goal and rearrange the terms until they agree."),
                       ("Write a concise informal solution", "First we expand.\nThen both sides agree.")], default="")
    assert run(["lean-cot", "--input", theorems, "--out", out, "--backend", "scripted", "--model", policy, *BUDGET]) == 0
    data = assert_balanced(out)
    assert data["stages"]["lean-cot/lean_cot"]["filtered"] == {"prompt_too_long": 1}
    assert [r["source"]["symbol"] for r in sft_rows(out)] == [json.loads(lines[0])["name"]]


def test_tag_llm_filters_a_prompt_over_the_budget(tmp_path: Path) -> None:
    """Steps reach the tagger's prompt cut to 600 characters: the budget sits between the prompt of
    a short step and that of a long one (both counted as the pipeline counts them)."""
    short, long = "Add 2 and 3 to get 5.", "We keep adding small numbers here " * 40
    backend = create_backend(BackendConfig(backend="scripted", model=scripted()))
    tagger = LLMTagger(backend, load_factors())
    words = [backend.prompt_tokens(tagger.request([Step(text)], 0)) for text in (short, long)]
    assert words[1] > words[0] + 50
    rows = write_jsonl(tmp_path / "cot.jsonl", [{"question": "What is 2 + 3?", "cot": f"{short}\n#### 5"},
                                                {"question": "What is 2 + 2?", "cot": f"{long}\n#### 4"}])
    out = tmp_path / "out"
    assert run(["tag", "--input", rows, "--column", "cot", "--out", out, "--tagger", "llm", "--backend", "scripted",
                "--model", scripted(default="Compute"), "--prompt-budget", str(words[0] + 20)]) == 0
    data = assert_balanced(out)
    assert data["stages"]["tag/tag_steps"]["filtered"] == {"prompt_too_long": 1}
    [row] = sft_rows(out)
    assert row["problem"] == "What is 2 + 3?" and row["steps"][0]["factor"] == "Compute"


# --- code-cot: prompt budgets and the size caps of extraction ---------------------------------------

SMALL = '''def double_it(x):
    """Double a number.

    >>> double_it(2)
    4
    """
    return 2 * x
'''
ROUNDTRIP = "```python\ndef double_it(x):\n    return 2 * x\n```"
POLICY = scripted([("For your eyes only", FORWARD), ("def double_it(", ROUNDTRIP)], default="I cannot write that.")


def wordy_function(name: str, words: int) -> str:
    return f'''def {name}(x):
    """Triple a number, {"at length " * (words // 2)}

    >>> {name}(2)
    6
    """
    return 3 * x
'''


def big_docstring() -> str:
    """The issue's case: one function, an 800 KB docstring on a few lines, a passing doctest."""
    return f'''def triple_it(x):
    """Triple a number.

    {"This paragraph is padding that makes the docstring enormous. " * 13_000}

    >>> triple_it(2)
    6
    """
    return 3 * x
'''


def big_default() -> str:
    """The issue's other case: a 5 MB default argument, a passing doctest."""
    return f'''def pick(i, table={"z" * 5_000_000!r}):
    """The character at ``i``.

    >>> pick(0)
    'z'
    """
    return table[i]
'''


def code_cot(out: Path, repo: Path, *extra: str, backend: tuple[str, ...] = ("--backend", "scripted", "--model", POLICY)
             ) -> int:
    return run(["code-cot", "--repo", repo, "--out", out, *backend, "--sandbox-timeout", "20",
                "--repo-cache", out.parent / "cache", *extra])


def test_code_cot_filters_a_prompt_over_the_budget(tmp_path: Path) -> None:
    repo = git_repo(None, tmp_path / "repo", {"small.py": SMALL, "wordy.py": wordy_function("triple_it", 1000)})
    out = tmp_path / "out"
    assert code_cot(out, repo, "--prompt-budget", "600") == 0
    data = assert_balanced(out)
    assert data["stages"]["code-cot/code_cot"]["filtered"] == {"prompt_too_long": 1}
    [row] = sft_rows(out)
    assert row["source"]["symbol"] == "double_it" and row["verified"] is True  # its round trip ran in the sandbox


def test_code_cot_filters_an_800kb_docstring_and_a_5mb_default_at_extraction(tmp_path: Path) -> None:
    repo = git_repo(None, tmp_path / "repo", {"small.py": SMALL, "doc.py": big_docstring(), "default.py": big_default()})
    out = tmp_path / "out"
    assert code_cot(out, repo, "--max-file-bytes", "8000000") == 0
    data = assert_balanced(out)
    assert data["stages"]["code-cot/extract"]["filtered"] == {"function_too_large": 2}
    assert [r["source"]["symbol"] for r in sft_rows(out)] == ["double_it"]


@pytest.mark.model
def test_code_cot_on_the_embedded_model_filters_them_as_prompts_when_the_caps_are_raised(
        tmp_path: Path, embedded_model_dir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """With the extraction caps out of the way, the same two functions reach the embedded model's
    backend, whose budget (8192 tokens minus max_new_tokens, by its own tokenizer) refuses them
    before any generation: before the budget, this run never ended."""
    monkeypatch.setattr(python_extract, "MAX_FUNCTION_CHARS", 10**9)
    monkeypatch.setattr(python_extract, "MAX_DOCSTRING_CHARS", 10**9)
    repo = git_repo(None, tmp_path / "repo", {"doc.py": big_docstring(), "default.py": big_default()})
    out = tmp_path / "out"
    assert code_cot(out, repo, "--max-file-bytes", "8000000", "--threads", "1", backend=()) == 3  # nothing to write
    data = assert_balanced(out)
    assert data["stages"]["code-cot/extract"]["written"] == 2
    assert data["stages"]["code-cot/code_cot"]["filtered"] == {"prompt_too_long": 2}
    assert not dead_letters(out)
