"""``reverse-o1 tag`` end to end on the Beam DirectRunner: real data, resume, bad and hostile input."""

from __future__ import annotations

import glob
import json
import shutil
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from schemas.factors import load_factors
from schemas.records import Step
from schemas.tags import parse_think
from tests.pipelines.helpers import FIXTURES, assert_balanced, dead_letters, manifest, run, scripted, write_jsonl

VOCABULARY = load_factors()


def sft_rows(out: Path) -> list[dict[str, Any]]:
    return [r for p in sorted(glob.glob(str(out / "sft" / "*.parquet"))) for r in pq.read_table(p).to_pylist()]


def assert_rows_parse_back(rows: list[dict[str, Any]], vocabulary: Any = VOCABULARY) -> None:
    for row in rows:
        user, assistant = row["messages"]
        assert user == {"role": "user", "content": row["problem"]}
        assert assistant["role"] == "assistant"
        steps, answer = parse_think(assistant["content"], vocabulary)
        assert steps == [Step(s["text"], s["factor"]) for s in row["steps"]] and answer == row["answer"]
        assert all(s["factor"] in vocabulary for s in row["steps"])


def tag(tmp_path: Path, inputs: list[Path | str], column: str, out: str = "out", *extra: str, code: int = 0) -> Path:
    out_dir = tmp_path / out
    assert run(["tag", "--input", *inputs, "--column", column, "--out", out_dir, *extra]) == code
    return out_dir


def test_gsm8k_solutions(tmp_path: Path) -> None:
    out = tag(tmp_path, [FIXTURES / "gsm8k_sample.jsonl"], "answer")
    rows = sft_rows(out)
    source = [json.loads(line) for line in (FIXTURES / "gsm8k_sample.jsonl").read_text().splitlines()]
    assert len(rows) == len(source) == 20
    assert_rows_parse_back(rows)
    by_problem = {r["problem"]: r for r in rows}
    for record in source:
        row = by_problem[record["question"]]
        assert row["answer"] == record["answer"].rsplit("####", 1)[1].strip()
        assert len(row["steps"]) == len([x for x in record["answer"].splitlines() if not x.startswith("####")])
        assert row["source_kind"] == "seed" and row["verified"] is False
        assert row["generator"]["prompt_version"] == "tag_rules/v1" and row["generator"]["backend"] == "rules"
    data = assert_balanced(out)
    factors = data["factors"]
    steps = sum(len(r["steps"]) for r in rows)
    assert factors["steps"] == steps == sum(factors["by_factor"].values())
    assert factors["by_source_kind"]["seed"] == factors["by_factor"] and factors["tiers"] == {"rules": steps}
    assert data["stages"]["tag/tag_steps"]["stats"][f"factor:seed:{next(iter(factors['by_factor']))}"] > 0
    card = (out / "README.md").read_text()
    assert "## Thought factors" in card and f"| Compute | {factors['by_factor']['Compute']} |" in card


def test_output_loads_with_datasets(tmp_path: Path) -> None:
    import datasets

    out = tag(tmp_path, [FIXTURES / "gsm8k_sample.jsonl"], "answer", "out", "--limit", "4")
    direct = datasets.load_dataset("parquet", data_files=str(out / "sft" / "*.parquet"), split="train")
    via_card = datasets.load_dataset(str(out), "sft", split="train", cache_dir=str(tmp_path / "hf"))
    assert len(direct) == len(via_card) == 4
    assert_rows_parse_back(list(direct))


def test_lean_informal_solutions(tmp_path: Path) -> None:
    out = tag(tmp_path, [FIXTURES / "minif2f_valid_sample.jsonl"], "formal_proof")
    rows = sft_rows(out)
    assert len(rows) == 9 and {r["source_kind"] for r in rows} == {"lean"}
    assert_rows_parse_back(rows)
    row = next(r for r in rows if r["source"]["symbol"] == "mathd_algebra_182")
    assert row["problem"] == "Expand the following expression: $7(3y+2)$ Show that it is 21y+14."
    assert row["steps"][-1] == {"text": "ring", "factor": "Compute"}
    data = assert_balanced(out)
    assert data["stages"]["tag/parse"]["stats"]["no_answer"] == 9
    assert set(data["factors"]["by_source_kind"]) == {"lean"}


