"""``reverse-o1 tag``: segment and tag existing CoT text (JSONL or Parquet) into SFT rows.

read (files → records) → parse (``--column`` → problem, steps, answer) → dedupe (one row per id)
→ tag_steps (``TagSFTRows``) → Parquet shards under ``DIR/sft``.

The column may hold free text (segmented into steps; a GSM8K ``#### N`` line becomes the
answer), a rendering that starts with ``<Think_Start>`` (parsed, its factors kept), a list of
step strings, a list of ``{text, factor}`` steps (factors kept) or chat ``messages`` (the last
assistant turn). The problem comes from the first of ``problem``, ``question``, ``prompt``,
``instruction``, ``query``, ``input``, then Lean statements (``informal_prefix``, ...) or a user
message; the answer from ``answer``, ``final_answer``, ``gold_answer`` or ``target``, else from
the text itself (a ``#### N`` line, else what ``verifiers.math_answer.extract_answer`` finds in
the last step: the last ``\\boxed{}``/``\\fbox{}``, an "answer is X"), else empty.
"""

from __future__ import annotations

import argparse
from typing import Any

import apache_beam as beam

from generators.prompts import template
from generators.tagging import segment, split_answer
from generators.tagging.llm import TEMPLATE
from pipelines import options
from pipelines.command import PipelineCommand, Requirement
from pipelines.config import RunConfig
from pipelines.io.read import DEAD, RawRecord, ReadRecords
from pipelines.io.shards import WriteShards
from pipelines.io.unique import KeepFirst
from pipelines.runner import RunContext
from pipelines.screen import screen_for
from pipelines.settings import tagging_settings
from pipelines.stage.kernel import RESUMED, Filtered, Rejected, Stage
from pipelines.tag_sft_rows import TagSFTRows
from schemas.factors import FactorVocabulary
from schemas.ids import content_id
from schemas.provenance import source_uri
from schemas.records import SOURCE_FIELDS, GeneratorInfo, SFTRow, Source, Step
from schemas.tags import TagError, looks_tagged, parse_think
from verifiers.math_answer import extract_answer

PROBLEM_COLUMNS = ("problem", "question", "prompt", "instruction", "query", "input", "informal_prefix", "informal_statement",
                   "statement", "formal_statement")
ANSWER_COLUMNS = ("answer", "final_answer", "gold_answer", "target")
NAME_COLUMNS = ("id", "name", "task_id", "full_name")


class TagInputError(ValueError):
    """A record the tag command cannot use; ``filtered`` ones (no text) are counted, not dead-lettered."""

    def __init__(self, reason: str, message: str, filtered: bool = False):
        super().__init__(message)
        self.reason = reason
        self.filtered = filtered


def _text_of(value: Any) -> str:
    return value.strip() if isinstance(value, str) else ""


def _problem_text(value: Any) -> str:
    """A problem column's text, without the ``/-- ... -/`` of a Lean doc comment (miniF2F's ``informal_prefix``)."""
    text = _text_of(value)
    if text.startswith("/-") and text.endswith("-/"):
        text = text.lstrip("/-!").removesuffix("-/").strip()
    return text


def _messages(value: Any) -> list[dict[str, Any]] | None:
    if isinstance(value, list) and value and all(isinstance(m, dict) and "role" in m and "content" in m for m in value):
        return value
    return None


def _turn(messages: list[dict[str, Any]] | None, role: str, last: bool = False) -> str:
    turns = [_text_of(m["content"]) for m in messages or [] if m.get("role") == role]
    return (turns[-1] if last else turns[0]) if turns else ""


