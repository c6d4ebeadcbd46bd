"""``reverse-o1 code-cot`` through the real Beam runner, the real sandbox and a real git repository
(the bundled tinytext package committed in tmp_path), with a scripted policy (a test double) or the
embedded model; hostile repositories; ``verify code`` from the CLI."""

from __future__ import annotations

import glob
import json
import os
import shutil
import subprocess
from pathlib import Path

import datasets
import pyarrow.parquet as pq
import pytest

from schemas.tags import parse_think
from tests.pipelines.helpers import assert_balanced, dead_letters, run, scripted

TINYTEXT = Path(__file__).resolve().parents[2] / "samples" / "code" / "tinytext"
FORWARD = ("1. I need to work out what the task asks for from the docstring.\n"
           "2. Then I handle the edge cases before the main case.\n"
           "3. Finally I return the value the docstring promises.")
CLAMP_OK = "```python\ndef clamp(value, low, high):\n    if low > high:\n        raise ValueError('bad')\n" \
           "    return max(low, min(value, high))\n```"
DIGITS_WRONG = "```python\ndef digit_sum(n):\n    return 0\n```"
POLICY = scripted([("For your eyes only", FORWARD), ("def clamp(", CLAMP_OK), ("def digit_sum(", DIGITS_WRONG)],
                  default="I cannot write that.")
GIT_ENV = {"GIT_AUTHOR_NAME": "t", "GIT_AUTHOR_EMAIL": "t@localhost", "GIT_COMMITTER_NAME": "t",
           "GIT_COMMITTER_EMAIL": "t@localhost", "GIT_AUTHOR_DATE": "2026-01-01T00:00:00Z",
           "GIT_COMMITTER_DATE": "2026-01-01T00:00:00Z"}


def git_repo(source: Path, target: Path, files: dict[str, str] | None = None) -> Path:
    shutil.copytree(source, target) if source else target.mkdir(parents=True)
    for name, text in (files or {}).items():
        Path(target, name).parent.mkdir(parents=True, exist_ok=True)
        Path(target, name).write_text(text, encoding="utf-8")
    env = {**os.environ, **GIT_ENV}
    for argv in (["init", "-q", "-b", "main"], ["add", "-A"], ["commit", "-q", "-m", "v1"]):
        subprocess.run(["git", *argv], cwd=target, env=env, check=True, capture_output=True)
    return target


def sft_rows(out: Path) -> list[dict]:
    return [r for p in sorted(glob.glob(os.path.join(out, "sft", "*.parquet"))) for r in pq.read_table(p).to_pylist()]


def code_cot(out: Path, repo: str, *extra: str, policy: str = POLICY) -> int:
    return run(["code-cot", "--repo", repo, "--out", out, "--backend", "scripted", "--model", policy,
                "--sandbox-timeout", "4", "--repo-cache", out.parent / "cache", *extra])


