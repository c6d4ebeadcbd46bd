"""Screening through the real CLI and Beam runner: decontamination, near-duplicates across inputs and runs,
the difficulty band, user references, bad options (scripted backend as the test double)."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from tests.pipelines.helpers import assert_balanced, dead_letters, manifest, prm_rows, run, scripted, write_jsonl

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "decontamination"
POLICY = scripted([("Write the", "Add the two numbers.")], default="So it is 42.\nThe answer is 42.")


def jsonl(name: str) -> list[dict]:
    return [json.loads(line) for line in (FIXTURES / name).read_text(encoding="utf-8").splitlines() if line.strip()]


def gsm8k_seed(ident: str, item: dict) -> dict:
    lines = item["answer"].splitlines()
    return {"id": ident, "problem": item["question"], "answer": lines[-1].split("####")[-1].strip(),
            "steps": [{"text": line} for line in lines[:-1]]}


def reports(out: Path, name: str) -> list[dict]:
    return [json.loads(line) for p in sorted((out / "reports" / name).glob("*.jsonl"))
            for line in p.read_text(encoding="utf-8").splitlines() if line.strip()]


def label(tmp_path: Path, seeds: Path, out: str, *extra: str) -> Path:
    target = tmp_path / out
    assert run(["label", "--input", seeds, "--out", target, "--backend", "scripted", "--model", POLICY, "--n", "1",
                "--max-new-tokens", "16", *extra]) == 0
    return target


def test_contaminated_and_near_duplicate_seeds_are_filtered_and_reported(tmp_path: Path) -> None:
    train = jsonl("gsm8k_train_500.jsonl")
    test = jsonl("gsm8k_test_20.jsonl")
    seeds = [gsm8k_seed(f"train{i}", item) for i, item in enumerate(train[:6])]
    seeds.append(gsm8k_seed("leak0", {**test[0], "question": "  ".join(test[0]["question"].split())}))
    copy = re.sub(r"\d+", lambda m: str(int(m.group(0)) + 3), train[1]["question"])  # the same problem, other numbers
    seeds.append(gsm8k_seed("copy1", {**train[1], "question": copy}))
    out = label(tmp_path, write_jsonl(tmp_path / "s.jsonl", seeds), "out")
    data = assert_balanced(out)
    assert data["stages"]["label/screen"]["filtered"] == {"contaminated:gsm8k": 1}
    assert data["stages"]["label/near_duplicates"]["filtered"] == {"near_duplicate": 1}
    assert {r["id"] for r in reports(out, "contaminated")} == {"leak0"}
    [dup] = reports(out, "near_duplicates")
    assert dup["id"] == "copy1" and dup["duplicates"] == "train1" and dup["similarity"] >= 0.7
    assert len({r["prompt"] for r in prm_rows(out)}) == 6
    card = (out / "README.md").read_text(encoding="utf-8")
    assert "## Decontamination and near-duplicates" in card and "gsm8k, math500, minif2f" in card
    assert "`contaminated:gsm8k` 1" in card

    # a later run into the same folder: a near-copy of a problem the first run kept is filtered too
    again = [gsm8k_seed("copy2", {**train[2], "question": train[2]["question"].replace(".", " .")}),
             gsm8k_seed("fresh", train[7])]
    out2 = label(tmp_path, write_jsonl(tmp_path / "s2.jsonl", again), "out")
    stage = manifest(out2)["stages"]["label/near_duplicates"]
    assert stage["filtered"] == {"near_duplicate": 1} and stage["written"] == 1

    # off: every seed is labelled
    off = label(tmp_path, write_jsonl(tmp_path / "s.jsonl", seeds), "off", "--decontaminate", "none", "--no-near-duplicates")
    assert len({r["prompt"] for r in prm_rows(off)}) == 8
    assert "none (`--decontaminate none`)" in (off / "README.md").read_text(encoding="utf-8")


def test_a_user_reference_file_and_bad_lines(tmp_path: Path) -> None:
    mine = write_jsonl(tmp_path / "mybench.jsonl", [{"question": "A wizard brews 17 potions every night for 3 nights in "
                                                                 "the old tower. How many potions are there?"},
                                                    {"other": 1}, "not an object"])
    (tmp_path / "mybench.jsonl").write_bytes((tmp_path / "mybench.jsonl").read_bytes() + b"\xff\xfe not json\n")
    seeds = [{"id": "w", "problem": "A wizard brews 17 potions every night for 3 nights in the old tower. How many potions?",
              "answer": "51", "steps": [{"text": "17 * 3 = 51."}]},
             {"id": "ok", "problem": "Problem ok?", "answer": "42", "steps": [{"text": "Add."}]}]
    out = label(tmp_path, write_jsonl(tmp_path / "s.jsonl", seeds), "out", "--decontaminate", "none",
                "--decontaminate-file", mine, "--decontaminate-column", "question")
    assert assert_balanced(out)["stages"]["label/screen"]["filtered"] == {"contaminated:mybench": 1}


@pytest.mark.parametrize("flags, message", [
    (["--decontaminate", "gsm8k,aime"], "unknown benchmark aime"),
    (["--decontaminate-file", "/nonexistent/bench.jsonl"], "no such file"),
    (["--min-pass", "0.2"], "need --difficulty"),
    (["--difficulty", "/nonexistent/dir"], "no difficulty shards"),
])
def test_bad_screening_options_are_one_line_errors(tmp_path: Path, capsys: pytest.CaptureFixture[str], flags: list[str],
                                                   message: str) -> None:
    seeds = write_jsonl(tmp_path / "s.jsonl", [{"id": "a", "problem": "Problem a?", "answer": "1", "steps": [{"text": "x"}]}])
    assert run(["label", "--input", seeds, "--out", tmp_path / "out", "--backend", "scripted", "--model", POLICY,
                *flags]) == 2
    assert message in capsys.readouterr().err


def test_difficulty_band_keeps_the_middle(tmp_path: Path) -> None:
    from pipelines.io.shards import write_rows

    band = tmp_path / "band"
    rows = [{"id": f"d{i}", "problem_id": pid, "problem": "p", "answer": "1", "k": 4, "correct": c, "pass_rate": c / 4}
            for i, (pid, c) in enumerate([("easy", 4), ("hard", 0), ("mid", 2)])]
    write_rows(rows, "difficulty", str(band / "difficulty" / "x-1.parquet"))
    seeds = [{"id": pid, "problem": f"Problem {pid}?", "answer": "42", "steps": [{"text": "Add."}]}
             for pid in ("easy", "hard", "mid", "unknown")]
    out = label(tmp_path, write_jsonl(tmp_path / "s.jsonl", seeds), "out", "--difficulty", band,
                "--min-pass", "0.25", "--max-pass", "0.75")
    screen = assert_balanced(out)["stages"]["label/screen"]
    assert screen["filtered"] == {"too_easy": 1, "too_hard": 1} and screen["stats"]["no_difficulty"] == 1
    assert {r["prompt"] for r in prm_rows(out)} == {"Problem mid?", "Problem unknown?"}
    assert not dead_letters(out)


def test_humaneval_prompts_planted_in_a_repository_are_filtered_before_the_sandbox(tmp_path: Path) -> None:
    repo = tmp_path / "repo"
    repo.mkdir()
    functions = []
    for i, item in enumerate(jsonl("humaneval_10.jsonl")):
        doc = re.search(r'"""(.*?)"""', item["prompt"], re.S)
        text = doc.group(1).strip().replace('"""', "'''") if doc else item["task_id"]
        functions.append(f'def planted_{i}(x):\n    """{text}\n    """\n    return x\n')
    functions.append('def own(x):\n    """Return x doubled, for the tests of this repository."""\n    return 2 * x\n')
    (repo / "mod.py").write_text("\n\n".join(functions), encoding="utf-8")
    out = tmp_path / "out"
    code = run(["code-cot", "--repo", repo, "--out", out, "--backend", "scripted", "--model", POLICY,
                "--max-new-tokens", "16"])
    assert code == 3  # no rows: the planted functions are filtered, the repository's own one has no test
    screen = manifest(out)["stages"]["code-cot/screen"]
    assert screen["filtered"] == {"contaminated:humaneval": 10} and screen["read"] == 10
    assert "code-cot/near_duplicates" not in manifest(out)["stages"]