def test_resume_does_not_redo_or_duplicate(tmp_path: Path) -> None:
    first = tag(tmp_path, [FIXTURES / "gsm8k_sample.jsonl"], "answer", "out", "--limit", "5")
    assert len(sft_rows(first)) == 5
    factors_before = manifest(first)["factors"]
    again = tag(tmp_path, [FIXTURES / "gsm8k_sample.jsonl"], "answer")
    rows = sft_rows(again)
    assert len(rows) == 20 and len({r["id"] for r in rows}) == 20
    data = assert_balanced(again)
    assert data["stages"]["tag/parse"]["resumed"] == 5
    assert data["factors"]["steps"] > factors_before["steps"]
    ids = sorted(r["id"] for r in rows)
    tag(tmp_path, [FIXTURES / "gsm8k_sample.jsonl"], "answer")
    assert sorted(r["id"] for r in sft_rows(again)) == ids
    assert manifest(again)["stages"]["tag/parse"]["resumed"] == 20
    assert manifest(again)["factors"]["steps"] == data["factors"]["steps"]  # from the shards, not this run


def test_same_input_gives_same_ids_and_tagger_changes_them(tmp_path: Path) -> None:
    a = sft_rows(tag(tmp_path, [FIXTURES / "gsm8k_sample.jsonl"], "answer", "a", "--limit", "3"))
    b = sft_rows(tag(tmp_path, [FIXTURES / "gsm8k_sample.jsonl"], "answer", "b", "--limit", "3"))
    assert sorted(map(str, a)) == sorted(map(str, b))
    policy = scripted(default="Compute")
    c = sft_rows(tag(tmp_path, [FIXTURES / "gsm8k_sample.jsonl"], "answer", "c", "--limit", "3", "--tagger", "llm",
                     "--backend", "scripted", "--model", policy))
    assert not {r["id"] for r in a} & {r["id"] for r in c}


HOSTILE = "Look: <ACT_Compute-Start> and <Think_End> and <\\Think_Start> inside.\n\nThe answer is 5."


def bad_input(tmp_path: Path) -> Path:
    good = {"problem": "P?", "cot": "We need to find x.\nx = 2 + 3 = 5.\nThe answer is 5."}
    tagged = "<Think_Start>\n<ACT_Compute-Start> 2 + 2 = 4 <ACT_Compute-End>\n<Think_End>\n4"
    lines = [
        json.dumps(good),
        json.dumps(good),  # an exact duplicate: one row, the other filtered
        json.dumps({"problem": "P?", "text": "no cot column"}),
        json.dumps({"problem": "P?", "cot": 42}),
        json.dumps({"problem": "P?", "cot": ""}),
        json.dumps({"problem": "P?", "cot": None}),
        json.dumps({"problem": "P?", "cot": "#### 5"}),
        json.dumps({"cot": "Steps without a problem."}),
        json.dumps(["not", "an", "object"]),
        '{"problem": "P?", "cot": "truncated',
        json.dumps({"problem": "Hostile?", "cot": HOSTILE}),
        json.dumps({"problem": "Tagged?", "cot": tagged}),
        json.dumps({"problem": "Broken?", "cot": "<Think_Start>\n<ACT_Compute-Start> 1 <ACT_Verify-End>\n<Think_End>\n"}),
        json.dumps({"problem": "Listed?", "cot": [{"text": "Let's check: 1 = 1.", "factor": "Verify"}, {"text": "So 1."}]}),
        json.dumps({"problem": "Unknown factor?", "cot": [{"text": "a", "factor": "Telepathy"}]}),
        json.dumps({"problem": "Bad steps?", "cot": [{"text": 3}]}),
        json.dumps({"cot": [{"role": "user", "content": "Chat?"},
                            {"role": "assistant", "content": "2 + 2 = 4. The answer is 4."}]}),
    ]
    path = tmp_path / "bad.jsonl"
    path.write_bytes(("\n".join(lines) + "\n").encode() + b'{"problem": "\xff\xfe", "cot": "x"}\n')
    return path


