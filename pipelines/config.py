"""One typed configuration for every command, from flags and/or a YAML file (``--config``).

Flags win over the YAML file; both win over the defaults here. The object is passed down to
pipelines and DoFns; nothing reads configuration from globals.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from common.errors import ConfigError
from generators.backends.registry import BACKENDS
from generators.backends.vllm_args import VLLMArgError, normalise, parse_vllm_args, validate
from pipelines.sources.code.safe_tree import OMIT_BLOB_BYTES


class RunConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")

    # where
    input: list[str] = Field(default_factory=list)
    out: str | None = None  # required by every pipeline command (``PipelineCommand.require``)
    limit: int | None = Field(default=None, ge=1)
    # model
    backend: str = "transformers"
    model: str | None = None
    base_url: str | None = None
    temperature: float = Field(default=0.7, ge=0.0, le=2.0)
    max_new_tokens: int = Field(default=192, ge=1, le=32768)
    seed: int = 0
    max_batch_size: int = Field(default=16, ge=1)  # rows per generate call of a local model: the CPU's best
    max_concurrency: int = Field(default=64, ge=1)
    inflight: int | None = Field(default=None, ge=1)  # elements per worker's engine; None: sized to the backend
    vllm: dict[str, Any] = Field(default_factory=dict)  # vllm.EngineArgs for --backend vllm (--vllm-arg KEY=VALUE)
    max_batch_sequences: int | None = Field(default=None, ge=1)  # sequences per backend call; None: the backend's
    request_timeout: float = Field(default=120.0, gt=0)
    max_retries: int = Field(default=4, ge=0)
    threads: int | None = Field(default=None, ge=1)
    prompt_budget: int | None = Field(default=None, ge=1)  # prompt tokens per request; None: context - max_new_tokens
    # labelling (label)
    method: Literal["shepherd", "binary", "judge", "consensus"] = "shepherd"
    n: int = Field(default=8, ge=1, le=256)
    probe_chunk: int = Field(default=2, ge=1, le=256)
    # the LLM judge (label --method judge|consensus); None: the completer's model and server
    judge_model: str | None = None
    judge_base_url: str | None = None
    # consensus: the Monte Carlo method beside the judge, and what a solution where they disagree on the first
    # wrong step becomes (None unless --method consensus: then binary and keep-agreeing)
    mc_method: Literal["shepherd", "binary"] | None = None
    consensus: Literal["keep-agreeing", "drop-solution"] | None = None
    # gold answers: the input's (given), or by majority vote of sampled solutions where an input has none
    # (min_majority and gold_samples are None unless --gold majority: then 0.5 and 8)
    gold: Literal["given", "majority"] = "given"
    min_majority: float | None = Field(default=None, ge=0.0, le=1.0)
    gold_samples: int | None = Field(default=None, ge=1, le=1024)
    # difficulty (difficulty) and the difficulty band of every command that reads seeds
    k: int = Field(default=16, ge=1, le=1024)  # solutions sampled per problem
    difficulty: str | None = None  # a difficulty output (DIR or its difficulty/ shards) to keep a band of
    min_pass: float | None = Field(default=None, ge=0.0, le=1.0)  # pass rate below it: filtered too_hard
    max_pass: float | None = Field(default=None, ge=0.0, le=1.0)  # pass rate above it: filtered too_easy
    # summaries of the hidden CoT (summarize): samples per row (the first that passes is kept), the share of the
    # CoT's words a summary may copy (word 6-grams: generators.summary), its length against the CoT's (characters)
    samples: int = Field(default=1, ge=1, le=64)
    max_copied: float = Field(default=0.5, ge=0.0, le=1.0)
    max_ratio: float = Field(default=0.8, gt=0.0)
    # decontamination and near-duplicates (every command that writes rows)
    decontaminate: str = "auto"  # auto: the bundled benchmarks of the row's domain; none; or BENCH,BENCH
    decontaminate_file: list[str] = Field(default_factory=list)  # user references, JSONL
    decontaminate_column: str = "problem"  # the text column of --decontaminate-file
    near_duplicates: bool = True  # MinHash/LSH near-duplicate problems filtered near_duplicate
    near_duplicate_threshold: float = Field(default=0.7, gt=0.0, le=1.0)  # estimated Jaccard of 5-word shingles
    # tree search (expand)
    cuts: str = "all"
    branching: int = Field(default=4, ge=1, le=64)
    c_puct: float = Field(default=1.5, ge=0.0)
    simulations: int = Field(default=16, ge=1, le=10_000)
    max_depth: int = Field(default=12, ge=1, le=256)
    factor_actions: bool = False
    parallel_leaves: int = Field(default=1, ge=1, le=64)  # leaves per tree and round, with a virtual loss
    factor_subset: int = Field(default=0, ge=0, le=256)  # factor actions: factors tried per expansion; 0: every one
    trees: bool = True  # write every search tree's nodes (DIR/trees)
    value_model: str | None = None  # a process reward model for the search's values (generators.reward.spec)
    value_mix: float | None = Field(default=None, ge=0.0, le=1.0)  # lambda: rollouts' share of a value (1; 0.5 with a model)
    best_of: int = Field(default=1, ge=1, le=64)  # each candidate step the value model's best of N samples
    # Lean CoT (lean-cot)
    lean_repo: str | None = None  # URL@COMMIT to trace with lean_dojo (needs a Lean toolchain)
    thought_samples: int = Field(default=2, ge=1, le=16)
    # code CoT (code-cot)
    repo: list[str] = Field(default_factory=list)  # PATH_OR_GIT_URL[@REV], each
    repo_cache: str | None = None  # clones and snapshots; default $REVERSE_O1_CACHE or ~/.cache/reverse-o1
    max_file_bytes: int = Field(default=1_000_000, ge=1024, le=OMIT_BLOB_BYTES)  # a larger blob is never unpacked
    max_snapshot_bytes: int = Field(default=512 << 20, ge=1 << 20)  # bytes of files one snapshot may unpack
    max_snapshot_files: int = Field(default=100_000, ge=1)  # files, folders and links one snapshot may unpack
    cot_samples: int = Field(default=2, ge=1, le=16)
    keep_truncated: bool = False  # a CoT cut at the token cap: kept, marked truncated=true (else filtered truncated_cot)
    truncated_retry_tokens: int | None = Field(default=None, ge=1, le=32768)  # a cut CoT asked once more with this cap
    only_verified: bool = False
    sandbox: Literal["auto", "bwrap", "unshare"] = "auto"
    unsafe_no_sandbox: bool = False
    sandbox_timeout: float = Field(default=10.0, gt=0, le=3600)
    sandbox_memory_mb: int = Field(default=1024, ge=64)
    # thought factors (tag, and every pipeline that writes SFT rows)
    factors: str | None = None
    tagger: Literal["rules", "llm", "both"] = "rules"
    column: str | None = None
    # splits (every command that writes rows): whole problems to train or test
    test_fraction: float | None = Field(default=None, ge=0.0, lt=1.0)  # None: as DIR was split before, else 0
    split_seed: int | None = None
    # I/O
    rows_per_shard: int = Field(default=50_000, ge=1)  # or ~128 MB, whichever first (pipelines.io.shards)
    max_record_bytes: int = Field(default=1_000_000, ge=1024)
    shared_filesystem: bool = False  # the workers see the launcher's local paths (NFS, a one-machine cluster)
    quiet: bool = False  # no progress bars (they are drawn only on a terminal anyway)

    @field_validator("backend")
    @classmethod
    def _known_backend(cls, value: str) -> str:
        if value not in BACKENDS:
            raise ValueError(f"unknown backend {value!r} (choose {', '.join(BACKENDS)})")
        return value

    @field_validator("vllm", mode="before")
    @classmethod
    def _engine_args(cls, value: Any) -> dict[str, Any]:
        try:
            return validate(normalise(value or {}))
        except VLLMArgError as exc:
            raise ValueError(str(exc)) from None

    @field_validator("cuts")
    @classmethod
    def _known_cuts(cls, value: str) -> str:
        if value in ("all", "first"):
            return value
        head, _, k = value.partition(":")
        if head != "random" or not k.isdigit() or int(k) < 1:
            raise ValueError(f"--cuts {value!r}: use all, first or random:K (K >= 1)")
        return value

    @field_validator("value_model")
    @classmethod
    def _known_value_model(cls, value: str | None) -> str | None:
        if value is not None:
            from generators.reward.spec import parse_spec

            parse_spec(value)  # a ValueError of one line: no such folder, not a PRM, not a URL
        return value

    @model_validator(mode="after")
    def _value_model_needed(self) -> RunConfig:
        if self.value_model is None:
            if (self.value_mix is not None and self.value_mix < 1.0) or self.best_of > 1:
                raise ValueError("--value-mix below 1 and --best-of above 1 need --value-model SPEC (a reward model)")
        elif self.value_mix is None:
            self.value_mix = 0.5  # a named value model is asked for something by default
        elif self.value_mix == 1.0 and self.best_of == 1:
            raise ValueError("--value-model with --value-mix 1 and --best-of 1 would ask the reward model nothing; "
                             "give --value-mix below 1 or --best-of N")
        return self

    @model_validator(mode="after")
    def _relevant_defaults(self) -> RunConfig:
        """The defaults of options that mean something only for some runs, set for those runs alone (so that
        a run's settings, as its card shows them, name only what made its rows)."""
        if self.method == "consensus":
            self.mc_method = self.mc_method or "binary"
            self.consensus = self.consensus or "keep-agreeing"
        if self.gold == "majority":
            self.min_majority = 0.5 if self.min_majority is None else self.min_majority
            self.gold_samples = self.gold_samples or 8
        return self

    def model_label(self) -> str:
        """The model as configured (the embedded one when none is named)."""
        return self.model or ("SmolLM2-135M-Instruct" if self.backend == "transformers" else "server-default")


# Options that say where things go or how fast, not what the rows are: never shown as a run's settings.
PLUMBING = frozenset({"config", "out", "input", "repo", "lean_repo", "repo_cache", "base_url", "max_batch_size",
                      "judge_base_url", "max_concurrency", "inflight", "max_batch_sequences", "request_timeout",
                      "max_retries", "threads",
                      "rows_per_shard", "max_record_bytes",
                      "shared_filesystem", "debug", "quiet", "help",
                      "test_fraction", "split_seed"})  # the folder's split: the card's "Splits" section says it


def load_yaml(path: str) -> dict[str, Any]:
    try:
        data = yaml.safe_load(Path(path).read_text(encoding="utf-8"))
    except OSError as exc:
        raise ConfigError(f"--config {path}: {exc.strerror or exc}") from None
    except yaml.YAMLError as exc:
        raise ConfigError(f"--config {path}: not valid YAML ({str(exc).splitlines()[0]})") from None
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise ConfigError(f"--config {path}: expected a mapping of option: value")
    return {str(k).replace("-", "_"): v for k, v in data.items()}


def build_config(flags: dict[str, Any], yaml_path: str | None = None) -> RunConfig:
    """Defaults < YAML < flags given on the command line (``None`` means not given)."""
    merged = load_yaml(yaml_path) if yaml_path else {}
    given = {k: v for k, v in flags.items() if v is not None}
    if "vllm_arg" in given:  # --vllm-arg KEY=VALUE, each on top of the file's vllm: mapping
        try:
            given["vllm"] = {**normalise(merged.get("vllm") or {}), **parse_vllm_args(given.pop("vllm_arg"))}
        except VLLMArgError as exc:
            raise ConfigError(str(exc)) from None
    merged.update(given)
    try:
        return RunConfig.model_validate(merged)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first["loc"]) or "config"
        raise ConfigError(f"{where}: {first['msg'].removeprefix('Value error, ')}") from None


def with_worker_threads(config: RunConfig, beam_args: list[str]) -> RunConfig:
    """Split the cores between Beam's worker processes when the user did not set --threads.

    One core is left for Beam, verification and I/O: on 2 cores, 2 torch threads decode no
    faster than 1 (measured) and spin badly when anything else runs.
    """
    if config.threads is not None:
        return config
    workers = 1
    for i, arg in enumerate(beam_args):
        if arg.startswith("--direct_num_workers"):
            value = arg.split("=", 1)[1] if "=" in arg else (beam_args[i + 1] if i + 1 < len(beam_args) else "1")
            workers = max(1, int(value)) if value.isdigit() else (os.cpu_count() or 1)
    return config.model_copy(update={"threads": max(1, ((os.cpu_count() or 1) - 1) // workers)})
