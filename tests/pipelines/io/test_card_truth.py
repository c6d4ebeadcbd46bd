"""The dataset card tells the truth: what ``verified`` means for the command that made the rows, why rows
were not verified or were left out (counts by reason, the manifest's), token lengths in the embedded
tokenizer's tokens, and example rows that load.

The bar runs the real ``code-cot`` (Beam DirectRunner, the bubblewrap sandbox, a git repository of
the bundled tinytext package) with a scripted policy (``--backend scripted``: a test double, not a
model) that writes a right function, a wrong one, no function, and one CoT past the token cap.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pyarrow.parquet as pq
import pytest
import yaml
from huggingface_hub import DatasetCard

from pipelines.io import card, examples, token_lengths
from pipelines.io.shards import write_rows
from pipelines.io.verification import MEANINGS, outcomes
from schemas.arrow import SFT_SCHEMA
from tests.pipelines.helpers import assert_balanced, run, scripted
from tests.pipelines.test_code_cot import CLAMP_OK, DIGITS_WRONG, FORWARD, TINYTEXT, git_repo

LONG = " ".join([FORWARD] * 4)  # past the cap: cut, finish_reason "length"
POLICY = scripted([("reads the same backwards", LONG), ("For your eyes only", FORWARD), ("def clamp(", CLAMP_OK),
                   ("def digit_sum(", DIGITS_WRONG)], default="I cannot write that.", length_cap=True)


def example_blocks(text: str) -> dict[str, list[dict[str, Any]]]:
    """The card's examples: ``### `NAME` `` then a fenced ``json`` block (fenced by 3 or more backticks)."""
    section = text.split("\n## Examples\n", 1)[1].split("\n## ", 1)[0]
    found = re.findall(r"^### `([^`]+)`\n\n(`{3,})json\n(.*?)\n\2$", section, re.S | re.M)
    return {name: json.loads(body) for name, _, body in found}


def reason_table(text: str, command: str) -> dict[str, int]:
    section = text.split(f"\n### `{command}`", 1)[1].split("\n#", 1)[0]
    return {reason: int(n) for reason, n in re.findall(r"^\| .*? \| `(.+?)` \| (\d+) \|$", section, re.M)}


@pytest.fixture(scope="module")
def code_folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    tmp = tmp_path_factory.mktemp("card_truth")
    repo = git_repo(TINYTEXT, tmp / "tinytext")
    out = tmp / "out"
    assert run(["code-cot", "--repo", f"{repo}@HEAD", "--out", out, "--backend", "scripted", "--model", POLICY,
                "--max-new-tokens", "80", "--sandbox-timeout", "4", "--repo-cache", tmp / "cache"]) == 0
    return out


def test_the_card_of_a_code_cot_run_says_what_verified_means_and_why_rows_failed(code_folder: Path) -> None:
    data = assert_balanced(code_folder)
    text = (code_folder / "README.md").read_text(encoding="utf-8")
    header = yaml.safe_load(text.split("---\n")[1])
    assert header["configs"][0]["config_name"] == "sft" and DatasetCard.load(code_folder / "README.md").data.configs
    verified = text.split("\n## Verified rows\n", 1)[1].split("\n## ", 1)[0]
    meaning = MEANINGS["code-cot"]
    assert f"the answer is {meaning.answer}" in verified and meaning.unverified in verified
    assert "not wrong answers" in verified and "wrong answers are the rejected side" not in text
    rows = data["by_command"]["code-cot"]
    assert f"`code-cot` ({rows['sft_rows']} SFT rows, {rows['sft_verified']} verified" in verified
    assert rows["sft_verified"] >= 1 and rows["sft_rows"] > rows["sft_verified"]  # clamp passes, digit_sum does not
    # why: the round trip's outcomes, the cut CoT, every filter reason, each the manifest's count
    stage = data["stages"]["code-cot/code_cot"]
    table = reason_table(text, "code-cot")
    roundtrip = {k.split(":", 1)[1]: v for k, v in stage["stats"].items() if k.startswith("roundtrip:")}
    assert roundtrip.get("failed", 0) >= 1 and len(roundtrip) >= 2  # digit_sum fails; no code comes back for others
    for outcome, n in roundtrip.items():
        assert table[outcome] == n
    assert stage["filtered"]["truncated_cot"] == 1  # is_palindrome's CoT was cut at the cap: left out, said so
    assert table["code_cot: truncated_cot"] == 1
    for name, entry in data["stages"].items():
        if name.startswith("code-cot/"):
            for reason, n in entry["filtered"].items():
                assert table[f"{name.split('/', 1)[1]}: {reason}"] == n
    assert f"{rows['sft_rows'] - rows['sft_verified']} of {rows['sft_rows']} SFT rows unverified" in text