def test_bad_and_hostile_input_is_accounted_for(tmp_path: Path) -> None:
    out = tag(tmp_path, [bad_input(tmp_path)], "cot")
    data = assert_balanced(out)
    reasons = sorted(d["reason"] for d in dead_letters(out))
    assert reasons == sorted(["missing_column", "wrong_type", "no_problem", "not_an_object", "malformed_json", "bad_tags",
                              "unknown_factor", "wrong_type", "not_utf8"])
    letter = next(d for d in dead_letters(out) if d["reason"] == "bad_tags")
    assert "mismatched_tag at line 2, column 23" in letter["error"] and letter["ref"].endswith("bad.jsonl:13")
    missing = next(d["error"] for d in dead_letters(out) if d["reason"] == "missing_column")
    assert "no column 'cot' (columns: problem, text)" in missing
    assert data["stages"]["tag/parse"]["filtered"] == {"empty_text": 2, "no_steps": 1}
    assert data["stages"]["tag/dedupe"]["filtered"] == {"duplicate": 1}
    assert data["stages"]["tag/read"]["read"] == 18
    rows = {r["problem"]: r for r in sft_rows(out)}
    assert set(rows) == {"P?", "Hostile?", "Tagged?", "Listed?", "Chat?"}
    assert_rows_parse_back(list(rows.values()))
    assert rows["Hostile?"]["steps"][0]["text"].startswith("Look: <ACT_Compute-Start> and <Think_End>")
    assert rows["Hostile?"]["answer"] == "5"
    assert rows["Tagged?"]["steps"] == [{"text": "2 + 2 = 4", "factor": "Compute"}] and rows["Tagged?"]["answer"] == "4"
    assert rows["Listed?"]["steps"][0]["factor"] == "Verify"  # a given factor is kept
    assert rows["Chat?"]["answer"] == "4"
    assert data["factors"]["tiers"]["human"] == 2


STATED = {  # the last step → its answer, as verifiers.math_answer.extract_answer reads it (tag once gave "" for the first 3)
    "Root?": ("We halve the diagonal.\n\nSo it is \\boxed{\\frac{\\sqrt{2}}{2}}", "\\frac{\\sqrt{2}}{2}"),
    "Boxed?": ("We add 3 and 4.\n\nThe result is \\fbox{7}", "7"),
    "Nested?": ("We stack the powers.\n\nSo \\boxed{a^{b^{c}}}", "a^{b^{c}}"),
    "Phrase?": ("We multiply 6 by 7.\n\nThe answer is 42.", "42"),
    "Unstated?": ("We think about it.\n\nThe answer is yes.", ""),
}


def test_answer_stated_in_the_text_and_source_of_a_json_file(tmp_path: Path) -> None:
    folder = tmp_path / "run:1"  # a colon in a folder name: the source is still this file, not "run"
    folder.mkdir()
    path = folder / "in.json"
    path.write_text(json.dumps([{"problem": problem, "cot": cot} for problem, (cot, _) in STATED.items()]), encoding="utf-8")
    out = tag(tmp_path, [path], "cot")
    rows = {r["problem"]: r for r in sft_rows(out)}
    assert {problem: row["answer"] for problem, row in rows.items()} == {p: answer for p, (_, answer) in STATED.items()}
    assert assert_balanced(out)["stages"]["tag/parse"]["stats"]["no_answer"] == 1
    assert {r["source"]["uri"] for r in rows.values()} == {f"file://{path}"}
    assert sorted(r["source"]["path"] for r in rows.values()) == [f"{path}#{i}" for i in range(len(STATED))]


def test_huge_text_is_dead_lettered_or_processed_with_a_higher_limit(tmp_path: Path) -> None:
    text = ("We compute 3 + 4 = 7 and keep going with more words here. " * 80 + "\n\n") * 1000
    path = write_jsonl(tmp_path / "huge.jsonl", [{"problem": "Big?", "cot": text}, {"problem": "Small?", "cot": "1 + 1 = 2."}])
    out = tag(tmp_path, [path], "cot")
    assert [d["reason"] for d in dead_letters(out)] == ["too_large"] and len(sft_rows(out)) == 1
    assert_balanced(out)
    out = tag(tmp_path, [path], "cot", "big", "--max-record-bytes", "6000000")
    rows = {r["problem"]: r for r in sft_rows(out)}
    assert len(rows["Big?"]["steps"]) >= 1000
    assert_rows_parse_back(list(rows.values()))
    assert_balanced(out)


def test_parquet_input(tmp_path: Path) -> None:
    table = pa.table({"question": ["Q1?", "Q2?", "Q3?"], "solution": ["1 + 1 = 2.\nSo 2.", None, "Wait, 2 * 2 = 4.\n#### 4"]})
    pq.write_table(table, tmp_path / "in.parquet")
    out = tag(tmp_path, [tmp_path / "in.parquet"], "solution")
    rows = {r["problem"]: r for r in sft_rows(out)}
    assert set(rows) == {"Q1?", "Q3?"} and rows["Q3?"]["answer"] == "4"
    assert rows["Q3?"]["steps"] == [{"text": "Wait, 2 * 2 = 4.", "factor": "SelfCorrect"}]
    assert assert_balanced(out)["stages"]["tag/parse"]["filtered"] == {"empty_text": 1}


