"""``--value-model SPEC``: which process reward model, parsed once on the launcher, built on each worker.

SPEC is one of:

- ``scripted`` / ``scripted:FACTOR`` / ``scripted:JSON-or-FILE``: a scripted reward for tests, not a model
  (``generators.reward.scripted``);
- ``DIR`` (a local folder, a Hugging Face model): a PRM as TRL's PRMTrainer saves it (a token classification
  head; ``config.json`` names a ``...ForTokenClassification``), or a causal LM, then used as a generative PRM;
  ``prm:DIR`` and ``generative:DIR`` say which outright; ``generative:embedded`` is the built-in SmolLM2;
- ``http://HOST:PORT[/v1][?OPTIONS][#MODEL]`` (or https): a vLLM server started with a process reward model
  (``vllm serve M --runner pooling``; ``--task reward`` before vLLM 0.11), asked through its Pooling API
  (``generators.reward.http``, which lists the OPTIONS).
"""

from __future__ import annotations

import importlib
import json
import os
from dataclasses import dataclass

from generators.reward.base import RewardModel

REWARDS = {
    "scripted": "generators.reward.scripted:ScriptedReward",  # tests only: a scripted reward, not a model
    "prm": "generators.reward.token_classification:TokenClassificationPRM",
    "generative": "generators.reward.generative:GenerativePRM",
    "http": "generators.reward.http:HTTPReward",
}
EMBEDDED = "embedded"


@dataclass(frozen=True)
class RewardSpec:
    """A parsed SPEC: picklable and hashable (it is part of the worker's backend config)."""

    kind: str  # a key of REWARDS
    location: str  # the folder, URL or script ("" for plain ``scripted``)

    @property
    def name(self) -> str:
        """What rows record as ``value_model``."""
        return f"{self.kind}:{self.location}" if self.location else self.kind


def _folder_kind(path: str) -> str:
    """``prm`` for a token classification checkpoint, ``generative`` for a causal LM; ValueError otherwise."""
    config = os.path.join(path, "config.json")
    try:
        with open(config, encoding="utf-8") as handle:
            architectures = json.load(handle).get("architectures") or []
    except (OSError, ValueError, AttributeError) as exc:
        raise ValueError(f"--value-model {path}: no readable config.json in the folder ({exc})") from exc
    if any(str(a).endswith("ForTokenClassification") for a in architectures):
        return "prm"
    if any(str(a).endswith("ForCausalLM") for a in architectures):
        return "generative"
    raise ValueError(f"--value-model {path}: config.json names {architectures or 'no architecture'}; "
                     "expected a ...ForTokenClassification PRM (TRL's PRMTrainer) or a ...ForCausalLM")


def parse_spec(text: str) -> RewardSpec:
    """The spec of ``text``; ValueError with a one-line reason for anything it cannot be."""
    text = (text or "").strip()
    if not text:
        raise ValueError("--value-model is empty")
    if text == "scripted" or text.startswith("scripted:"):
        return RewardSpec("scripted", text.partition(":")[2])
    if text.startswith(("http://", "https://")):
        return RewardSpec("http", text)
    kind, sep, rest = text.partition(":")
    if sep and kind in ("prm", "generative"):
        if not rest:
            raise ValueError(f"--value-model {text}: no folder after {kind}:")
        if rest == EMBEDDED and kind == "generative":
            return RewardSpec(kind, EMBEDDED)
        if not os.path.isdir(rest):
            raise ValueError(f"--value-model {text}: {rest} is not a folder")
        return RewardSpec(kind, os.path.abspath(rest))
    if os.path.isdir(text):
        return RewardSpec(_folder_kind(text), os.path.abspath(text))
    raise ValueError(f"--value-model {text}: not a folder, an http(s) URL, prm:DIR, generative:DIR|embedded or scripted[:...]")


def create_reward(spec: RewardSpec) -> RewardModel:
    """Build the reward model of ``spec`` (imported only when chosen)."""
    module_name, class_name = REWARDS[spec.kind].split(":")
    return getattr(importlib.import_module(module_name), class_name)(spec)
