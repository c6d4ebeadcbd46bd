"""``reverse-o1 code-cot``: the hidden reasoning behind real functions, checked by execution → SFT rows.

repositories (directories, git repos at a revision, ``GIT_URL@REV`` clones) → files (gitignored,
vendored, generated, binary and oversized ones filtered) → functions (``ast`` only: docstring,
a return value, ≤ 150 lines, no risky names, near-duplicates removed, each with its doctests and
the repository's tests that call it) → ``original_tests`` (the untouched function must pass its
tests in the sandbox, else the tests are broken and the function is filtered) → ``code_cot``
(reverse CoT, the hindsight filter, then the round trip: code written from the task and the CoT
alone, run against the same tests; both prompts show the function's module context, its imports
and the helpers and constants it uses) → tag → ``DIR/sft``. The assistant turn is the tagged CoT,
then the original code in a fenced block; ``verified`` is the round trip's result. A function
whose every CoT sample the hindsight filter rejected is filtered as ``no_forward_cot:REASON``;
each rejected sample is a ``rejected:REASON`` stat; rows record the filter's version and the
context given. A CoT cut at the token cap is never written as complete: retried once with
``--truncated-retry-tokens``, then filtered ``truncated_cot`` or, with ``--keep-truncated``,
written with ``truncated`` true.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import apache_beam as beam

from generators.backends.base import LLMBackend
from generators.backends.handle import BackendHandle
from generators.code import CodeCoTSettings, ReverseCoTWriter, RoundTripWriter, answer_of, problem_of
from generators.code.context import NO_CONTEXT, FunctionContext, function_context, module_text
from generators.code.hindsight import FILTER_VERSION as HINDSIGHT_FILTER
from generators.code.reverse_cot import ReverseCoT
from generators.code.roundtrip import RoundTripCode
from generators.code.truncation import TRUNCATED, TruncationPolicy
from generators.engine.program import Program
from generators.prompts import template
from pipelines import options
from pipelines.command import PipelineCommand, Requirement
from pipelines.config import RunConfig
from pipelines.io import fs
from pipelines.io.read import DEAD, SelectFirst
from pipelines.io.shards import WriteReports, WriteShards
from pipelines.runner import RunContext
from pipelines.screen import screen_for
from pipelines.settings import ModelSettings, SandboxSettings, model_settings, sandbox_settings, tagging_settings
from pipelines.sources.code.read import ExtractFunctions, ReadRepositoryFiles, local_function
from pipelines.sources.code.repos import materialise, walk_plain
from pipelines.sources.code.safe_tree import Budget, UnsafeArchive
from pipelines.sources.code.staging import LocalSnapshots, default_cache_dir, stage_snapshot
from pipelines.stage.kernel import REPORT, RESUMED, Filtered, Rejected, Stage
from pipelines.stage.program_stage import ProgramStage
from pipelines.tag_sft_rows import TagSFTRows
from schemas.code import CheckedFunction, CodeFunction, RepoSnapshot
from schemas.ids import content_id
from schemas.records import GeneratorInfo, SFTRow, Source, Step
from verifiers.code import CodeVerdict, outcome_kind, safe_name

PROMPT_VERSION = f"{template('code_reverse_cot').id}+{template('code_from_plan').id}"
VERIFIER = "code_roundtrip"


@dataclass(frozen=True)
class CodeSettings:
    model: ModelSettings
    cot: CodeCoTSettings
    sandbox: SandboxSettings
    repo_cache: str | None  # the workers' cache for snapshots; None: each worker's default
    only_verified: bool
    truncation: TruncationPolicy = field(default_factory=TruncationPolicy)  # not part of row ids

    def worker_cache(self) -> str:
        """``--repo-cache``, else ``repos/`` in the cache of the machine this runs on."""
        return self.repo_cache or default_cache_dir()


def code_settings(config: RunConfig) -> CodeSettings:
    cot = CodeCoTSettings(samples=config.cot_samples, temperature=config.temperature,
                          max_new_tokens=config.max_new_tokens, seed=config.seed)
    return CodeSettings(model_settings(config), cot, sandbox_settings(config), config.repo_cache, config.only_verified,
                        TruncationPolicy(config.keep_truncated, config.truncated_retry_tokens))


def row_id(fn: CodeFunction, settings: CodeSettings) -> str:
    content = [fn.repo.uri, fn.repo.commit, fn.path, fn.symbol, fn.code]
    return content_id("sft", "code", content, settings.cot, settings.model.backend, settings.model.model)


def function_order(fn: CodeFunction) -> tuple[str, str, str]:
    return (fn.repo.uri, fn.path, fn.symbol)


def no_cot_reason(rejected: Counter[str]) -> str:
    """The filter reason of a function whose every CoT sample was rejected: ``truncated_cot`` when a
    sample would have passed but for being cut at the token cap, else ``no_forward_cot:REASON`` with
    the hindsight filter's commonest reason (``copied_code``, ``restates_signature``...)."""
    if rejected.get(TRUNCATED):
        return TRUNCATED
    return "no_forward_cot" + "".join(f":{reason}" for reason, _ in rejected.most_common(1))