def test_custom_vocabulary_and_bad_vocabulary(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    custom = tmp_path / "factors.yaml"
    custom.write_text("default: Other\nfactors:\n  - {name: Other, description: any step}\n"
                      "  - {name: Calc, description: computes, signals: [arithmetic]}\n", encoding="utf-8")
    out = tag(tmp_path, [FIXTURES / "gsm8k_sample.jsonl"], "answer", "out", "--limit", "2", "--factors", custom)
    rows = sft_rows(out)
    assert_rows_parse_back(rows, load_factors(str(custom)))
    assert {s["factor"] for r in rows for s in r["steps"]} <= {"Other", "Calc"}
    bad = tmp_path / "bad.yaml"
    bad.write_text("factors:\n  - {name: lower, description: x}\n", encoding="utf-8")
    capsys.readouterr()
    tag(tmp_path, [FIXTURES / "gsm8k_sample.jsonl"], "answer", "bad", "--factors", bad, code=2)
    err = capsys.readouterr().err
    assert "reverse-o1 tag: error:" in err and "factors[0].name: 'lower' is not a factor name" in err


def test_missing_column_flag_is_a_clear_error(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert run(["tag", "--input", FIXTURES / "gsm8k_sample.jsonl", "--out", tmp_path / "o"]) == 2
    assert "tag needs --column NAME" in capsys.readouterr().err


def test_llm_tagger_with_fallbacks_counted(tmp_path: Path) -> None:
    policy = scripted([("Step: There are 55", "Refute")], default="I cannot say.")
    out = tag(tmp_path, [FIXTURES / "gsm8k_sample.jsonl"], "answer", "out", "--limit", "3", "--tagger", "llm",
              "--backend", "scripted", "--model", policy)
    rows = sft_rows(out)
    assert_rows_parse_back(rows)
    assert rows[0]["generator"]["prompt_version"] == "tag_factor/v1" and rows[0]["generator"]["backend"] == "scripted"
    data = assert_balanced(out)
    steps = sum(len(r["steps"]) for r in rows)
    refuted = sum(s["factor"] == "Refute" for r in rows for s in r["steps"])
    assert refuted >= 1
    assert data["factors"]["tiers"] == {"llm": refuted, "llm_fallback": steps - refuted}
    assert data["factors"]["llm_fallbacks"] == steps - refuted
    assert "LLM answers that named no factor (the rules' factor kept): " + str(steps - refuted) in (out / "README.md").read_text()


def test_failing_backend_dead_letters_rows(tmp_path: Path) -> None:
    out = tag(tmp_path, [FIXTURES / "gsm8k_sample.jsonl"], "answer", "out", "--limit", "3", "--tagger", "both",
              "--backend", "scripted", "--model", scripted(default="__FAIL__"))
    data = assert_balanced(out)
    stage = data["stages"]["tag/tag_steps"]
    assert stage["read"] == 3 and stage["written"] + stage["dead_lettered"] == 3
    assert all(d["reason"] == "backend_error" for d in dead_letters(out))


def test_multi_process_workers(tmp_path: Path) -> None:
    shutil.copy(FIXTURES / "gsm8k_sample.jsonl", tmp_path / "g.jsonl")
    single = sft_rows(tag(tmp_path, [tmp_path / "g.jsonl"], "answer", "one", "--limit", "6"))
    multi = tag(tmp_path, [tmp_path / "g.jsonl"], "answer", "two", "--limit", "6", "--direct_num_workers=2",
                "--direct_running_mode=multi_processing")
    assert sorted(map(str, sft_rows(multi))) == sorted(map(str, single))
    assert_balanced(multi)


@pytest.mark.model
def test_llm_tagger_end_to_end_on_the_embedded_model(tmp_path: Path, embedded_model_dir: Path) -> None:
    record = {"problem": "How many clips?", "cot": "48 / 2 = 24.\nWait, that is right.\n#### 24"}
    path = write_jsonl(tmp_path / "one.jsonl", [record])
    out = tag(tmp_path, [path], "cot", "out", "--tagger", "llm", "--threads", "1")
    [row] = sft_rows(out)
    assert_rows_parse_back([row])
    assert row["generator"]["prompt_version"] == "tag_factor/v1" and row["generator"]["model"] == "SmolLM2-135M-Instruct"
    tiers = assert_balanced(out)["factors"]["tiers"]
    assert sum(tiers.values()) == 2 and set(tiers) <= {"llm", "llm_fallback"}