@pytest.fixture(scope="module")
def tinytext_repo(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return git_repo(TINYTEXT, tmp_path_factory.mktemp("repos") / "tinytext")


def test_code_cot_on_a_git_repository(tinytext_repo: Path, tmp_path: Path) -> None:
    out = tmp_path / "out"
    assert code_cot(out, f"{tinytext_repo}@HEAD") == 0
    data = assert_balanced(out)
    stages = data["stages"]
    original = stages["code-cot/original_tests"]
    assert original["filtered"].get("original_failed") == 1  # percent: its doctest is wrong
    assert original["filtered"].get("original_timeout") == 1  # countdown: its doctest never ends
    rows = {r["source"]["symbol"]: r for r in sft_rows(out)}
    assert {"clamp", "digit_sum", "count_words", "Counter.add", "mean"} <= set(rows)
    assert not {"percent", "countdown", "shout", "home_directory"} & set(rows)
    commit = subprocess.run(["git", "rev-parse", "HEAD"], cwd=tinytext_repo, capture_output=True, text=True).stdout.strip()
    for row in rows.values():
        assert row["source_kind"] == "code" and row["source"]["commit"] == commit and row["source"]["license"] == "MIT"
        steps, answer = parse_think(row["messages"][1]["content"])
        assert answer == row["answer"] and answer.startswith("```python\n") and answer.endswith("\n```")
        assert [s.text for s in steps] == [s["text"] for s in row["steps"]] and len(steps) == 3
        assert row["verifier"] == "code_roundtrip"
        assert row["generator"]["prompt_version"] == "code_reverse_cot/v2+code_from_plan/v2"
        assert row["truncated"] is False and json.loads(row["verifier_detail"])["filter"] == "hindsight/v3"
        assert "def " + row["source"]["symbol"].split(".")[-1] in row["answer"]
        assert row["messages"][0]["content"] == row["problem"] and "```python" in row["problem"]
    assert rows["clamp"]["verified"] is True and "bwrap" in rows["clamp"]["verifier_detail"]
    assert rows["digit_sum"]["verified"] is False  # the round-trip code returns 0: its doctest fails
    assert rows["count_words"]["verified"] is False and "no code" in rows["count_words"]["verifier_detail"]
    assert rows["mean"]["source"]["path"] == "tinytext/numbers.py"  # tested only by tests/test_words.py
    # the module context the prompts showed is in the task and recorded in the row
    context = json.loads(rows["count_words"]["verifier_detail"])["context"]
    assert context["helpers"] == ["words"] and context["imports"] == ["re"] and context["left_out"] == 0
    assert "def words(text):" in rows["count_words"]["problem"] and "_WORD.findall" not in rows["count_words"]["problem"]
    assert json.loads(rows["Counter.add"]["verifier_detail"])["context"]["class"] == {"name": "Counter", "members": ["__init__"]}
    assert "self.counts = {}" in rows["Counter.add"]["problem"]
    loaded = datasets.load_dataset(str(out), "sft", cache_dir=str(tmp_path / "hf"))["train"]
    assert loaded.num_rows == len(rows) and set(loaded.column_names) >= {"messages", "verified", "source"}
    # the functions whose own tests fail are listed, with the failing test
    reported = {r["symbol"]: r for r in _reports(out)}
    assert set(reported) == {"percent", "countdown"}
    assert reported["percent"]["failing_test"] == "doctest percent" and reported["percent"]["status"] == "failed"
    assert reported["countdown"]["status"] == "timeout" and reported["countdown"]["commit"] == commit

    # rerun: everything already written is resumed, nothing duplicated (and the report is redone, not doubled)
    assert code_cot(out, f"{tinytext_repo}@HEAD") == 0
    again = assert_balanced(out)["stages"]["code-cot/original_tests"]
    assert again["resumed"] == len(rows) and len(sft_rows(out)) == len(rows)
    assert sorted(r["symbol"] for r in _reports(out)) == ["countdown", "percent"]


def _reports(out: Path) -> list[dict]:
    return [json.loads(line) for path in sorted((out / "reports" / "original_tests").glob("*.jsonl"))
            for line in path.read_text(encoding="utf-8").splitlines()]


def test_only_verified_and_limit(tinytext_repo: Path, tmp_path: Path) -> None:
    out = tmp_path / "out"
    assert code_cot(out, str(tinytext_repo), "--only-verified", "--limit", "3") == 0
    data = assert_balanced(out)
    assert data["stages"]["code-cot/select"]["written"] == 3
    rows = sft_rows(out)
    assert [r["source"]["symbol"] for r in rows] == ["clamp"] and rows[0]["verified"]
    assert data["stages"]["code-cot/code_cot"]["filtered"].get("roundtrip_failed") == 1  # digit_sum


HOSTILE = {
    "hostile/__init__.py": "",
    "hostile/bombs.py": '''"""Doctests that attack the machine; no risky names, so only the sandbox stops them."""


def grow(n):
    """Allocate a lot.

    >>> len(grow(10 ** 11))
    1
    """
    return [0] * n


def spin(n):
    """Never return.

    >>> spin(1)
    1
    """
    while n:
        n += 1
    return n


def flood(n):
    """Print forever.

    >>> flood(1)
    1
    """
    while True:
        print("x" * 4096)
    return n


def fine(n):
    """Double.

    >>> fine(2)
    4
    """
    return 2 * n
''',
}


def test_hostile_repository_is_contained_and_the_run_finishes(tmp_path: Path) -> None:
    repo = git_repo(None, tmp_path / "hostile", HOSTILE)
    out = tmp_path / "out"
    policy = scripted([("For your eyes only", FORWARD), ("def fine(", "```python\ndef fine(n):\n    return n + n\n```")])
    assert code_cot(out, str(repo), "--sandbox-memory-mb", "256", policy=policy) == 0
    data = assert_balanced(out)
    filtered = data["stages"]["code-cot/original_tests"]["filtered"]
    assert filtered.get("original_memory", 0) + filtered.get("original_failed", 0) >= 1  # grow
    assert filtered.get("original_timeout") == 1  # spin
    assert sum(filtered.values()) == 3
    (row,) = sft_rows(out)
    assert row["source"]["symbol"] == "fine" and row["verified"] is True and row["source"]["license"] is None


def test_cli_errors_are_one_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert run(["code-cot", "--out", tmp_path / "o"]) == 2
    assert "needs --repo" in capsys.readouterr().err
    assert run(["code-cot", "--repo", tmp_path / "missing", "--out", tmp_path / "o", "--backend", "scripted"]) == 2
    err = capsys.readouterr().err.strip()
    assert "error" in err and "\n" not in err
    plain = git_repo(TINYTEXT, tmp_path / "r")
    assert run(["code-cot", "--repo", f"{plain}@no-such-rev", "--out", tmp_path / "o", "--backend", "scripted"]) == 2
    assert "no-such-rev" in capsys.readouterr().err
    assert run(["code-cot", "--repo", plain, "--out", tmp_path / "o", "--backend", "scripted", "--max-new-tokens", "64",
                "--truncated-retry-tokens", "64"]) == 2
    err = capsys.readouterr().err.strip()
    assert "--truncated-retry-tokens 64 must be above --max-new-tokens 64" in err and "\n" not in err


def test_verify_code_prints_json(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code = tmp_path / "code.py"
    code.write_text("def add(a, b):\n    return a + b\n", encoding="utf-8")
    tests = tmp_path / "test_add.py"
    tests.write_text("from solution import add\n\ndef test_add():\n    assert add(2, 3) == 5\n", encoding="utf-8")
    assert run(["verify", "code", "--code", code, "--tests", tests]) == 0
    result = json.loads(capsys.readouterr().out)
    assert result["passed"] is True and result["status"] == "ok" and result["sandbox"] == "bwrap"
    assert {"exit_code", "stdout", "stderr", "seconds"} <= set(result)
    code.write_text("def add(a, b):\n    return a - b\n", encoding="utf-8")
    assert run(["verify", "code", "--code", code, "--tests", tests]) == 1
    assert json.loads(capsys.readouterr().out)["status"] == "failed"
    code.write_bytes(b"\xff\xfe")
    assert run(["verify", "code", "--code", code, "--tests", tests]) == 2
    assert "not UTF-8" in capsys.readouterr().err
    assert run(["verify", "code", "--code", tmp_path / "nope.py", "--tests", tests]) == 2
    code.write_text("x = 1\n" * 400_000, encoding="utf-8")  # 2.4 MB
    assert run(["verify", "code", "--code", code, "--tests", tests]) == 2
    assert "larger than --max-file-bytes" in capsys.readouterr().err


def test_dead_letters_stay_empty_on_a_clean_run(tinytext_repo: Path, tmp_path: Path) -> None:
    out = tmp_path / "out"
    assert code_cot(out, str(tinytext_repo), "--limit", "1") == 0
    assert dead_letters(out) == []


@pytest.mark.model
def test_code_cot_with_the_embedded_model(tinytext_repo: Path, tmp_path: Path) -> None:
    out = tmp_path / "out"
    # four functions: the 135M model's CoTs often copy the code (the hindsight filter rejects those),
    # so two could leave nothing to write (exit 3); at 96 tokens most of its CoTs are cut at the cap:
    # kept, marked truncated (without --keep-truncated they are filtered truncated_cot)
    assert run(["code-cot", "--repo", f"{tinytext_repo}@HEAD", "--out", out, "--limit", "4", "--max-new-tokens", "96",
                "--cot-samples", "2", "--threads", "1", "--repo-cache", tmp_path / "cache", "--keep-truncated"]) == 0
    data = assert_balanced(out)
    stage = data["stages"]["code-cot/code_cot"]
    assert stage["read"] >= 1 and stage["stats"]["generated_tokens"] > 0
    assert sft_rows(out)
    for row in sft_rows(out):
        assert row["generator"]["model"] and row["steps"] and row["answer"].startswith("```python")
        assert isinstance(row["truncated"], bool)
        detail = json.loads(row["verifier_detail"])
        assert detail["sandbox"] == "bwrap" and "roundtrip" in detail


def test_two_worker_processes_give_the_same_rows(tinytext_repo: Path, tmp_path: Path) -> None:
    rows = {}
    for workers in (1, 2):
        out = tmp_path / f"out{workers}"
        assert code_cot(out, str(tinytext_repo), f"--direct_num_workers={workers}",
                        "--direct_running_mode=multi_processing") == 0
        assert_balanced(out)
        rows[workers] = sorted((r["id"], r["verified"], r["messages"][1]["content"]) for r in sft_rows(out))
    assert rows[1] == rows[2] and len(rows[1]) >= 8


MINI = {
    "mini/__init__.py": "",
    "mini/ops.py": '''"""Small arithmetic."""

from math import pi

SCALE = 2


def scaled(n):
    """``n`` times the module's scale.

    >>> scaled(4)
    8
    """
    return n * SCALE


def circle(r):
    """The area of a circle of radius ``r``, to two decimals.

    >>> circle(1)
    3.14
    """
    return round(pi * r * r, 2)
''',
}
# The scripted backend cutting each reply at the request's max_new_tokens words (finish_reason "length"):
# FORWARD is 34 words, so --max-new-tokens 33 cuts its last word; the round trip has room enough.
CAPPED = scripted([("For your eyes only", FORWARD), ("def scaled(", "```python\ndef scaled(n):\n    return n * SCALE\n```"),
                   ("def circle(", "```python\ndef circle(r):\n    return round(pi * r * r, 2)\n```")], length_cap=True)


def test_a_cot_cut_at_the_cap_is_filtered_kept_marked_or_retried(tmp_path: Path) -> None:
    repo = str(git_repo(None, tmp_path / "mini", MINI))
    cut = tmp_path / "cut"
    assert code_cot(cut, repo, "--max-new-tokens", "33", policy=CAPPED) == 3  # nothing written
    stage = assert_balanced(cut)["stages"]["code-cot/code_cot"]
    assert stage["read"] == 2 and stage["filtered"] == {"truncated_cot": 2} and not sft_rows(cut)
    assert stage["stats"]["rejected:truncated_cot"] == 4  # two samples a function, each cut

    kept = tmp_path / "kept"
    assert code_cot(kept, repo, "--max-new-tokens", "33", "--keep-truncated", policy=CAPPED) == 0
    data = assert_balanced(kept)
    rows = {r["source"]["symbol"]: r for r in sft_rows(kept)}
    assert set(rows) == {"scaled", "circle"} and all(r["truncated"] is True for r in rows.values())
    assert all(r["steps"][-1]["text"] == "Finally I return the value the docstring" for r in rows.values())
    assert data["stages"]["code-cot/code_cot"]["stats"]["truncated_kept"] == 2
    assert data["runs"]["code-cot"]["settings"]["keep_truncated"] is True
    # the round trip had the module's context: SCALE and pi come from it, and the code passes
    assert all(r["verified"] is True for r in rows.values())
    assert "SCALE = 2" in rows["scaled"]["problem"] and "from math import pi" in rows["circle"]["problem"]
    assert json.loads(rows["scaled"]["verifier_detail"])["context"]["constants"] == ["SCALE"]
    loaded = datasets.load_dataset(str(kept), "sft", cache_dir=str(tmp_path / "hf"))["train"]
    assert loaded.features["truncated"].dtype == "bool" and set(loaded["truncated"]) == {True}

    retried = tmp_path / "retried"
    assert code_cot(retried, repo, "--max-new-tokens", "33", "--truncated-retry-tokens", "64", policy=CAPPED) == 0
    stage = assert_balanced(retried)["stages"]["code-cot/code_cot"]
    rows = {r["source"]["symbol"]: r for r in sft_rows(retried)}
    assert set(rows) == {"scaled", "circle"} and all(r["truncated"] is False for r in rows.values())
    assert all(r["steps"][-1]["text"] == "Finally I return the value the docstring promises." for r in rows.values())
    assert stage["stats"]["retried:reverse_cot"] == 2 and stage["written"] == 2
