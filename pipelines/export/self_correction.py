"""``reverse-o1 export self-correction DIR``: rows that find their own mistake and fix it, from ``expand``'s trees.

For each located wrong step of a search tree with a correct continuation from the last good
prefix (``self_correction_trees``: a node none of whose evaluations reached the gold answer, a
sibling whose did), a row is the prefix + the wrong step + one ``SelfCorrect`` step written by the
model (prompt ``self_correct``, versioned; one short sentence noticing the mistake) + the
continuation. A row is written only when

- the continuation's final answer passes math-verify against the gold (else ``unverified``);
- the model's step is one short paragraph that states no final answer and holds no tags, and was
  not cut at the token cap (else ``bad_correction``);
- the row has exactly one ``SelfCorrect`` step (else ``second_self_correct``) and its rendering in
  the tag format parses back to the same steps and answer (else ``round_trip_failed``).

At most ``--max-per-problem`` rows per problem, shallowest wrong step first; a candidate that fails
is replaced by the problem's next one in a further round (one backend call per round, every
problem's requests together). Written to ``DIR/self_correction/SPLIT.parquet`` (the split of the
tree), SFT-like: ``messages`` in TRL's conversational format, with where the wrong step and the fix
came from. Rows left out are counted by reason (stderr, ``exports.self_correction.left_out``).
"""

from __future__ import annotations

import collections
import dataclasses
import sys
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import pyarrow as pa

from common.errors import ConfigError
from generators.backends.base import BackendError, Completion, GenerationParams, GenRequest, PromptTooLong
from generators.backends.handle import BackendHandle
from generators.engine.program import Program, drive
from generators.prompts.library import PromptTemplate, template
from generators.tagging import RuleTagger, tagged
from pipelines.config import RunConfig
from pipelines.export import files as exports
from pipelines.export.self_correction_trees import TREE_COLUMNS, Site, Tree, sites, trees_from_rows, wrong_steps
from pipelines.io import fs
from pipelines.settings import backend_config
from pipelines.tag_sft_rows import tagged_messages
from schemas.arrow import GENERATOR_TYPE, MESSAGE_TYPE, SOURCE_TYPE, STEP_TYPE
from schemas.factors import FactorVocabulary, load_factors
from schemas.ids import content_id, sampling_seed
from schemas.records import GeneratorInfo, Step
from schemas.splits import SPLITS
from schemas.tags import TagError, find_tag_like, parse_think, render_think
from verifiers.math_answer import MathVerifier, extract_answer

NAME = "self_correction"
SELF_CORRECT = "SelfCorrect"
TEMPLATE = "self_correct"
MAX_CORRECTION_CHARS = 400  # "one short sentence": a longer reply is not the step asked for
CORRECTION_TOKENS = 96
ROUNDS = 4  # backend calls at most: the first asks for every problem's rows, the others replace failures
SCHEMA = pa.schema(
    [
        ("messages", pa.list_(MESSAGE_TYPE)),  # the user's problem; the tagged CoT, then the answer
        ("problem", pa.string()),
        ("steps", pa.list_(STEP_TYPE)),  # prefix, wrong step, the SelfCorrect step, the continuation
        ("answer", pa.string()),
        ("verified", pa.bool_()),  # always true: the answer passed math-verify against the gold
        ("wrong_step_index", pa.int64()),  # in ``steps``; the SelfCorrect step is the next one
        ("wrong_node_id", pa.string()),  # trees node ids (``DIR/trees``)
        ("fix_node_id", pa.string()),  # the wrong step's sibling the continuation starts with
        ("correction_source", pa.string()),  # "tree": located by the search tree
        ("id", pa.string()),
        ("tree_id", pa.string()),
        ("source_kind", pa.string()),
        ("source", SOURCE_TYPE),
        ("generator", GENERATOR_TYPE),  # the model that wrote the SelfCorrect step, and the prompt's version
    ]
)
DESCRIPTION = ("Self-correction rows (TRL conversational, as SFT): `messages` whose hidden CoT is a prefix, a wrong step "
               "located by the search tree, one `SelfCorrect` step written by the model, then a continuation verified "
               "by math-verify; `wrong_step_index`, `wrong_node_id`, `fix_node_id` say where the mistake and the fix came "
               "from (`DIR/trees`), `generator` who wrote the correction with which prompt.")


@dataclass(frozen=True)
class Draft:
    """A site as a row-to-be: everything but the model's SelfCorrect step."""

    site: Site
    prefix: list[Step]
    wrong: Step
    continuation: list[Step]
    answer: str