@dataclass(frozen=True)
class CodeCoTWork:
    """What one function's program returns: the CoT, the round trip (None when no CoT was kept)
    and the module context both prompts showed."""

    cot: ReverseCoT
    back: RoundTripCode | None
    context: FunctionContext = NO_CONTEXT


def context_of(fn: CodeFunction) -> FunctionContext | None:
    """``fn``'s module context, read from its snapshot on this machine; None when the module cannot be read."""
    try:
        source = module_text(Path(fn.repo.root, fn.path).read_bytes())
    except (OSError, SyntaxError, UnicodeDecodeError, LookupError):
        return None
    return function_context(source, fn)


class OriginalTestsFn(Stage):
    """The untouched function against its tests, in the sandbox: a failure means broken tests."""

    failure = "sandbox_error"  # the sandbox itself failed: keep the function, say why

    def __init__(self, settings: CodeSettings, stage: str = "original_tests"):
        super().__init__(stage)
        self.settings = settings

    def setup(self) -> None:
        self.verifier = self.settings.sandbox.verifier()
        self.snapshots = LocalSnapshots(self.settings.worker_cache())  # this worker's cache

    def preview(self, fn: CodeFunction) -> str:
        return fn.code

    def run(self, fn: CodeFunction, done: frozenset[str] = frozenset()) -> Any:
        ident = row_id(fn, self.settings)
        if ident in done:
            return RESUMED
        fn = local_function(fn, self.snapshots)  # the sandbox mounts fn.repo.root: a directory on this worker
        verdict = self.verifier.verify_function(fn)
        self.stat(f"sandbox:{verdict.result.sandbox}")
        if not verdict.passed:
            # a module named like one the test harness imports (doctest.py ...) is not run at all
            reason = "shadows_stdlib" if verdict.result.stopped == "shadows_stdlib" else f"original_{verdict.result.status}"
            return Filtered(reason, report=original_failure(fn, verdict))
        return CheckedFunction(fn, verdict.detail(), ident)


def original_failure(fn: CodeFunction, verdict: CodeVerdict) -> dict[str, Any]:
    """What ``DIR/reports/original_tests/`` says of a function whose own tests fail: where it is,
    how the run ended and the first test that did not pass (names and exception types only, as in a row)."""
    failing = verdict.failing()  # a skipped test is not a failure
    bad = next(((name, outcome) for name, outcome in verdict.tests.items() if safe_name(name) == failing[0]), None) \
        if failing else None
    return {"repo": fn.repo.uri, "commit": fn.repo.commit, "path": fn.path, "symbol": fn.symbol,
            "status": verdict.result.status, "stopped": verdict.result.stopped,
            "failing_test": safe_name(bad[0]) if bad else None, "outcome": outcome_kind(bad[1]) if bad else None,
            "tests": [safe_name(f"{t.kind}:{t.path}::{t.name}") for t in fn.tests], "detail": verdict.detail()}


