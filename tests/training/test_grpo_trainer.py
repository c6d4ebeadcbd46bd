"""Current TRL's ``GRPOTrainer`` takes ``export rl``'s config as it is: the conversational ``prompt``
column, and every other column (``ground_truth``, ``pass_rate``, ``problem_id``...) handed to the
reward function as a keyword argument. The reward checks each completion's final answer against
``ground_truth`` with math-verify (``verifiers.math_answer``), as ``difficulty`` did.

The difficulty rows come from a scripted policy (a test double: a fixed mix of right and wrong
replies, so that both problems have 0 < pass_rate < 1 and pass the default band); the policy
trained is the embedded model, two steps on the CPU."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import pytest

from tests.pipelines.helpers import scripted

pytestmark = [pytest.mark.train, pytest.mark.model]

trl = pytest.importorskip("trl", reason="TRL is not installed (pip install -e '.[train]')")

SEEDS = Path(__file__).resolve().parents[1] / "fixtures" / "easy_seeds.jsonl"
MIXED = scripted([("apples", ["The answer is 4.", "The answer is 5."]), ("pens", ["The answer is 6.", "I am not sure."])])


@pytest.fixture(scope="module")
def rl_output(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """``DIR`` of ``difficulty`` (scripted, k 4) on the two easy seeds, then ``export rl DIR``."""
    from pipelines.cli import main

    out = tmp_path_factory.mktemp("rl-data") / "out"
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("REVERSE_O1_NO_PROGRESS", "1")
        assert main(["difficulty", "--input", str(SEEDS), "--out", str(out), "--backend", "scripted", "--model", MIXED,
                     "--k", "4"]) == 0
        assert main(["export", "rl", str(out)]) == 0
    return out


def test_grpo_trainer_on_the_rl_export(rl_output: Path, embedded_model_dir: Path, datasets_cache: Path,
                                       tmp_path: Path) -> None:
    from datasets import load_dataset
    from transformers import AutoModelForCausalLM, AutoTokenizer
    from trl import GRPOConfig, GRPOTrainer

    from verifiers.math_answer import MathVerifier

    dataset = load_dataset(str(rl_output), "rl", split="train", cache_dir=str(datasets_cache))
    assert len(dataset) == 2 and all(0 < p < 1 for p in dataset["pass_rate"])
    calls: list[dict[str, Any]] = []
    verifier = MathVerifier()

    def math_verify_reward(completions: list[Any], ground_truth: list[str], **kwargs: Any) -> list[float]:
        calls.append({"ground_truth": list(ground_truth), **{k: kwargs[k] for k in ("pass_rate", "problem_id", "answer")}})
        texts = [c[-1]["content"] if isinstance(c, list) else c for c in completions]
        return [float(verifier.verify_text(gold, text).correct) for gold, text in zip(ground_truth, texts, strict=True)]

    # the reward itself: math-verify's verdict of the stated answer (the 135M model rarely states one in 16 tokens)
    right, wrong = [{"role": "assistant", "content": "2 + 2 = 4.\nThe answer is 4."}], [{"role": "assistant", "content": "5"}]
    assert math_verify_reward([right, wrong], ["4", "4"], pass_rate=[0.5, 0.5], problem_id=["e1", "e1"],
                              answer=["4", "4"]) == [1.0, 0.0]
    calls.clear()
    model = AutoModelForCausalLM.from_pretrained(embedded_model_dir, local_files_only=True)
    tokenizer = AutoTokenizer.from_pretrained(embedded_model_dir, local_files_only=True)
    args = GRPOConfig(output_dir=str(tmp_path / "run"), max_steps=2, per_device_train_batch_size=2, num_generations=2,
                      max_completion_length=16, logging_steps=1, report_to=[], use_cpu=True, bf16=False,
                      activation_checkpointing=False, save_strategy="no", learning_rate=1e-5, disable_tqdm=True, seed=0)
    trainer = GRPOTrainer(model=model, reward_funcs=math_verify_reward, args=args, train_dataset=dataset,
                          processing_class=tokenizer)
    try:
        trainer.train()
    finally:
        verifier.close()
    assert trainer.state.global_step == 2
    losses = [entry["loss"] for entry in trainer.state.log_history if "loss" in entry]
    assert len(losses) == 2 and all(math.isfinite(x) for x in losses), losses
    # the export's extra columns reached the reward function as keyword arguments, row for row
    golds = dict(zip(dataset["problem_id"], dataset["ground_truth"], strict=True))
    assert calls and all(len(c["ground_truth"]) == 2 for c in calls)
    for call in calls:
        assert call["answer"] == call["ground_truth"]
        assert [golds[p] for p in call["problem_id"]] == call["ground_truth"] and all(0 < p < 1 for p in call["pass_rate"])
    print(f"\nGRPOTrainer (TRL {trl.__version__}) losses {losses}, rewards "
          f"{[e.get('reward') for e in trainer.state.log_history if 'reward' in e]}")
