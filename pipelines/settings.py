"""Each command's settings, built once from the ``RunConfig`` and handed to its DoFns.

The CLI and YAML give one typed, validated ``RunConfig`` (``pipelines.config``); this module is
the only place that projects it into the frozen, picklable settings the stages run on, so a DoFn
never sees the whole config (nor anything it does not use) and a setting means one thing
everywhere. The settings objects that enter row ids (``LabelSettings``, ``MCTSSettings``,
``ThoughtSettings``, ``CodeCoTSettings``) are the generators' own dataclasses, unchanged.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any

from generators.backends.base import GenerationParams
from generators.backends.registry import BackendConfig
from generators.tagging import DEFAULT_PARAMS
from pipelines.config import RunConfig
from schemas.splits import SplitSettings


@dataclass(frozen=True)
class ModelSettings:
    """The backend and model as rows record them and ids hash them."""

    backend: str
    model: str  # the configured model, or the embedded one's name


def model_settings(config: RunConfig) -> ModelSettings:
    return ModelSettings(config.backend, config.model_label())


def backend_config(config: RunConfig) -> BackendConfig:
    """What a worker needs to build the backend (no secret: see ``generators.backends.handle``)."""
    return BackendConfig(
        backend=config.backend, model=config.model, base_url=config.base_url, max_batch_size=config.max_batch_size,
        max_concurrency=config.max_concurrency, request_timeout=config.request_timeout, max_retries=config.max_retries,
        threads=config.threads, prompt_budget=config.prompt_budget, inflight=config.inflight,
        max_batch_sequences=config.max_batch_sequences, value_model=value_model_spec(config),
        vllm_args=tuple(sorted((k, v if isinstance(v, (str, int, float, bool, type(None))) else repr(v))
                               for k, v in config.vllm.items())),
    )


def value_model_spec(config: RunConfig) -> Any:
    """``--value-model`` parsed (a ``generators.reward.spec.RewardSpec``), or None."""
    if config.value_model is None:
        return None
    from generators.reward.spec import parse_spec

    return parse_spec(config.value_model)


@dataclass(frozen=True)
class SandboxSettings:
    """Where code from repositories and models runs, and its limits."""

    prefer: str | None  # bwrap | unshare | None (auto)
    allow_unsafe: bool
    wall_seconds: float
    memory_mb: int

    def verifier(self) -> Any:
        """A ``verifiers.code.CodeVerifier``; raises ``SandboxUnavailable`` when nothing isolates and
        ``--unsafe-no-sandbox`` was not given."""
        from verifiers.code import CodeVerifier
        from verifiers.sandbox import Limits, select_sandbox

        limits = Limits(wall_seconds=self.wall_seconds, cpu_seconds=max(1, int(self.wall_seconds)),
                        memory_bytes=self.memory_mb << 20)
        return CodeVerifier(select_sandbox(allow_unsafe=self.allow_unsafe, prefer=self.prefer), limits)


def sandbox_settings(config: RunConfig) -> SandboxSettings:
    return SandboxSettings(None if config.sandbox == "auto" else config.sandbox, config.unsafe_no_sandbox,
                           config.sandbox_timeout, config.sandbox_memory_mb)


@dataclass(frozen=True)
class TaggingSettings:
    """How SFT steps get their factors: the vocabulary file, the tier, the LLM tier's sampling."""

    factors: str | None
    tier: str
    params: GenerationParams
    only_verified: bool = False  # --only-verified: unverified rows are filtered (reason ``unverified``) here


def tagging_settings(config: RunConfig) -> TaggingSettings:
    """Greedy and short: a factor name is a few tokens."""
    params = replace(DEFAULT_PARAMS, max_new_tokens=min(config.max_new_tokens, DEFAULT_PARAMS.max_new_tokens), seed=config.seed)
    return TaggingSettings(config.factors, config.tagger, params, config.only_verified)


def split_settings(config: RunConfig) -> SplitSettings:
    """The split as configured (``runner`` has settled a None against the output's earlier split)."""
    return SplitSettings(config.test_fraction or 0.0, config.split_seed or 0)
