"""The option groups commands share, for their ``add_arguments``: common (model, output, I/O), SFT, sandbox.

Every option's ``dest`` is a ``RunConfig`` field (``--config`` files use the same names).
"""

from __future__ import annotations

import argparse
from collections.abc import Callable, Iterable, Sequence
from typing import Any, get_args

from common.errors import ConfigError
from generators.backends.registry import BACKENDS
from pipelines.config import RunConfig


class RegistryNames(Sequence[str]):
    """argparse choices read from a registry when first needed (a value to check, a --help to
    print), so that starting the CLI imports none of the registries' packages."""

    def __init__(self, load: Callable[[], Iterable[str]]):
        self._load = load
        self._names: tuple[str, ...] | None = None

    @property
    def names(self) -> tuple[str, ...]:
        if self._names is None:
            self._names = tuple(self._load())
        return self._names

    def __getitem__(self, index: Any) -> Any:
        return self.names[index]

    def __len__(self) -> int:
        return len(self.names)

    def __repr__(self) -> str:
        return f"RegistryNames({list(self.names)!r})"


def _tagger_tiers() -> Iterable[str]:
    from generators.tagging import TIERS

    return TIERS


def _sandbox_names() -> Iterable[str]:
    from verifiers.sandbox.select import BACKENDS as SANDBOXES

    # "none" (no isolation) is never chosen by name: --unsafe-no-sandbox allows it as the last resort
    return ["auto", *(name for name in SANDBOXES if name != "none")]


def seed_formats() -> Iterable[str]:
    from schemas.seed_import import IMPORTERS

    return IMPORTERS


def config_literal(field: str) -> list[str]:
    """The values RunConfig accepts for a Literal field (the ones a --config file may give too)."""
    return list(get_args(RunConfig.model_fields[field].annotation))


def choices(action: argparse.Action, names: Sequence[str]) -> None:
    # set after add_argument: argparse formats the choices there (for the metavar check), which
    # would load a lazy registry at start-up
    action.choices = names


def common(parser: argparse.ArgumentParser) -> None:
    g = parser.add_argument_group("common options (also from --config FILE.yaml)")
    g.add_argument("--config", help="YAML file of options; flags given here win")
    g.add_argument("--out", help="output directory (required; local, gs:// or s3://)")
    g.add_argument("--backend", choices=list(BACKENDS),
                   help="LLM backend (default transformers; 'scripted' is a test double)")
    g.add_argument("--model", help="model name or path (default: the embedded SmolLM2-135M-Instruct)")
    g.add_argument("--base-url", dest="base_url", help="OpenAI-compatible server URL, e.g. http://localhost:8000/v1")
    g.add_argument("--temperature", type=float)
    g.add_argument("--max-new-tokens", dest="max_new_tokens", type=int)
    g.add_argument("--seed", type=int)
    g.add_argument("--limit", type=int, help="take only the first N inputs (a trial run)")
    g.add_argument("--max-batch-size", dest="max_batch_size", type=int,
                   help="rows of one generate call of a local model (transformers; default 16)")
    g.add_argument("--max-concurrency", dest="max_concurrency", type=int,
                   help="requests in flight at once (openai; default 64)")
    g.add_argument("--inflight", type=int,
                   help="elements each worker's generation engine runs at once, their requests merged into large "
                        "backend calls (default sized to the backend: 256 for openai and vllm, 4 x the batch for transformers)")
    g.add_argument("--vllm-arg", dest="vllm_arg", action="append", metavar="KEY=VALUE",
                   help="a vllm.EngineArgs argument for --backend vllm (repeatable; e.g. tensor_parallel_size=2, "
                        "gpu_memory_utilization=0.9, max_model_len=32768, dtype=bfloat16, quantization=awq); "
                        "also a vllm: mapping in --config")
    g.add_argument("--max-batch-sequences", dest="max_batch_sequences", type=int,
                   help="sequences per backend call (default the backend's best: its batch for transformers, "
                        "1024 for vllm, one request per call for openai)")
    g.add_argument("--request-timeout", dest="request_timeout", type=float)
    g.add_argument("--max-retries", dest="max_retries", type=int)
    g.add_argument("--threads", type=int, help="torch threads per worker process")
    g.add_argument("--prompt-budget", dest="prompt_budget", type=int,
                   help="most prompt tokens a request may have; a longer one filters its input prompt_too_long "
                        "(default: the model's context minus max_new_tokens; openai: the server's reported "
                        "context, else 8192 assumed)")
    g.add_argument("--rows-per-shard", dest="rows_per_shard", type=int)
    g.add_argument("--max-record-bytes", dest="max_record_bytes", type=int)
    g.add_argument("--shared-filesystem", dest="shared_filesystem", action="store_true", default=None,
                   help="the runner's workers see this machine's local paths (else a local --out/--input is refused "
                        "on a runner whose workers have their own disk)")
    g.add_argument("--quiet", action="store_true", default=None, help="no progress bars (drawn only on a terminal)")
    g.add_argument("--test-fraction", dest="test_fraction", type=float,
                   help="put this fraction of the problems (whole: every row made from one) in a test split "
                        "(default 0: all train; a rerun into DIR keeps DIR's split)")
    g.add_argument("--split-seed", dest="split_seed", type=int, help="which problems go to test (default 0)")
    g.add_argument("--factors", help="thought-factor vocabulary YAML (default: the built-in one)")
    choices(g.add_argument("--tagger", help="how steps get their factor (default rules)"), RegistryNames(_tagger_tiers))
    screening(parser)