def steps_of(value: Any, vocabulary: FactorVocabulary) -> tuple[list[Step], str | None, list[dict[str, Any]] | None]:
    """The column's value → (steps, the answer it carries or None, the chat messages it was)."""
    messages = _messages(value)
    if messages is not None:
        value = _turn(messages, "assistant", last=True)
    if value is None:
        raise TagInputError("empty_text", "the text column is null", filtered=True)
    if isinstance(value, str):
        if not value.strip():
            raise TagInputError("empty_text", "the text is empty", filtered=True)
        if looks_tagged(value):
            try:
                steps, answer = parse_think(value, vocabulary, strict=False)
            except TagError as exc:
                raise TagInputError("bad_tags", f"the text opens with <Think_Start> but its tags are malformed: {exc}") from None
            return steps, answer, messages
        body, answer = split_answer(value)
        return [Step(s) for s in segment(body)], answer, messages
    if isinstance(value, list):
        steps = []
        for i, item in enumerate(value):
            if isinstance(item, str):
                steps.append(Step(item))
            elif isinstance(item, dict) and isinstance(item.get("text"), str) and isinstance(item.get("factor"), str | None):
                steps.append(Step(item["text"], item.get("factor")))
            else:
                raise TagInputError("wrong_type", f"step {i}: expected a string or {{text, factor}}, got {type(item).__name__}")
        return [s for s in steps if s.text.strip()], None, messages
    raise TagInputError("wrong_type", f"the text column holds {type(value).__name__}, expected a string, a list of steps "
                                      "or chat messages")


class ParseFn(Stage):
    """A record → ``(id, (order, SFTRow))``; already written ids are counted as resumed."""

    def __init__(self, column: str, seed: int, vocabulary: FactorVocabulary, tagger_label: list[Any],
                 stage: str = "parse"):
        super().__init__(stage)
        self.column = column
        self.seed = seed
        self.vocabulary = vocabulary
        self.tagger_label = tagger_label
        self.generator = GeneratorInfo(tagger_label[0], tagger_label[1], 0.0, seed, tagger_label[2])

    def run(self, record: RawRecord, done: frozenset[str] = frozenset()) -> Any:
        try:
            row = self.to_row(record)
        except TagInputError as err:
            return Filtered(err.reason) if err.filtered else Rejected(err.reason, str(err), record.value)
        if row.id in done:
            return RESUMED
        return row.id, (record.order, row)

    def to_row(self, record: RawRecord) -> SFTRow:
        value = record.value
        if not isinstance(value, dict):
            raise TagInputError("not_an_object", f"expected an object with a {self.column!r} field, got {type(value).__name__}")
        if self.column not in value:
            names = ", ".join(map(str, list(value)[:20])) or "none"
            raise TagInputError("missing_column", f"no column {self.column!r} (columns: {names})")
        steps, answer, messages = steps_of(value[self.column], self.vocabulary)
        if not steps:
            raise TagInputError("no_steps", "the text holds no step (only an answer line?)", filtered=True)
        problem = next((_problem_text(value.get(c)) for c in PROBLEM_COLUMNS if c != self.column and _problem_text(value.get(c))),
                       "")
        problem = problem or _turn(_messages(value.get("prompt")) or messages, "user")
        if not problem:
            raise TagInputError("no_problem", f"no problem text: none of {', '.join(PROBLEM_COLUMNS)} holds a string, "
                                              "nor a user message")
        given = next((value[c] for c in ANSWER_COLUMNS if c != self.column and isinstance(value.get(c), (str, int, float))), None)
        answer = str(given).strip() if given is not None else (answer or extract_answer(steps[-1].text) or "")
        if not answer:
            self.stat("no_answer")
        kind = self._kind(value, steps)
        source = self._source(value, record)
        content = [problem, [[s.text, s.factor] for s in steps], answer]
        row_id = content_id("sft", "tag", kind, source.symbol, content, self.tagger_label, self.vocabulary.fingerprint)
        generator = self.generator
        if isinstance(value.get("generator"), dict) and all(k in value["generator"] for k in GeneratorInfo.__dataclass_fields__):
            generator = GeneratorInfo(**{k: value["generator"][k] for k in GeneratorInfo.__dataclass_fields__})
        verified = value.get("verified") if isinstance(value.get("verified"), bool) else False
        return SFTRow(
            id=row_id, source_kind=kind, source=source, problem=problem, steps=steps, answer=answer, messages=[],
            verified=verified,
            verifier=value["verifier"] if isinstance(value.get("verifier"), str) else "none",
            verifier_detail=value["verifier_detail"] if isinstance(value.get("verifier_detail"), str)
            else "tagged by reverse-o1 tag; not verified",
            generator=generator,
        )

    @staticmethod
    def _kind(value: dict[str, Any], steps: list[Step]) -> str:
        if value.get("source_kind") in ("code", "lean", "seed"):
            return value["source_kind"]
        if "formal_proof" in value or "formal_statement" in value or "traced_tactics" in value:
            return "lean"
        return "code" if any("```" in s.text for s in steps) else "seed"

    @staticmethod
    def _source(value: dict[str, Any], record: RawRecord) -> Source:
        given = value.get("source") if isinstance(value.get("source"), dict) else {}
        fields = {k: given.get(k) if isinstance(given.get(k), str) else None for k in SOURCE_FIELDS}
        name = next((str(value[c]) for c in NAME_COLUMNS if isinstance(value.get(c), (str, int))), None)
        fields["uri"] = source_uri(fields["uri"] or record.path)
        fields["path"] = fields["path"] or record.ref
        fields["symbol"] = fields["symbol"] or name
        fields["license"] = (fields["license"] or (value["license"] if isinstance(value.get("license"), str) else None)
                             or record.license)
        return Source(**fields)