def test_the_cards_example_rows_load(code_folder: Path) -> None:
    text = (code_folder / "README.md").read_text(encoding="utf-8")
    shown = example_blocks(text)
    ids = {i for p in (code_folder / "sft").glob("*.parquet") for i in pq.read_table(p, columns=["id"])["id"].to_pylist()}
    assert set(shown) == {"sft"} and len(shown["sft"]) == min(3, len(ids))
    for row in shown["sft"]:
        assert list(row) == SFT_SCHEMA.names and row["id"] in ids and row["source_kind"] == "code"
        assert row["answer"].startswith("```python")  # a fenced block inside the card's fenced block, still JSON
        assert all(len(s) <= examples.MAX_CHARS + 40 for s in (row["problem"], row["answer"], row["verifier_detail"]))


def test_the_card_gives_token_lengths_in_the_embedded_tokenizers_tokens(code_folder: Path, embedded_model_dir: Path) -> None:
    from transformers import AutoTokenizer

    data = json.loads((code_folder / "manifest.json").read_text(encoding="utf-8"))
    lengths = data["token_lengths"]
    tokenizer = AutoTokenizer.from_pretrained(str(embedded_model_dir), local_files_only=True)
    rows = [r for p in sorted((code_folder / "sft").glob("*.parquet")) for r in pq.read_table(p).to_pylist()]
    assert lengths["sampled"]["sft"] == len(rows) and lengths["tokenizer"] == "SmolLM2-135M-Instruct"
    for column in ("problem", "steps", "answer", "messages"):
        counts = sorted(len(tokenizer(token_lengths.column_text(r[column]), add_special_tokens=False)["input_ids"])
                        for r in rows)
        figures = lengths["columns"]["sft"][column]
        assert figures["max"] == counts[-1] and figures["mean"] == round(sum(counts) / len(counts), 1)
        assert figures["p50"] == token_lengths.quantile(counts, 0.5) and figures["p95"] == token_lengths.quantile(counts, 0.95)
        text = (code_folder / "README.md").read_text(encoding="utf-8")
        assert (f"| `sft` | `{column}` | {len(rows)} | {figures['mean']} | {figures['p50']} | {figures['p95']} | "
                f"{figures['max']} |") in text


def sft(i: int, text: str) -> dict[str, Any]:
    return {"id": f"r{i:05d}", "source_kind": "seed", "problem": text, "answer": "1", "steps": [{"text": text}],
            "messages": [{"role": "user", "content": text}], "verified": False, "verifier": "none"}


def test_token_lengths_sample_a_bounded_number_of_rows_and_are_kept_while_the_shards_are(tmp_path: Path,
                                                                                        monkeypatch: pytest.MonkeyPatch) -> None:
    out = str(tmp_path)
    for shard in range(40):
        write_rows([sft(shard * 100 + i, "word " * (i + 1)) for i in range(100)], "sft", f"{out}/sft/tag-{shard:02d}.parquet")
    monkeypatch.setattr(token_lengths, "SAMPLE_ROWS", 300)
    loads = []

    def words() -> token_lengths.CountTokens:
        loads.append(1)
        return lambda texts: [len(t.split()) for t in texts]

    first = token_lengths.token_lengths(out, None, words)
    assert first["sampled"] == {"sft": 300, "prm": 0}  # 16 shards of 40, their first 19 rows each, cut to 300
    assert first["columns"]["sft"]["problem"] == {"rows": 300, "mean": 9.9, "p50": 10, "p95": 18, "max": 19}
    assert token_lengths.token_lengths(out, first, words) is first and len(loads) == 1  # nothing changed: kept
    write_rows([sft(9999, "word")], "sft", f"{out}/sft/tag-99.parquet")
    assert token_lengths.token_lengths(out, first, words)["key"] != first["key"] and len(loads) == 2


