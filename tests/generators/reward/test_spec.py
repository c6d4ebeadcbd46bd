"""``--value-model SPEC`` parsing, and the scripted reward (a test double of the search's tests, not a model)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from generators.reward.base import RewardError, ScoreRequest, StepScores, checked
from generators.reward.scripted import ScriptedReward
from generators.reward.spec import RewardSpec, create_reward, parse_spec
from schemas.records import Step


def folder(tmp_path: Path, name: str, config: dict | str | None) -> Path:
    path = tmp_path / name
    path.mkdir()
    if config is not None:
        (path / "config.json").write_text(config if isinstance(config, str) else json.dumps(config), encoding="utf-8")
    return path


def test_folders_by_architecture(tmp_path: Path) -> None:
    prm = folder(tmp_path, "prm", {"architectures": ["LlamaForTokenClassification"]})
    causal = folder(tmp_path, "lm", {"architectures": ["Qwen2ForCausalLM"]})
    assert parse_spec(str(prm)) == RewardSpec("prm", str(prm))
    assert parse_spec(f"  {causal}  ") == RewardSpec("generative", str(causal))
    assert parse_spec(f"prm:{causal}") == RewardSpec("prm", str(causal))  # said outright: no config read
    assert parse_spec(f"generative:{prm}") == RewardSpec("generative", str(prm))
    assert parse_spec("generative:embedded") == RewardSpec("generative", "embedded")
    assert parse_spec(str(prm)).name == f"prm:{prm}"


def test_relative_folders_become_absolute(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    folder(tmp_path, "rel", {"architectures": ["GPT2ForTokenClassification"]})
    monkeypatch.chdir(tmp_path)
    assert parse_spec("rel") == RewardSpec("prm", str(tmp_path / "rel"))


def test_urls_and_scripted() -> None:
    assert parse_spec("http://host:8000/v1#Qwen/Qwen2.5-Math-PRM-7B") == RewardSpec("http", "http://host:8000/v1#Qwen/Qwen2.5-Math-PRM-7B")
    assert parse_spec("https://prm.example?format=shepherd").kind == "http"
    assert parse_spec("scripted") == RewardSpec("scripted", "")
    assert parse_spec("scripted").name == "scripted"
    assert parse_spec("scripted:deduce") == RewardSpec("scripted", "deduce")
    assert parse_spec('scripted:{"default": 0.3}') == RewardSpec("scripted", '{"default": 0.3}')


@pytest.mark.parametrize("text, match", [
    ("", "empty"),
    ("   ", "empty"),
    ("prm:", "no folder after prm:"),
    ("generative:", "no folder after generative:"),
    ("prm:/no/such/folder", "is not a folder"),
    ("prm:embedded", "is not a folder"),
    ("/no/such/folder", "not a folder, an http"),
    ("ftp://host/model", "not a folder, an http"),
])
def test_bad_specs(text: str, match: str) -> None:
    with pytest.raises(ValueError, match=match):
        parse_spec(text)


def test_folders_that_are_no_model(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="no readable config.json"):
        parse_spec(str(folder(tmp_path, "empty", None)))
    with pytest.raises(ValueError, match="no readable config.json"):
        parse_spec(str(folder(tmp_path, "broken", "{not json")))
    with pytest.raises(ValueError, match=r"names \['BertForSequenceClassification'\]"):
        parse_spec(str(folder(tmp_path, "other", {"architectures": ["BertForSequenceClassification"]})))
    with pytest.raises(ValueError, match="names no architecture"):
        parse_spec(str(folder(tmp_path, "none", {"model_type": "llama"})))


def steps(*pairs: tuple[str, str | None]) -> tuple[Step, ...]:
    return tuple(Step(text, factor) for text, factor in pairs)


def test_scripted_factor_rule() -> None:
    model = create_reward(parse_spec("scripted:deduce"))
    assert isinstance(model, ScriptedReward) and model.name == "scripted:deduce"
    out = model.score([ScoreRequest("p", steps(("a", "deduce"), ("b", "verify"), ("c", None))), ScoreRequest("q", ())])
    assert out == [StepScores((0.9, 0.1, 0.1)), StepScores(())]
    assert (model.calls, model.scored) == (1, 2)
    assert create_reward(parse_spec("scripted")).score([ScoreRequest("p", steps(("a", "x")))]) == [StepScores((0.5,))]


def test_scripted_json_rules_first_match_wins(tmp_path: Path) -> None:
    script = {"factor": "deduce", "high": 0.8, "low": 0.3, "default": 0.5,
              "rules": [["wrong", 0.0], ["right", 1.0]], "fail": "BOOM"}
    inline = create_reward(parse_spec("scripted:" + json.dumps(script)))
    path = tmp_path / "script.json"
    path.write_text(json.dumps(script), encoding="utf-8")
    from_file = create_reward(parse_spec(f"scripted:{path}"))
    request = ScoreRequest("p", steps(("wrong and right", "deduce"), ("right", None), ("plain", "deduce"), ("plain", "x")))
    for model in (inline, from_file):
        assert model.score([request]) == [StepScores((0.0, 1.0, 0.8, 0.3))]
    with pytest.raises(RewardError, match="told to fail"):
        inline.score([request, ScoreRequest("p", steps(("a BOOM here", None)))])


def test_scripted_default_without_factor_and_range_checked() -> None:
    model = create_reward(parse_spec('scripted:{"default": 0.25, "rules": [["over", 1.5]]}'))
    assert model.score([ScoreRequest("p", steps(("x", "deduce")))]) == [StepScores((0.25,))]
    with pytest.raises(RewardError, match="not a probability"):
        model.score([ScoreRequest("p", steps(("over the top", None)))])


def test_checked_counts() -> None:
    request = ScoreRequest("p", steps(("a", None), ("b", None)))
    assert checked([[0, 1]], [request], "m") == [StepScores((0.0, 1.0))]
    with pytest.raises(RewardError, match="1 scores for 2 steps"):
        checked([[0.5]], [request], "m")
    with pytest.raises(RewardError, match="2 score lists for 1 requests"):
        checked([[0.5, 0.5], [0.5, 0.5]], [request], "m")
    with pytest.raises(RewardError, match="not a probability"):
        checked([[0.5, "x"]], [request], "m")
