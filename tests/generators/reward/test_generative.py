"""``GenerativePRM`` on the embedded SmolLM2: the Math-Shepherd text of ``export openrlhf``, read at each placeholder.

The embedded model was never trained to answer ``+``/``-``: its scores are checked for where and how they
are read (the token holding each placeholder's last character, p(+) / (p(+) + p(-)) of the full logits
there), not for what they say.
"""

from __future__ import annotations

import pytest

from generators.reward.base import ScoreRequest
from generators.reward.generative import PLACEHOLDER, GenerativePRM, shepherd_text
from generators.reward.spec import RewardSpec, create_reward, parse_spec
from pipelines.export.openrlhf import openrlhf_record
from schemas.records import Step


def request(problem: str, *steps: str) -> ScoreRequest:
    return ScoreRequest(problem, tuple(Step(text, None) for text in steps))


REQUESTS = [
    request("What is 2 + 3?", "2 + 3 = 5.", "So the answer is 5."),
    request("Compute 7 * 6.", "7 * 6 = 42."),
    request("Слово ки в задаче: 1 + 1?", "Шаг с ки внутри\nи переносом", "  2  ", ""),
]


def test_the_text_is_what_export_openrlhf_writes() -> None:
    for r in REQUESTS:
        steps = [s.text for s in r.steps]
        row = {"prompt": r.problem, "completions": steps, "id": "x"}
        assert shepherd_text(r.problem, steps) == openrlhf_record(row, [True] * len(steps), soft=False)["input"]
        assert shepherd_text(r.problem, steps).count(PLACEHOLDER) == len(steps)


@pytest.fixture(scope="module")
def prm(embedded_model_dir) -> GenerativePRM:
    spec = parse_spec("generative:embedded")
    assert spec == RewardSpec("generative", "embedded")
    model = create_reward(spec)
    assert isinstance(model, GenerativePRM) and model.name == "generative:embedded"
    return model


@pytest.mark.model
def test_read_at_each_placeholders_last_token(prm: GenerativePRM) -> None:
    for r in REQUESTS:
        encoded = prm.encode(r)
        assert len(encoded.positions) == len(r.steps)
        # SmolLM2 makes " ки" two tokens (" к", "и"): the score is read at the "и"
        assert all(prm.tokenizer.decode([encoded.ids[p]]) == "и" for p in encoded.positions)
        assert list(encoded.ids) == prm.tokenizer(shepherd_text(r.problem, [s.text for s in r.steps]),
                                                  add_special_tokens=False)["input_ids"]


@pytest.mark.model
def test_scores_per_step_are_p_plus_over_plus_and_minus(prm: GenerativePRM) -> None:
    import torch

    scores = prm.score(REQUESTS)
    assert [len(s.scores) for s in scores] == [len(r.steps) for r in REQUESTS]
    assert all(0.0 <= v <= 1.0 for s in scores for v in s.scores)
    plus, minus = (prm.tokenizer("+", add_special_tokens=False)["input_ids"][0],
                   prm.tokenizer("-", add_special_tokens=False)["input_ids"][0])
    for r, got in zip(REQUESTS, scores, strict=True):  # against the full logits of one unpadded pass
        encoded = prm.encode(r)
        with torch.inference_mode():
            logits = prm.model(input_ids=torch.tensor([encoded.ids])).logits[0]
        p = torch.softmax(logits.float(), dim=-1)
        want = [float(p[i, plus] / (p[i, plus] + p[i, minus])) for i in encoded.positions]
        assert got.scores == pytest.approx(want, abs=1e-5)


@pytest.mark.model
def test_batched_equals_single(prm: GenerativePRM) -> None:
    batched = prm.score([*REQUESTS, request("No steps yet.")])
    assert batched[-1].scores == ()
    for r, together in zip(REQUESTS, batched[:-1], strict=True):
        assert prm.score([r])[0].scores == pytest.approx(together.scores, abs=1e-5)
