"""``TokenClassificationPRM`` on a tiny PRM folder (the embedded model with an untrained two-label head).

The scores mean nothing (the head is random); what is checked is where and how they are read: one per
step, probabilities, the same in any batch, and at exactly the tokens TRL 1.13's ``PRMTrainer`` labels
(its own ``tokenize_row``, read from ``.venv/trl-1.13.0`` and run here).
"""

from __future__ import annotations

import ast
import itertools
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

from generators.backends.base import PromptTooLong
from generators.reward.base import RewardError, ScoreRequest
from generators.reward.spec import RewardSpec, create_reward, parse_spec
from generators.reward.token_classification import TokenClassificationPRM
from schemas.records import Step

pytestmark = pytest.mark.model

TRL_PRM_TRAINER = Path(sys.prefix) / "trl-1.13.0" / "trl" / "experimental" / "prm" / "prm_trainer.py"


def request(problem: str, *steps: str) -> ScoreRequest:
    return ScoreRequest(problem, tuple(Step(text, "factor") for text in steps))


REQUESTS = [
    request("What is 2 + 3?", "2 + 3 = 5.", "So the answer is 5."),
    request("Compute 7 * 6.", "7 * 6 = 42."),
    request("Solve x + 1 = 3 for x.", "Subtract 1 from both sides.", "x = 2.", "Check: 2 + 1 = 3.", "The answer is 2."),
    request("Écris ∑ᵢ i² pour i ≤ 3 — 数学", "1 + 4 + 9 = 14 ✓", "Réponse : 14\navec un saut de ligne"),
]


@pytest.fixture(scope="module")
def prm(tiny_prm_dir: Path) -> TokenClassificationPRM:
    spec = parse_spec(str(tiny_prm_dir))
    assert spec == RewardSpec("prm", str(tiny_prm_dir.resolve()))  # config.json names ...ForTokenClassification
    model = create_reward(spec)
    assert isinstance(model, TokenClassificationPRM) and model.name == f"prm:{tiny_prm_dir.resolve()}"
    return model


def trl_tokenize_row() -> Callable[..., dict]:
    """``PRMTrainer.tokenize_row`` of TRL 1.13.0, its source taken from the file (that TRL cannot be imported
    beside the venv's current one) and run as a plain function."""
    if not TRL_PRM_TRAINER.is_file():
        pytest.skip(f"TRL 1.13.0 is not in {TRL_PRM_TRAINER.parents[3]}; `make` installs it there with --no-deps")
    tree = ast.parse(TRL_PRM_TRAINER.read_text(encoding="utf-8"))
    function = next(n for n in ast.walk(tree) if isinstance(n, ast.FunctionDef) and n.name == "tokenize_row")
    function.decorator_list = []
    namespace: dict = {"chain": itertools.chain}
    exec(compile(ast.Module(body=[function], type_ignores=[]), str(TRL_PRM_TRAINER), "exec"), namespace)
    return namespace["tokenize_row"]


def test_positions_are_the_tokens_trl_labels(prm: TokenClassificationPRM) -> None:
    tokenize_row = trl_tokenize_row()
    for r in REQUESTS:
        row = {"prompt": r.problem, "completions": [s.text for s in r.steps], "labels": [True] * len(r.steps)}
        trl = tokenize_row(row, prm.tokenizer, "\n", max_length=None, max_completion_length=None,
                           train_on_last_step_only=False, is_eval=False)
        encoded = prm.encode(r)
        assert list(encoded.ids) == trl["input_ids"]
        assert list(encoded.positions) == [i for i, label in enumerate(trl["labels"]) if label != -100]


def test_one_probability_per_step_deterministic(prm: TokenClassificationPRM) -> None:
    first = prm.score(REQUESTS)
    assert [len(s.scores) for s in first] == [len(r.steps) for r in REQUESTS]
    assert all(0.0 <= v <= 1.0 for s in first for v in s.scores)
    assert prm.score(REQUESTS) == first
    assert len({v for s in first for v in s.scores}) > 1  # read at different tokens, not one constant


def test_batched_equals_one_by_one(prm: TokenClassificationPRM) -> None:
    batched = prm.score(REQUESTS)
    for r, together in zip(REQUESTS, batched, strict=True):
        alone = prm.score([r])[0]
        assert alone.scores == pytest.approx(together.scores, abs=1e-5)


def test_a_prefix_scores_its_steps_as_the_whole_does(prm: TokenClassificationPRM) -> None:
    """A causal backbone: a step's score depends on what precedes it only, so a prefix's scores are the whole's."""
    whole = prm.score([REQUESTS[2]])[0].scores
    prefix = prm.score([request(REQUESTS[2].problem, *[s.text for s in REQUESTS[2].steps[:2]])])[0].scores
    assert prefix == pytest.approx(whole[:2], abs=1e-5)


def test_no_steps_no_scores(prm: TokenClassificationPRM) -> None:
    empty = request("A problem with no step yet.")
    prm.check(empty)
    out = prm.score([empty, REQUESTS[1], empty])
    assert out[0].scores == () and out[2].scores == () and len(out[1].scores) == 1
    assert out[0].last == 0.5


def test_a_prompt_too_long(prm: TokenClassificationPRM) -> None:
    assert prm.context == 8192
    long = request("Add up: " + " + ".join(["1"] * 5000), "That is 5000.")
    with pytest.raises(PromptTooLong) as caught:
        prm.check(long)
    assert caught.value.budget == 8192 and caught.value.tokens > 8192
    with pytest.raises(PromptTooLong):
        prm.score([REQUESTS[0], long])
    prm.check(REQUESTS[0])


def test_a_missing_folder(tmp_path: Path) -> None:
    with pytest.raises(RewardError, match="is not a folder"):
        TokenClassificationPRM(RewardSpec("prm", str(tmp_path / "gone")))


def test_scored_and_checked_from_several_threads(prm: TokenClassificationPRM) -> None:
    """The engine checks requests on its driver thread while lanes score others: same answers as alone."""
    from concurrent.futures import ThreadPoolExecutor

    alone = prm.score(REQUESTS)
    with ThreadPoolExecutor(max_workers=4) as pool:
        scored = [pool.submit(prm.score, REQUESTS) for _ in range(3)]
        checked = [pool.submit(prm.check, r) for r in REQUESTS * 3]
        assert all(f.result() is None for f in checked)
        for future in scored:
            for got, want in zip(future.result(), alone, strict=True):
                assert got.scores == pytest.approx(want.scores, abs=1e-5)