def drafts(trees: list[Tree], verifier: MathVerifier, vocabulary: FactorVocabulary,
           left: collections.Counter[str]) -> dict[str, list[Draft]]:
    """Problem → its drafts, shallowest wrong step first; a continuation whose answer fails math-verify,
    or a tree step whose factor the row could not carry, is counted in ``left``."""
    out: dict[str, list[Draft]] = collections.defaultdict(list)
    for tree in trees:
        for site in sites(tree, left):
            prefix, continuation = site.prefix(), site.continuation()
            wrong = Step(site.wrong.text, site.wrong.factor)
            factors = {s.factor for s in [*prefix, wrong, *continuation] if s.factor is not None}
            if factors - set(vocabulary.names):
                left["unknown_factor"] += 1
                continue
            if SELF_CORRECT in factors:
                left["second_self_correct"] += 1
                continue
            answer = extract_answer("\n".join(s.text for s in continuation))
            if answer is None or not verifier.verify(tree.gold, answer).correct:
                left["unverified"] += 1
                continue
            out[tree.problem].append(Draft(site, prefix, wrong, continuation, answer))
    for items in out.values():
        items.sort(key=lambda d: (len(d.prefix), d.site.tree.id, d.site.wrong.order))
    return out


def correction_request(draft: Draft, prompt: PromptTemplate, temperature: float, max_new_tokens: int,
                       seed: int) -> GenRequest:
    problem = draft.site.tree.problem
    if draft.prefix:
        messages = prompt.messages("user", problem=problem, prefix="\n".join(s.text for s in draft.prefix),
                                   wrong=draft.wrong.text)
    else:
        messages = prompt.messages("user_no_prefix", problem=problem, wrong=draft.wrong.text)
    params = GenerationParams(n=1, temperature=temperature, max_new_tokens=max_new_tokens, stop=("\n\n",),
                              seed=sampling_seed(seed, TEMPLATE, draft.site.wrong.id))
    return GenRequest.chat(messages, params, key=draft.site.wrong.id)


def correction_text(completion: Completion) -> str | None:
    """The model's reply as the SelfCorrect step's text (whitespace runs made single spaces), or None when it
    is not one: empty, cut at the token cap, more than one short paragraph, a final answer, or tags."""
    text = completion.text.strip()
    if completion.finish_reason == "length" or not text or "\n\n" in text or len(text) > MAX_CORRECTION_CHARS:
        return None
    if find_tag_like(text) is not None or extract_answer(text) is not None:
        return None
    return " ".join(text.split())


def finished_row(draft: Draft, text: str, tagger: RuleTagger, vocabulary: FactorVocabulary,
                 generator: dict[str, Any]) -> tuple[dict[str, Any] | None, str]:
    """The row of a draft and its SelfCorrect step (untagged steps tagged by the rules), or None and why not."""
    site = draft.site
    steps = [*draft.prefix, draft.wrong, Step(text, SELF_CORRECT), *draft.continuation]
    steps = tagged(steps, tagger.tag(steps, site.tree.problem))
    if sum(s.factor == SELF_CORRECT for s in steps) != 1:
        return None, "second_self_correct"
    try:
        content = render_think(steps, draft.answer)
        if parse_think(content, vocabulary) != (steps, draft.answer):
            return None, "round_trip_failed"
    except TagError:
        return None, "round_trip_failed"
    index = len(draft.prefix)
    return {
        "messages": tagged_messages(site.tree.problem, content), "problem": site.tree.problem,
        "steps": [{"text": s.text, "factor": s.factor} for s in steps], "answer": draft.answer, "verified": True,
        "wrong_step_index": index, "wrong_node_id": site.wrong.id, "fix_node_id": site.fix.id, "correction_source": "tree",
        "id": content_id(NAME, site.tree.id, site.wrong.id, site.fix.id, site.end.id, text),
        "tree_id": site.tree.id, "source_kind": site.tree.source_kind, "source": site.tree.source, "generator": generator,
    }, ""


