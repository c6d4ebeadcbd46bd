"""``export openrlhf`` read by OpenRLHF 0.9.5's own ``ProcessRewardDataset`` and trained with its
``PRMLoss`` on the embedded model (the last OpenRLHF with PRM training; its ``train_prm`` driver needs
DeepSpeed and CUDA, so the optimisation loop here is plain torch around OpenRLHF's dataset and loss).

OpenRLHF is installed apart (``.venv/openrlhf-0.9.5``, no dependencies: it pins transformers 5.3 and
DeepSpeed) and imported in a subprocess; its ``openrlhf.models`` package imports DeepSpeed, so the
loss module is loaded from its file.
"""

from __future__ import annotations

import json
import math
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.pipelines.helpers import run, scripted, seed, write_jsonl

pytestmark = [pytest.mark.train, pytest.mark.model]

OPENRLHF = Path(sys.prefix) / "openrlhf-0.9.5"
POLICY = scripted(
    [("BAD", "So it is 7.\nThe answer is 7."), ("Write the", ["Add the two numbers.", "BAD guess: multiply them."])],
    default="So 40 + 2 = 42.\nThe answer is 42.",
)

SCRIPT = r"""
import importlib.util, json, sys, types
from types import SimpleNamespace
import torch
from datasets import load_dataset
from transformers import AutoModelForCausalLM, AutoTokenizer
from openrlhf.datasets import ProcessRewardDataset

root, data_dir, tokenizer_dir, model_dir = sys.argv[1:5]
package = types.ModuleType("openrlhf.models")  # its __init__ imports DeepSpeed; the loss needs only torch
package.__path__ = [root + "/openrlhf/models"]
sys.modules["openrlhf.models"] = package
from openrlhf.models.loss import PRMLoss
from openrlhf.utils.utils import convert_token_to_id

tokenizer = AutoTokenizer.from_pretrained(tokenizer_dir)
args = SimpleNamespace(input_key="input", label_key="value", placeholder_token="ки", reward_tokens=["+", "-"])
dataset = ProcessRewardDataset(load_dataset(data_dir, "openrlhf", split="train"), tokenizer, 512,
                               SimpleNamespace(args=args))
model = AutoModelForCausalLM.from_pretrained(model_dir)
model.resize_token_embeddings(len(tokenizer))
loss_fn = PRMLoss(dataset.placeholder_token_id, [convert_token_to_id(t, tokenizer) for t in args.reward_tokens])
optimizer = torch.optim.AdamW(model.parameters(), lr=1e-4)
losses = []
for step in range(3):
    input_ids, mask, labels = dataset.collate_fn([dataset[i % len(dataset)] for i in (2 * step, 2 * step + 1)])
    logits = model(input_ids=input_ids, attention_mask=mask).logits
    loss = loss_fn(input_ids, logits, labels)
    loss.backward()
    optimizer.step()
    optimizer.zero_grad()
    losses.append(loss.item())
print(json.dumps({"losses": losses, "placeholders": int((input_ids == dataset.placeholder_token_id).sum())}))
"""


@pytest.fixture(scope="module")
def prm_folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    tmp = tmp_path_factory.mktemp("openrlhf")
    seeds = write_jsonl(tmp / "seeds.jsonl", [seed(i, [f"Start with {i}.", "The answer is 42."]) for i in range(3)])
    out = tmp / "out"
    assert run(["expand", "--seeds", seeds, "--out", out, "--backend", "scripted", "--model", POLICY,
                "--simulations", "3", "--branching", "2", "--max-depth", "4"]) == 0
    return out


def _train(folder: Path, tokenizer: Path, model: Path, tmp_path: Path) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": f"{OPENRLHF}{os.pathsep}{os.environ.get('PYTHONPATH', '')}", "HF_HUB_OFFLINE": "1",
           "HF_DATASETS_CACHE": str(tmp_path / "cache"), "OMP_NUM_THREADS": "1"}
    return subprocess.run([sys.executable, "-c", SCRIPT, str(OPENRLHF), str(folder), str(tokenizer), str(model)],
                          env=env, capture_output=True, text=True, timeout=600)


def _tokenizer(embedded_model_dir: Path, tmp_path: Path) -> Path:
    """``ки`` is two SmolLM2 tokens; OpenRLHF needs one: ``reverse-o1 tokenizer --extra-token`` adds it."""
    out = tmp_path / "tokenizer"
    assert run(["tokenizer", "--model", embedded_model_dir, "--out", out, "--extra-token", "ки"]) == 0
    return out


@pytest.mark.skipif(not OPENRLHF.is_dir(), reason=f"OpenRLHF 0.9.5 is not installed in {OPENRLHF} (make installs it)")
def test_hard_labels_train_with_openrlhf(prm_folder: Path, embedded_model_dir: Path, tmp_path: Path) -> None:
    assert run(["export", "openrlhf", prm_folder, "--method", "all", "--unmeasured", "cut"]) == 0
    done = _train(prm_folder, _tokenizer(embedded_model_dir, tmp_path), embedded_model_dir, tmp_path)
    assert done.returncode == 0, done.stderr[-3000:]
    result = json.loads(done.stdout.strip().splitlines()[-1])
    assert len(result["losses"]) == 3 and all(math.isfinite(x) for x in result["losses"])
    assert result["placeholders"] > 0  # the labels sat on the placeholders
    print(f"\nopenrlhf: ProcessRewardDataset + PRMLoss (OpenRLHF 0.9.5) losses {result['losses']}")


@pytest.mark.skipif(not OPENRLHF.is_dir(), reason=f"OpenRLHF 0.9.5 is not installed in {OPENRLHF} (make installs it)")
def test_soft_labels_meet_openrlhfs_known_dtype_bug(prm_folder: Path, embedded_model_dir: Path, tmp_path: Path) -> None:
    """OpenRLHF 0.6-0.9.5 put float labels into an int64 tensor (``torch.full_like(input_ids, -100)`` in
    process_reward_dataset.py), so ``--soft`` rows fail there as released (0.5.x took them): the README
    says so, and this test notices the day a release reads them."""
    assert run(["export", "openrlhf", prm_folder, "--soft", "--method", "all", "--unmeasured", "cut"]) == 0
    done = _train(prm_folder, _tokenizer(embedded_model_dir, tmp_path), embedded_model_dir, tmp_path)
    assert done.returncode != 0 and "Index put requires the source and destination dtypes match" in done.stderr