class CodeCoTFn(ProgramStage):
    """Reverse CoT, hindsight filter, round trip in the sandbox → an SFT row (or a counted filter). The
    two requests are a program on the worker's engine (many functions at once); the sandbox runs in
    ``finish``, on this DoFn's thread, never on the engine's."""

    failure = "generation_error"

    def __init__(self, handle: BackendHandle, settings: CodeSettings, stage: str = "code_cot"):
        super().__init__(stage, handle)
        self.code = settings
        self.settings = settings.cot

    def setup(self) -> None:
        super().setup()
        self.verifier = self.code.sandbox.verifier()
        self.snapshots = LocalSnapshots(self.code.worker_cache())  # this worker's cache

    def ref(self, checked: CheckedFunction) -> str:
        return checked.fn.ref

    def preview(self, checked: CheckedFunction) -> str:
        return checked.fn.code

    def start(self, checked: CheckedFunction) -> Any:
        context = context_of(local_function(checked.fn, self.snapshots))
        if context is None:
            self.stat("context:unreadable")
        return self._write(self.engine().backend, checked.fn, context or NO_CONTEXT)

    def _write(self, backend: LLMBackend, fn: CodeFunction, context: FunctionContext = NO_CONTEXT) -> Program[CodeCoTWork]:
        truncation = self.code.truncation
        cot = yield from ReverseCoTWriter(backend, self.settings, truncation).program(fn, context)
        if not cot.steps:
            return CodeCoTWork(cot, None, context)
        back = yield from RoundTripWriter(backend, self.settings, truncation).program(fn, cot.steps, context)
        return CodeCoTWork(cot, back, context)

    def finish(self, checked: CheckedFunction, written: CodeCoTWork) -> Any:
        fn = checked.fn
        cot, back = written.cot, written.back
        for reason, count in cot.rejected.items():
            self.stat(f"rejected:{reason}", count)
        self.stat("generated_tokens", cot.generated_tokens)
        for name, happened in (("retried:reverse_cot", cot.retried), ("truncated_kept", cot.truncated),
                               ("retried:roundtrip", back is not None and back.retried)):
            if happened:
                self.stat(name)
        if back is None:  # every sample rejected: the funnel says why (truncation, else the commonest reason)
            return Filtered(no_cot_reason(cot.rejected))
        self.stat("context_items", len(written.context.items))
        if written.context.left_out:
            self.stat("context_left_out", written.context.left_out)
        self.stat("generated_tokens", back.generated_tokens)
        verdict: CodeVerdict | None = None
        if back.code is not None:
            try:
                verdict = self.verifier.verify_function(local_function(fn, self.snapshots), back.code)
            except Exception as exc:  # the sandbox failed, not the model
                return Rejected("sandbox_error", f"{type(exc).__name__}: {exc}", back.code)
        verified = verdict is not None and verdict.passed
        roundtrip = verdict.detail() if verdict is not None else f"no code to run: {back.reason}"
        self.stat("roundtrip:" + (verdict.result.status if verdict is not None else str(back.reason)))
        if self.code.only_verified and not verified:
            return Filtered("roundtrip_failed")
        self.stat("verified", int(verified))
        detail = {"original": checked.original, "roundtrip": roundtrip, "sandbox": self.verifier.sandbox.name,
                  "filter": HINDSIGHT_FILTER, "context": written.context.record()}
        return SFTRow(
            id=checked.row_id, source_kind="code",
            source=Source(uri=fn.repo.uri, commit=fn.repo.commit, path=fn.path, symbol=fn.symbol, license=fn.repo.license),
            problem=problem_of(fn, written.context), steps=[Step(s) for s in cot.steps], answer=answer_of(fn.code), messages=[],
            verified=verified, verifier=VERIFIER, verifier_detail=json.dumps(detail, ensure_ascii=False),
            generator=GeneratorInfo(self.code.model.backend, self.engine().backend.model_name, self.settings.temperature,
                                    self.settings.seed, PROMPT_VERSION),
            truncated=cot.truncated,
        )


def _materialise(spec: str, cache: str, budget: Budget) -> RepoSnapshot:
    """``materialise``, with a refused archive as a snapshot that the listing filters with its reason
    (one line here says why): one hostile repository does not stop the others."""
    try:
        return materialise(spec, cache, budget)
    except UnsafeArchive as exc:
        assert exc.snapshot is not None
        print(f"code-cot: {spec}: refused ({exc.reason}): {exc}", file=sys.stderr, flush=True)
        return exc.snapshot


