"""``reverse-o1 lean-cot``: natural-language CoT reverse-generated from Lean proofs → SFT rows.

read (LeanDojo Benchmark JSON, whole-proof JSONL, a traced repo) → thoughts (one forward-voice
thought per tactic, Lean-STaR style, leaks of the tactic rejected) → proof CoT (an informal
solution, and the final answer when the statement asks for one) → verify (``lean_dojo`` replay
where a Lean toolchain exists; otherwise ``verified=false``, ``verifier="none"`` and the reason
in the manifest) → tag → ``DIR/sft``. The assistant turn is the tagged thoughts, then the proof.
A thought or solution cut at the token cap is never written as complete: retried once with
``--truncated-retry-tokens``, then filtered (``truncated_cot``: a cut solution, or no thought
at all because of cut ones) or, with ``--keep-truncated``, written with ``truncated`` true.
"""

from __future__ import annotations

import argparse
from dataclasses import dataclass, field
from typing import Any

import apache_beam as beam

from common.errors import ConfigError
from generators.backends.base import LLMBackend
from generators.backends.handle import BackendHandle
from generators.code.truncation import TRUNCATED, TruncationPolicy
from generators.engine.program import Program
from generators.lean.proof_cot import ProofCoT, ProofCoTWriter, lean_proof_text, tactics_in_order
from generators.lean.thoughts import TacticThoughtWriter, ThoughtResult, ThoughtSettings
from generators.prompts import template
from generators.tagging.segment import segment
from pipelines import options
from pipelines.command import PipelineCommand, Requirement
from pipelines.config import RunConfig
from pipelines.io.read import DEAD
from pipelines.io.shards import WriteShards
from pipelines.runner import RunContext
from pipelines.screen import screen_for
from pipelines.settings import ModelSettings, model_settings, tagging_settings
from pipelines.sources.lean.read import ReadLeanTheorems
from pipelines.stage.kernel import RESUMED, Filtered, Rejected
from pipelines.stage.program_stage import ProgramStage
from pipelines.tag_sft_rows import TagSFTRows
from schemas.ids import content_id
from schemas.lean import LeanTheorem
from schemas.records import GeneratorInfo, SFTRow, Source, Step
from verifiers.lean import LeanVerifier

PROMPT_VERSION = f"{template('lean_tactic_thought').id}+{template('lean_proof_cot').id}"


@dataclass(frozen=True)
class LeanSettings:
    model: ModelSettings
    thoughts: ThoughtSettings
    truncation: TruncationPolicy = field(default_factory=TruncationPolicy)  # not part of row ids


def lean_settings(config: RunConfig) -> LeanSettings:
    thoughts = ThoughtSettings(samples=config.thought_samples, temperature=config.temperature,
                               max_new_tokens=config.max_new_tokens, seed=config.seed)
    return LeanSettings(model_settings(config), thoughts, TruncationPolicy(config.keep_truncated,
                                                                           config.truncated_retry_tokens))


def problem_of(theorem: LeanTheorem) -> str:
    """The user turn: the informal statement where there is one, else the formal one, else the goal."""
    if theorem.informal_statement:
        return theorem.informal_statement.strip()
    if theorem.formal_statement:
        return f"Prove in Lean 4:\n{theorem.formal_statement.strip()}"
    goal = next((t.state_before for t in theorem.tactics if t.state_before), "")
    return f"Prove the theorem `{theorem.full_name}` in Lean 4. The goal:\n{goal}".strip()


