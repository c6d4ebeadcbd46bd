"""``--value-model SPEC``: which process reward model, parsed once on the launcher, built on each worker.

SPEC is one of:

- ``scripted`` / ``scripted:FACTOR`` / ``scripted:JSON-or-FILE``: a scripted reward for tests, not a model
  (``generators.reward.scripted``);
- ``DIR`` (a local folder; nothing is downloaded): a PRM as TRL's PRMTrainer saves it (a token classification
  head; ``config.json`` names a ``...ForTokenClassification``), or a causal LM, then used as a generative PRM;
  ``prm:DIR`` and ``generative:DIR`` say which outright; ``generative:embedded`` is the built-in SmolLM2;
- ``http://HOST:PORT[/v1][?OPTIONS][#MODEL]`` (or https): a vLLM server started with a process reward model
  (``vllm serve M --runner pooling``; ``--task reward`` before vLLM 0.11), asked through its Pooling API
  (``generators.reward.http``, which lists the OPTIONS).
"""

from __future__ import annotations

import glob
import hashlib
import importlib
import json
import os
from dataclasses import dataclass, field

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
    identity: str = field(default="", compare=False)  # what rows record and ids hash (``parse_spec`` fills it)

    @property
    def name(self) -> str:
        """Where the model is, for messages: the URL without credentials, the folder, the script."""
        if self.kind == "http":
            from generators.reward.http_url import without_credentials

            return without_credentials(self.location)
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


WEIGHTS = ("*.safetensors", "*.bin", "*.pt", "*.gguf")
_EDGE = 1 << 20  # bytes read from each end of a weights file for its fingerprint


def folder_digest(path: str) -> str:
    """A fingerprint of a model folder: its config.json, and per weights file its name, size and the sha256
    of its first and last MiB (a retrained model differs there; reading gigabytes whole is not needed)."""
    digest = hashlib.sha256()
    weights = sorted(os.path.basename(p) for pattern in WEIGHTS for p in glob.glob(os.path.join(path, pattern)))
    for name in ["config.json", *weights]:
        full = os.path.join(path, name)
        if not os.path.isfile(full):
            continue
        size = os.path.getsize(full)
        digest.update(f"{name}:{size}:".encode())
        with open(full, "rb") as handle:
            digest.update(handle.read(_EDGE))
            if size > 2 * _EDGE:
                handle.seek(size - _EDGE)
                digest.update(handle.read(_EDGE))
    return digest.hexdigest()[:16]


def _scripted(location: str) -> RewardSpec:
    """``scripted[:FACTOR|JSON|FILE]``, its JSON read now: a bad script is one line on the launcher."""
    if location.lstrip().startswith("{") or location.endswith(".json"):
        try:
            text = location if location.lstrip().startswith("{") else open(location, encoding="utf-8").read()
            script = json.loads(text)
        except (OSError, ValueError) as exc:
            raise ValueError(f"--value-model scripted:{location[:80]}: not a readable JSON script ({exc})") from None
        if not isinstance(script, dict):
            raise ValueError("--value-model scripted: the JSON script must be an object")
    return RewardSpec("scripted", location, f"scripted:{location}" if location else "scripted")


def _folder(kind: str, path: str) -> RewardSpec:
    path = os.path.abspath(path)
    return RewardSpec(kind, path, f"{kind}:{os.path.basename(path)}@{folder_digest(path)}")


def parse_spec(text: str) -> RewardSpec:
    """The spec of ``text``; ValueError with a one-line reason for anything it cannot be (nothing is
    loaded and no server is called: a folder's files are read for its digest, a URL is parsed)."""
    text = (text or "").strip()
    if not text:
        raise ValueError("--value-model is empty")
    if text == "scripted" or text.startswith("scripted:"):
        return _scripted(text.partition(":")[2])
    if text.startswith(("http://", "https://")):
        from generators.reward.http_url import server_spec

        return RewardSpec("http", text, server_spec(text).identity)
    kind, sep, rest = text.partition(":")
    if sep and kind in ("prm", "generative"):
        if not rest:
            raise ValueError(f"--value-model {text}: no folder after {kind}:")
        if rest == EMBEDDED and kind == "generative":
            return RewardSpec(kind, EMBEDDED, f"generative:{EMBEDDED}")
        if not os.path.isdir(rest):
            raise ValueError(f"--value-model {text}: {rest} is not a folder")
        return _folder(kind, rest)
    if os.path.isdir(text):
        return _folder(_folder_kind(text), text)
    raise ValueError(f"--value-model {text}: not a folder, an http(s) URL, prm:DIR, generative:DIR|embedded or scripted[:...]")


def create_reward(spec: RewardSpec) -> RewardModel:
    """Build the reward model of ``spec`` (imported only when chosen)."""
    module_name, class_name = REWARDS[spec.kind].split(":")
    return getattr(importlib.import_module(module_name), class_name)(spec)