def screening(parser: argparse.ArgumentParser) -> None:
    g = parser.add_argument_group("screening of the inputs (decontamination, near-duplicates)")
    g.add_argument("--decontaminate", help="benchmarks whose test sets inputs must not overlap: auto (the bundled ones of "
                                           "the input's domain: gsm8k, math500, minif2f for math; humaneval, mbpp for code; "
                                           "minif2f for Lean), BENCH,BENCH, or none (default auto)")
    g.add_argument("--decontaminate-file", dest="decontaminate_file", action="append",
                   help="your own benchmark: a JSONL file whose --decontaminate-column holds the texts (repeatable)")
    g.add_argument("--decontaminate-column", dest="decontaminate_column", help="the text column of --decontaminate-file "
                                                                               "(default problem)")
    g.add_argument("--no-near-duplicates", dest="near_duplicates", action="store_false", default=None,
                   help="keep near-duplicate problems (default: a later near-copy is filtered near_duplicate)")
    g.add_argument("--near-duplicate-threshold", dest="near_duplicate_threshold", type=float,
                   help="estimated Jaccard similarity of two problems' word 3-grams (numbers masked) from which the "
                        "later is a near-duplicate (default 0.7)")


def band_options(parser: argparse.ArgumentParser) -> None:
    g = parser.add_argument_group("difficulty band (from `reverse-o1 difficulty`)")
    g.add_argument("--difficulty", help="an output folder of `reverse-o1 difficulty` (or its shards): problems joined "
                                        "by id to their pass rate")
    g.add_argument("--min-pass", dest="min_pass", type=float, help="filter problems below this pass rate (too_hard)")
    g.add_argument("--max-pass", dest="max_pass", type=float, help="filter problems above this pass rate (too_easy)")


def sft_options(parser: argparse.ArgumentParser) -> None:
    """Options of the commands that write SFT rows."""
    parser.add_argument("--only-verified", dest="only_verified", action="store_true", default=None,
                        help="write only SFT rows whose answer was verified (default: keep them too, verified=false; "
                             "PRM rows keep both)")


def sandbox_options(parser: argparse.ArgumentParser) -> None:
    g = parser.add_argument_group("sandbox (where code from repositories and models runs)")
    choices(g.add_argument("--sandbox", help="isolation (default auto: bwrap, else refuse; unshare only with"
                                              " --unsafe-no-sandbox)"), RegistryNames(_sandbox_names))
    g.add_argument("--unsafe-no-sandbox", dest="unsafe_no_sandbox", action="store_true", default=None,
                   help="where bwrap is missing, run code under unshare (no filesystem isolation) or unisolated"
                        " (only code you trust)")
    g.add_argument("--sandbox-timeout", dest="sandbox_timeout", type=float, help="wall seconds per execution (default 10)")
    g.add_argument("--sandbox-memory-mb", dest="sandbox_memory_mb", type=int,
                   help="memory per execution: the whole process tree where a cgroup can be made, else per process"
                        " (default 1024)")


def truncation_options(parser: argparse.ArgumentParser, what: str = "CoT") -> None:
    """``--keep-truncated`` and ``--truncated-retry-tokens N`` (code-cot, lean-cot)."""
    parser.add_argument("--keep-truncated", dest="keep_truncated", action="store_true", default=None,
                        help=f"keep a {what} cut at the token cap, the row marked truncated=true "
                             "(default: not kept; filtered truncated_cot)")
    parser.add_argument("--truncated-retry-tokens", dest="truncated_retry_tokens", type=int, metavar="N",
                        help=f"ask a {what} cut at the token cap once more with this cap (above --max-new-tokens)")


def check_retry_tokens(config: RunConfig) -> None:
    """A retry cap must be above the first one, else the retry would be cut again: one line, before anything runs."""
    if config.truncated_retry_tokens is not None and config.truncated_retry_tokens <= config.max_new_tokens:
        raise ConfigError(f"--truncated-retry-tokens {config.truncated_retry_tokens} must be above --max-new-tokens "
                          f"{config.max_new_tokens}: a cut generation is asked again with the larger cap")