class LeanCoTFn(ProgramStage):
    """LeanTheorem → SFT row: a thought per tactic, an informal solution, the proof as the answer; the
    thoughts and the solution are one program on the worker's engine (many theorems at once)."""

    failure = "generation_error"

    def __init__(self, handle: BackendHandle, settings: LeanSettings, stage: str = "lean_cot"):
        super().__init__(stage, handle)
        self.model = settings.model
        self.settings = settings.thoughts
        self.truncation = settings.truncation

    def setup(self) -> None:
        super().setup()
        self.verifier = LeanVerifier()

    def _row_id(self, theorem: LeanTheorem) -> str:
        content = [theorem.url, theorem.commit, theorem.file_path, theorem.full_name, [t.tactic for t in theorem.tactics]]
        return content_id("sft", "lean", content, self.settings, self.model.backend, self.model.model)

    def preview(self, theorem: LeanTheorem) -> str:
        return theorem.full_name

    def start(self, theorem: LeanTheorem, done: frozenset[str] = frozenset()) -> Any:
        if self._row_id(theorem) in done:
            return RESUMED
        return self._write(self.engine().backend, theorem)

    def _write(self, backend: LLMBackend, theorem: LeanTheorem) -> Program[tuple[ThoughtResult, ProofCoT | None]]:
        thoughts = yield from TacticThoughtWriter(backend, self.settings, self.truncation).program(theorem)
        if not any(thoughts.thoughts):
            return thoughts, None
        cot = yield from ProofCoTWriter(backend, self.settings, self.truncation).program(theorem, thoughts)
        return thoughts, cot

    def finish(self, theorem: LeanTheorem, written: tuple[ThoughtResult, ProofCoT | None]) -> Any:
        thoughts, cot = written
        if cot is None:
            self._stats(thoughts, 0)
            # no thought at all: because of cut ones where a cut sample would otherwise have been kept
            return Filtered(TRUNCATED if thoughts.rejected.get(TRUNCATED) else "no_usable_thought")
        if cot.retried:
            self.stat("retried:proof_cot")
        if cot.truncated and not self.truncation.keep:
            self._stats(thoughts, cot.generated_tokens)
            self.stat("truncated:proof_cot")
            return Filtered(TRUNCATED)
        proof = lean_proof_text(theorem)
        if not tactics_in_order(proof, theorem):  # the cheap check that runs everywhere
            return Rejected("tactics_changed", "the proof in the output does not hold the input tactics in order", proof)
        verdict = self.verifier.verify(theorem)
        steps = [Step(text) for text in segment(cot.informal_solution)]
        if cot.final_answer and f"answer is {cot.final_answer}" not in cot.informal_solution:
            # the statement names the value ("Show that it is 21y+14"): the solution must end on it
            steps.append(Step(f"The answer is {cot.final_answer}."))
            self.stat("final_answer_appended")
        steps += [Step(t.strip()) for t in thoughts.thoughts if t and t.strip()]
        generator = GeneratorInfo(self.model.backend, self.engine().backend.model_name, self.settings.temperature,
                                  self.settings.seed, PROMPT_VERSION)
        source = Source(uri=theorem.url, commit=theorem.commit, path=theorem.file_path, symbol=theorem.full_name,
                        license=theorem.license, dataset_license=theorem.dataset_license)
        self._stats(thoughts, cot.generated_tokens)
        truncated = cot.truncated or bool(thoughts.truncated)
        if cot.truncated:
            self.stat("truncated:proof_cot")
        if truncated:
            self.stat("truncated_kept")
        self.stat(f"verifier:{verdict.verifier}")
        self.stat("tactics", len(theorem.tactics))
        self.stat("final_answers", cot.final_answer is not None)
        return SFTRow(
            id=self._row_id(theorem), source_kind="lean", source=source, problem=problem_of(theorem), steps=steps,
            answer=proof, messages=[], verified=verdict.verified, verifier=verdict.verifier,
            verifier_detail=verdict.detail, generator=generator, truncated=truncated,
        )

    def _stats(self, thoughts: Any, proof_tokens: int) -> None:
        self.stat("generated_tokens", thoughts.generated_tokens + proof_tokens)
        self.stat("thoughts", sum(t is not None for t in thoughts.thoughts))
        self.stat("tactics_without_thought", sum(t is None and s is None
                                                           for t, s in zip(thoughts.thoughts, thoughts.skipped, strict=True)))
        for reason, count in thoughts.rejected.items():
            self.stat(f"rejected:{reason}", count)
        if thoughts.retried:
            self.stat("retried:thoughts", thoughts.retried)
        if thoughts.truncated:
            self.stat("truncated:thoughts", len(thoughts.truncated))
        for reason in thoughts.skipped:
            if reason:
                self.stat(f"skipped:{reason}")

def build_lean_cot(pipeline: beam.Pipeline, config: RunConfig, ctx: RunContext) -> list[beam.PCollection]:
    inputs = list(config.input)
    if config.lean_repo:
        from pipelines.sources.lean.traced import trace_repo

        inputs.append(str(trace_repo(config.lean_repo, ctx.out_dir)))  # raises LeanUnavailable here, before any work
    available, reason = LeanVerifier().available()
    if not available and config.only_verified:
        from pipelines.sources.lean.traced import LeanUnavailable

        raise LeanUnavailable(f"lean-cot --only-verified: nothing can be verified here ({reason}); leave out "
                              "--only-verified to keep the rows unverified")
    if not available:
        ctx.notes.append(f"lean-cot: rows are not verified (verified=false, verifier=none): {reason}")
    read = pipeline | "Read" >> ReadLeanTheorems(inputs, "read", config.max_record_bytes, config.limit)
    screen = read["theorems"] | "Screen" >> screen_for(config, ctx, near=False)
    written = screen["kept"] | "LeanCoT" >> beam.ParDo(
        LeanCoTFn(ctx.backend, lean_settings(config)), done=ctx.existing("sft")
    ).with_outputs(DEAD, main="rows")
    tagged = written.rows | "Tag" >> TagSFTRows(tagging_settings(config), ctx.backend)
    _ = tagged["rows"] | "WriteSFT" >> WriteShards(ctx.out_dir, "sft", ctx.run_id, config.rows_per_shard, ctx.split)
    return [read[DEAD], screen[DEAD], written[DEAD], tagged[DEAD]]


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--input", nargs="+", action="extend",
                        help="LeanDojo Benchmark JSON file or dir, miniF2F-style whole-proof JSONL, or a traced repo dir")
    parser.add_argument("--lean-repo", dest="lean_repo", help="URL@COMMIT to trace with lean_dojo (needs Lean and the network)")
    parser.add_argument("--thought-samples", dest="thought_samples", type=int,
                        help="candidate thoughts per tactic; the first that does not leak the tactic is kept (default 2)")
    options.truncation_options(parser, "thought or solution")
    options.sft_options(parser)
    options.common(parser)


def check_lean_repo(config: RunConfig) -> None:
    """A malformed ``--lean-repo``, or a retry cap not above ``--max-new-tokens``, is one line, before anything runs."""
    options.check_retry_tokens(config)
    if config.lean_repo:
        from pipelines.sources.lean.traced import parse_repo_spec

        try:
            parse_repo_spec(config.lean_repo)
        except ValueError as exc:
            raise ConfigError(str(exc)) from None


def lean_unavailable() -> tuple[type[Exception], ...]:
    from pipelines.sources.lean.traced import LeanUnavailable

    return (LeanUnavailable,)


COMMAND = PipelineCommand(
    name="lean-cot",
    help="math CoT from Lean proofs (LeanDojo JSON, whole-proof JSONL, a traced repo)",
    add_arguments=add_arguments,
    build=build_lean_cot,
    required=(Requirement(lambda c: bool(c.input or c.lean_repo),
                          "lean-cot needs --input FILE_OR_DIR or --lean-repo URL@COMMIT"),),
    check=check_lean_repo,
    cannot_run=lean_unavailable,
)