def tagger_label(config: RunConfig, tagging: TagSFTRows) -> list[Any]:
    """[backend, model, prompt version, tier]: the first three are what the tag command's rows record as generator."""
    if config.tagger == "rules":
        return ["rules", "rule-tagger", f"tag_rules/{tagging.vocabulary.version}", "rules"]
    return [config.backend, config.model_label(), template(TEMPLATE).id, config.tagger]


def build_tag(pipeline: beam.Pipeline, config: RunConfig, ctx: RunContext) -> list[beam.PCollection]:
    tagging = TagSFTRows(tagging_settings(config), ctx.backend)  # loads --factors now: a bad file stops the command here
    label = tagger_label(config, tagging)
    read = pipeline | "Read" >> ReadRecords(config.input, "read", config.max_record_bytes, config.limit)
    parsed = read["records"] | "Parse" >> beam.ParDo(
        ParseFn(config.column, config.seed, tagging.vocabulary, label), done=ctx.existing("sft")
    ).with_outputs(DEAD, main="rows")
    unique = parsed.rows | "Dedupe" >> KeepFirst("dedupe")
    screen = unique["kept"] | "Screen" >> screen_for(config, ctx)
    tagged = screen["kept"] | "Tag" >> tagging
    _ = tagged["rows"] | "WriteSFT" >> WriteShards(ctx.out_dir, "sft", ctx.run_id, config.rows_per_shard, ctx.split)
    return [read[DEAD], parsed[DEAD], unique[DEAD], screen[DEAD], tagged[DEAD]]


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--input", nargs="+", action="extend", help="JSONL or Parquet files or dirs")
    parser.add_argument("--column", help="the column holding the CoT text")
    options.sft_options(parser)
    options.common(parser)


COMMAND = PipelineCommand(
    name="tag",
    help="segment and tag existing CoT text (JSONL or Parquet) -> SFT rows",
    add_arguments=add_arguments,
    build=build_tag,
    required=(Requirement(lambda c: bool(c.input), "tag needs --input FILE (or input: in --config)"),
              Requirement(lambda c: bool(c.column), "tag needs --column NAME, the column holding the CoT text")),
    uses_llm=lambda c: c.tagger != "rules",  # the rule tagger alone: no LLM made these rows
    model_name=lambda c: "rule-tagger" if c.tagger == "rules" else None,
)