def test_without_the_tokenizer_the_card_says_so(tmp_path: Path) -> None:
    out = str(tmp_path)
    write_rows([sft(1, "a b c")], "sft", f"{out}/sft/tag-a.parquet")

    def missing() -> token_lengths.CountTokens:
        raise FileNotFoundError("the embedded model is not installed")

    lengths = token_lengths.token_lengths(out, None, missing)
    assert "FileNotFoundError" in lengths["unavailable"] and not lengths["columns"]
    text = card.render(out, {"token_lengths": lengths, "outputs": {"sft_rows": 1}, "splits": {"sft": {"train": 1}}})
    assert "## Token lengths" in text and "Not counted: the tokenizer could not be loaded (FileNotFoundError" in text


def test_each_command_has_its_own_meaning_and_reasons() -> None:
    """lean-cot without Lean, tag and expand: what their rows' verified means, and the leak filter,
    tactics without a thought and cut generations counted by reason."""
    stages = {
        "lean-cot/lean_cot": {"read": 5, "written": 3, "filtered": {"truncated_cot": 1, "no_usable_thought": 1},
                              "dead_lettered": 0, "stats": {"rejected:names_lemma": 4, "rejected:tactic_code": 2,
                                                            "verifier:none": 3, "tactics": 9, "tactics_without_thought": 2,
                                                            "truncated:thoughts": 3, "truncated_kept": 0}},
        "tag/parse": {"read": 2, "written": 1, "filtered": {}, "dead_lettered": 1, "dead_reasons": {"no_problem": 1}},
        "expand/trajectories": {"read": 9, "written": 4, "filtered": {"no_final_answer": 5}, "dead_lettered": 0},
    }
    manifest = {"stages": stages, "runs": {"lean-cot": {}, "tag": {}, "expand": {}},
                "by_command": {"lean-cot": {"sft_rows": 3, "sft_verified": 0}, "tag": {"sft_rows": 1},
                               "expand": {"sft_rows": 4, "sft_verified": 1, "prm_rows": 2}}}
    found = {o.command: o for o in outcomes(manifest)}
    lean = {r.what: r.counts for r in found["lean-cot"].reasons}
    assert lean[next(w for w in lean if "leak filter" in w)] == {"names_lemma": 4, "tactic_code": 2}
    assert lean[next(w for w in lean if "without a thought" in w)] == {"tactics_without_thought": 2, "tactics (all)": 9}
    assert lean[next(w for w in lean if "verifier" in w)] == {"none": 3}
    assert lean[next(w for w in lean if "token cap" in w)] == {"lean_cot: truncated_cot": 1, "lean_cot: truncated:thoughts": 3,
                                                             "lean_cot: truncated_kept": 0}
    assert {r.what: r.counts for r in found["tag"].reasons} == {
        "inputs dead-lettered (`dead_letter/`), per stage": {"parse: no_problem": 1}}
    assert found["expand"].unverified == 3 and found["expand"].prm_rows == 2
    text = card.render("/nowhere", manifest | {"generation": {"sft": [{"verifier": "none", "rows": 8, "verified": 1}]}})
    assert "`tag` checks nothing itself" in text and "nothing was checked" in text
    assert "| thought samples the leak filter rejected (the next sample was tried) | `names_lemma` | 4 |" in text
    assert "only `expand`'s unverified rows are wrong answers" in text
