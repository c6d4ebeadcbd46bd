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


def test_identity_is_what_the_model_is_not_where(tmp_path: Path) -> None:
    """Rows record and ids hash the identity: a moved folder or server keeps it, retrained weights change it."""
    prm = folder(tmp_path, "prm1", {"architectures": ["LlamaForTokenClassification"]})
    (prm / "model.safetensors").write_bytes(b"w" * 3_000_000)
    first = parse_spec(str(prm)).identity
    assert first.startswith("prm:prm1@") and str(tmp_path) not in first
    moved = tmp_path / "elsewhere"
    moved.mkdir()
    prm.rename(moved / "prm1")
    assert parse_spec(str(moved / "prm1")).identity == first
    (moved / "prm1" / "model.safetensors").write_bytes(b"w" * 2_999_999 + b"x")  # retrained: the last MiB differs
    assert parse_spec(str(moved / "prm1")).identity != first
    a = parse_spec("http://host-a:8000/v1?format=shepherd#peiyi/prm")
    b = parse_spec("http://host-b:9000?format=shepherd#peiyi/prm")
    assert a.identity == b.identity == "http:peiyi/prm?format=shepherd" and a.name.startswith("http://host-a:8000")
    assert parse_spec("generative:embedded").identity == "generative:embedded"
    assert parse_spec("scripted:Compute").identity == "scripted:Compute"


@pytest.mark.parametrize("text, match", [
    ("http://", "expected http"),
    ("http://host:port", "port is not a number"),
    ("http://host:8000?format=bogus", "format='bogus'"),
    ("http://host:8000?label=x", "not a column index"),
    ("http://host:8000?sep=", "sep= is empty"),
    ("http://host:8000?format=shepherd&sep=x", "its own tag"),
    ("scripted:{broken", "not a readable JSON script"),
    ("scripted:/no/such/script.json", "not a readable JSON script"),
    ("scripted:[1, 2]", None),
])
def test_bad_urls_and_scripts_are_refused_before_any_work(text: str, match: str | None) -> None:
    if match is None:  # a list is no JSON object, but "[1, 2]" is read as a factor name: allowed, harmless
        assert parse_spec(text).kind == "scripted"
        return
    with pytest.raises(ValueError, match=match):
        parse_spec(text)
