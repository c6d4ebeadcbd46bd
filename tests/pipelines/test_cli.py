"""The command line: clear one-line errors, config files, annotator tools, verify."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from schemas.seeds import validate_file
from tests.pipelines.helpers import FIXTURES, prm_rows, run, scripted, seed, write_jsonl


def test_label_without_input_fails_with_one_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert run(["label", "--out", tmp_path / "o"]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "--input" in err


def test_unknown_flag_is_rejected_not_passed_to_beam(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_info:
        run(["label", "--input", "x.jsonl", "--out", tmp_path, "--n-samples", "3"])
    assert exit_info.value.code == 2
    assert "--n-samples" in capsys.readouterr().err


def test_config_file_gives_options_and_flags_win(tmp_path: Path) -> None:
    seeds = write_jsonl(tmp_path / "s.jsonl", [seed(1, ["a", "b"])])
    config = tmp_path / "run.yaml"
    config.write_text(f"input: [{seeds}]\nout: {tmp_path / 'from_yaml'}\nbackend: scripted\nmodel: '{scripted()}'\nn: 3\n")
    assert run(["label", "--config", config, "--n", "2"]) == 0
    [row] = prm_rows(tmp_path / "from_yaml")
    assert row["rollouts"] == [2, 0]


@pytest.mark.parametrize(
    ("text", "message"),
    [("n: [unclosed", "not valid YAML"), ("- a list", "mapping"), ("n: 0", "n:"), ("bogus_option: 1", "bogus_option")],
)
def test_bad_config_files(tmp_path: Path, capsys: pytest.CaptureFixture[str], text: str, message: str) -> None:
    config = tmp_path / "bad.yaml"
    config.write_text(text)
    assert run(["label", "--config", config, "--input", "x.jsonl"]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and message in err


def test_seeds_validate_reports_every_problem(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "s.jsonl"
    path.write_bytes(json.dumps(seed(1, ["a"])).encode() + b"\n{broken\n" + json.dumps({"id": 3, "steps": []}).encode() + b"\n")
    assert run(["seeds", "validate", path]) == 1
    out = capsys.readouterr().out.splitlines()
    assert out[0].startswith(f"{path}:2: line: malformed JSON")
    assert {line.split(": ")[1] for line in out if f"{path}:3:" in line} >= {"id", "problem", "answer", "steps"}


def test_seeds_import_gsm8k_then_validate(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "seeds.jsonl"
    assert run(["seeds", "import", "--format", "gsm8k", FIXTURES / "gsm8k_sample.jsonl", "--output", out]) == 0
    valid, problems = validate_file(str(out))
    assert valid == 20 and problems == []
    first = json.loads(out.read_text().splitlines()[0])
    assert "<<" not in json.dumps(first) and first["answer"] == "3"


def test_seeds_template_is_a_valid_example(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert run(["seeds", "template"]) == 0
    lines = [line for line in capsys.readouterr().out.splitlines() if line and not line.startswith("#")]
    path = tmp_path / "t.jsonl"
    path.write_text("\n".join(lines) + "\n")
    assert validate_file(str(path)) == (1, [])


def test_verify_math_prints_json(capsys: pytest.CaptureFixture[str]) -> None:
    assert run(["verify", "math", "--gold", "\\frac{1}{2}", "--text", "so the answer is 0.5"]) == 0
    result = json.loads(capsys.readouterr().out)
    assert result["correct"] is True and result["status"] == "ok"


@pytest.mark.parametrize("command", [["label"], ["expand"], ["tag"], ["export", "math-shepherd"], ["demo"], ["seeds", "import"]])
def test_every_command_has_help(command: list[str], capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_info:
        run([*command, "--help"])
    assert exit_info.value.code == 0
    assert "usage: reverse-o1 " + " ".join(command) in capsys.readouterr().out


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["expand", "--out", "o"], "--seeds"),
        (["expand", "--seeds", "s.jsonl", "--cuts", "random:0"], "--cuts"),
        (["expand", "--seeds", "s.jsonl", "--branching", "0"], "branching"),
        (["expand", "--seeds", "s.jsonl", "--simulations", "-1"], "simulations"),
        (["label", "--input", "s.jsonl", "--probe-chunk", "0"], "probe_chunk"),
    ],
)
def test_bad_search_options_fail_with_one_line(tmp_path: Path, capsys: pytest.CaptureFixture[str], args: list[str],
                                               message: str) -> None:
    assert run([*args, "--out", tmp_path / "o"] if "--out" not in args else args) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and message in err


def test_seeds_validate_checks_factors_against_the_vocabulary(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    good = seed(1, ["a", "b"])
    good["steps"][0]["factor"] = "Compute"
    odd = seed(2, ["a", "b"])
    odd["steps"][1]["factor"] = "Daydream"
    path = write_jsonl(tmp_path / "s.jsonl", [good, odd])
    assert run(["seeds", "validate", path]) == 1
    [line] = capsys.readouterr().out.splitlines()
    assert line.startswith(f"{path}:2: steps[1].factor: unknown factor 'Daydream'") and "Compute" in line
    vocabulary = tmp_path / "factors.yaml"
    default = Path(__file__).resolve().parents[2] / "schemas" / "factors.yaml"
    vocabulary.write_text(default.read_text(encoding="utf-8").replace("Refute", "Daydream"))
    assert run(["seeds", "validate", path, "--factors", vocabulary]) == 0