def correction_program(problems: dict[str, list[Draft]], max_per_problem: int, request: Callable[[Draft], GenRequest],
                       fits: Callable[[GenRequest], bool], finish: Callable[[Draft, str], tuple[dict[str, Any] | None, str]],
                       left: collections.Counter[str]) -> Program[list[tuple[str, dict[str, Any]]]]:
    """Rounds of one backend call each: every problem still short of ``max_per_problem`` rows asks for its
    next drafts' SelfCorrect steps; ``(split, row)`` of every row that passed its checks."""
    queues = {p: collections.deque(d) for p, d in problems.items()}
    need = dict.fromkeys(problems, max_per_problem)
    rows: list[tuple[str, dict[str, Any]]] = []
    for _ in range(ROUNDS):
        batch = [queues[p].popleft() for p in sorted(queues) for _ in range(min(need[p], len(queues[p])))]
        if not batch:
            break
        asked: list[tuple[Draft, GenRequest]] = []
        for draft in batch:
            req = request(draft)
            if fits(req):
                asked.append((draft, req))
            else:
                left["prompt_too_long"] += 1
        try:
            completions = yield [req for _, req in asked]
        except BackendError as exc:
            left["backend_error"] += len(asked) + sum(len(q) for q in queues.values())
            print(f"export self-correction: the backend failed ({type(exc).__name__}: {exc})".splitlines()[0], file=sys.stderr)
            return rows
        for (draft, _), outs in zip(asked, completions, strict=True):
            text = correction_text(outs[0]) if outs else None
            row, reason = finish(draft, text) if text is not None else (None, "bad_correction")
            if row is None:
                left[reason] += 1
                continue
            rows.append((draft.site.tree.split, row))
            need[draft.site.tree.problem] -= 1
    for problem, queue in queues.items():
        if queue:
            left["over_max_per_problem" if need[problem] <= 0 else "rounds_exhausted"] += len(queue)
    return rows


def _fits(backend: Any) -> Callable[[GenRequest], bool]:
    def fits(request: GenRequest) -> bool:
        try:
            backend.check_prompt(request)
        except PromptTooLong:
            return False
        return True
    return fits


def export_self_correction(out_dir: str, config: RunConfig, max_per_problem: int) -> int:
    """Write ``self_correction`` into DIR (``config``: the ``RunConfig`` of the model that writes) and add it to the card."""
    if max_per_problem < 1:
        raise ConfigError("--max-per-problem must be >= 1")
    vocabulary = load_factors(config.factors)
    if SELF_CORRECT not in vocabulary:
        raise ConfigError(f"the factor vocabulary ({vocabulary.source}) has no {SELF_CORRECT} factor")
    shards = exports.checked_shards(out_dir, "trees", TREE_COLUMNS,
                                    "run `reverse-o1 expand` into it first (without --no-trees)")
    left: collections.Counter[str] = collections.Counter()
    trees = trees_from_rows(exports.rows_with_split(shards, "trees", TREE_COLUMNS, optional=("checked",)), left)
    located = {t.problem for t in trees if wrong_steps(t)}
    with MathVerifier() as verifier:
        problems = drafts(trees, verifier, vocabulary, left)
    prompt = template(TEMPLATE)
    rows: list[tuple[str, dict[str, Any]]] = []
    model = None
    if problems:
        handle = BackendHandle(backend_config(config))
        try:
            backend = handle.get()
            model = backend.model_name
            generator = dataclasses.asdict(GeneratorInfo(config.backend, model, config.temperature, config.seed, prompt.id))
            tagger = RuleTagger(vocabulary)
            program = correction_program(
                problems, max_per_problem,
                lambda d: correction_request(d, prompt, config.temperature, min(config.max_new_tokens, CORRECTION_TOKENS),
                                             config.seed),
                _fits(backend), lambda d, text: finished_row(d, text, tagger, vocabulary, generator), left)
            rows = drive(program, backend)
        finally:
            handle.release()
    by_split: dict[str, list[dict[str, Any]]] = {s: [] for s in SPLITS}
    for split, row in rows:
        by_split[split].append(row)
    tables = {s: pa.Table.from_pylist(sorted(r, key=lambda x: x["id"]), schema=SCHEMA) for s, r in by_split.items()}
    settings = {"max_per_problem": max_per_problem, "prompt_version": prompt.id, "backend": config.backend, "model": model,
                "temperature": config.temperature, "seed": config.seed}
    export = exports.Export(NAME, tables, SCHEMA, DESCRIPTION, settings, dict(left))
    exports.publish(out_dir, export)
    counts = export.rows()
    yielded = len({row["problem"] for _, row in rows})
    detail = ", ".join(f"{reason} {n}" for reason, n in sorted(left.items()))
    print(f"export self-correction: {len(rows)} rows ({', '.join(f'{s} {counts[s]}' for s in SPLITS)}) from {yielded} of "
          f"{len(located)} problems with a located wrong step -> {fs.join(out_dir, NAME)}"
          + (f"; left out: {detail}" if left else ""), file=sys.stderr)
    return 1 if left["backend_error"] and not rows else 0