def build_code_cot(pipeline: beam.Pipeline, config: RunConfig, ctx: RunContext) -> list[beam.PCollection]:
    settings = code_settings(config)
    sandbox = settings.sandbox.verifier().sandbox  # refuses here, before any work, when nothing isolates
    if sandbox.name != "bwrap":
        ctx.notes.append(f"code-cot: code ran under the '{sandbox.name}' sandbox, not bubblewrap")
    # With workers on other machines, --repo-cache names their cache; the launcher clones into its own.
    cache = settings.worker_cache() if ctx.workers_share_disk else default_cache_dir()
    budget = Budget(config.max_snapshot_bytes, config.max_snapshot_files)
    snapshots = [_materialise(spec, cache, budget) for spec in config.repo]  # a bad spec or revision fails the command
    avoid = [p for p in (ctx.out_dir, cache, config.repo_cache, default_cache_dir()) if p and fs.is_local(p)]
    for i, snapshot in enumerate(snapshots):
        if snapshot.commit is None and snapshot.refused is None:
            snapshots[i], files, python = walk_plain(snapshot, avoid)
            skipped = f"; skipped inside it: {', '.join(snapshots[i].skip)}" if snapshots[i].skip else ""
            print(f"code-cot: {snapshot.root} is a plain folder, not a git repository: {files} file{'s' * (files != 1)}, "
                  f"{python} Python (vendored and ignored ones left out){skipped}", file=sys.stderr, flush=True)
    if not ctx.workers_share_disk:  # the workers fetch each snapshot's tar from the output's staging folder
        snapshots = [s if s.refused else stage_snapshot(s, ctx.staging_dir) for s in snapshots]
    files = pipeline | "Read" >> ReadRepositoryFiles(snapshots, max_file_bytes=config.max_file_bytes,
                                                     cache_dir=config.repo_cache)
    extracted = files | "Extract" >> ExtractFunctions(cache_dir=config.repo_cache)
    functions = extracted["functions"]
    if config.limit is not None:
        functions = functions | "Select" >> SelectFirst("select", config.limit, function_order, count_read=True)
    screen = functions | "Screen" >> screen_for(config, ctx, near=False)
    checked = screen["kept"] | "OriginalTests" >> beam.ParDo(
        OriginalTestsFn(settings), done=ctx.existing("sft")).with_outputs(DEAD, REPORT, main="passed")
    _ = checked[REPORT] | "ReportOriginal" >> WriteReports(ctx.out_dir, "original_tests", ctx.run_id)
    written = checked.passed | "CodeCoT" >> beam.ParDo(CodeCoTFn(ctx.backend, settings)).with_outputs(DEAD, main="rows")
    tagged = written.rows | "Tag" >> TagSFTRows(tagging_settings(config), ctx.backend)
    _ = tagged["rows"] | "WriteSFT" >> WriteShards(ctx.out_dir, "sft", ctx.run_id, config.rows_per_shard, ctx.split)
    return [extracted[DEAD], screen[DEAD], checked[DEAD], written[DEAD], tagged[DEAD]]


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--repo", nargs="+", action="extend",
                        help="PATH_OR_GIT_URL[@REV]: a directory, a local git repo (at REV, default HEAD) or a URL to clone")
    parser.add_argument("--repo-cache", dest="repo_cache",
                        help="where clones and snapshots go (default ~/.cache/reverse-o1/repos); on a runner whose "
                             "workers have their own disk, the workers' cache (the launcher clones into its default)")
    parser.add_argument("--max-file-bytes", dest="max_file_bytes", type=int,
                        help="skip larger source files (default 1000000, at most 16 MiB)")
    parser.add_argument("--max-snapshot-bytes", dest="max_snapshot_bytes", type=int,
                        help="bytes of files one repository snapshot may unpack; a larger one is filtered "
                             "snapshot_too_large (default 512 MiB)")
    parser.add_argument("--max-snapshot-files", dest="max_snapshot_files", type=int,
                        help="files, folders and links one snapshot may unpack (default 100000)")
    parser.add_argument("--cot-samples", dest="cot_samples", type=int,
                        help="candidate CoTs per function; the first without hindsight is kept (default 2)")
    options.truncation_options(parser)
    options.sandbox_options(parser)
    options.sft_options(parser)
    options.common(parser)


def cannot_run() -> tuple[type[Exception], ...]:
    from pipelines.sources.code.repos import RepoError
    from verifiers.sandbox import SandboxUnavailable

    return (RepoError, SandboxUnavailable)


COMMAND = PipelineCommand(
    name="code-cot",
    help="code CoT reverse-generated from functions of git repositories -> SFT rows",
    add_arguments=add_arguments,
    build=build_code_cot,
    required=(Requirement(lambda c: bool(c.repo), "code-cot needs --repo PATH_OR_GIT_URL[@REV] (or repo: in --config)"),),
    check=options.check_retry_tokens,
    cannot_run=cannot_run,
)
