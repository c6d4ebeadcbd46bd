"""Whole-proof CoT (DeepSeek-Prover-V1.5 style): an informal solution over the Lean proof.

The writer asks once (``lean_proof_cot``) for a concise informal solution from the statement
(informal when known, and formal), the tactics and their thoughts. The final answer is not the
model's to choose: it is read from the informal statement ("... Show that it is 21y+14.").
``lean_proof_text`` rebuilds the proof that goes after the thoughts in an SFT row, and
``tactics_in_order`` is the check that can run without Lean: that text holds exactly the input
tactics, in order, and nothing else but comments. A solution cut at the token cap is asked once
more with the retry cap where one is set; one still cut says so (``truncated``), for the stage to
filter (``truncated_cot``) or keep marked.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from generators.backends.base import GenerationParams, GenRequest, LLMBackend
from generators.code.truncation import TruncationPolicy, is_cut
from generators.engine.program import Program, drive
from generators.lean.leaks import normalise
from generators.lean.thoughts import ThoughtResult, ThoughtSettings, statement_of
from generators.prompts import template
from schemas.ids import sampling_seed
from schemas.lean import LeanTheorem

TEMPLATE = "lean_proof_cot"
_SHOW = re.compile(r"(?:show|prove)\s+that\s+(?:it|the\s+answer|the\s+result)\s+is\s+(.+?)\s*\.?\s*\$?\s*$",
                   re.IGNORECASE | re.DOTALL)
#: "Show that it is X" where X is a property, not a value: no final answer.
_NOT_VALUE = re.compile(r"^(?:not|a|an|the|divisible|prime|even|odd|true|false|positive|negative|nonnegative|"
                        r"irrational|rational|an?\s+integer|impossible|possible|always|never|equal)\b", re.IGNORECASE)
_COMMENT = re.compile(r"/-.*?-/|--[^\n]*", re.DOTALL)


def final_answer_of(informal_statement: str | None) -> str | None:
    """The value a "Show that it is X" statement asks for (``$`` and a final period dropped)."""
    if not informal_statement:
        return None
    match = _SHOW.search(informal_statement.strip())
    if not match:
        return None
    answer = match.group(1).strip().strip("$").strip().rstrip(".").strip()
    if not answer or len(answer) > 200 or _NOT_VALUE.match(answer):
        return None
    return answer


def statement_header(theorem: LeanTheorem) -> str | None:
    """The formal statement ending in ``:= by``, or None when the input has no statement."""
    statement = (theorem.formal_statement or "").rstrip()
    if not statement:
        return None
    if re.search(r":=\s*by$", statement):
        return statement
    return statement + (" by" if statement.endswith(":=") else " := by")


def lean_proof_text(theorem: LeanTheorem) -> str:
    """The statement (when known) and the tactics, indented two spaces; else the tactics alone."""
    header = statement_header(theorem)
    if header is None:
        return "\n".join(t.tactic for t in theorem.tactics)
    body = "\n".join("\n".join("  " + line for line in t.tactic.splitlines()) for t in theorem.tactics)
    return f"{header}\n{body}"


def tactics_in_order(text: str, theorem: LeanTheorem) -> bool:
    """True when ``text`` (a Lean proof, comments allowed) is the statement, if given, then exactly
    the theorem's tactics in order, compared with whitespace normalised."""
    rest = normalise(_COMMENT.sub(" ", text))
    header = statement_header(theorem)
    if header is not None and rest.startswith(normalise(header)):
        rest = rest[len(normalise(header)):].lstrip()
    for tactic in theorem.tactics:
        tac = normalise(tactic.tactic)
        if not rest.startswith(tac) or (len(rest) > len(tac) and rest[len(tac)] != " "):
            return False
        rest = rest[len(tac):].lstrip()
    return rest == ""


@dataclass(frozen=True)
class ProofCoT:
    """The informal solution, the final answer the statement asks for, what it cost; ``truncated``:
    the solution stopped at the token cap (after the retry, where one was made)."""

    informal_solution: str
    final_answer: str | None
    generated_tokens: int
    truncated: bool = False
    retried: bool = False


def steps_text(theorem: LeanTheorem, thoughts: ThoughtResult | None) -> str:
    lines = []
    for i, tactic in enumerate(theorem.tactics):
        thought = thoughts.thoughts[i] if thoughts is not None and i < len(thoughts.thoughts) else None
        lines.append(f"{i + 1}. {normalise(tactic.tactic)}" + (f"\n   Thought: {thought}" if thought else ""))
    return "\n".join(lines)


class ProofCoTWriter:
    """Writes the informal solution of one theorem in one backend request."""

    def __init__(self, backend: LLMBackend, settings: ThoughtSettings | None = None,
                 truncation: TruncationPolicy | None = None):
        self.backend = backend
        self.settings = settings or ThoughtSettings(max_new_tokens=384)
        self.truncation = truncation or TruncationPolicy()
        self.prompt = template(TEMPLATE)

    @property
    def prompt_version(self) -> str:
        return self.prompt.id

    def write(self, theorem: LeanTheorem, thoughts: ThoughtResult | None = None) -> ProofCoT:
        """The informal solution of ``theorem``, asked of this writer's backend (``program``, run alone)."""
        return drive(self.program(theorem, thoughts), self.backend)

    def program(self, theorem: LeanTheorem, thoughts: ThoughtResult | None = None) -> Program[ProofCoT]:
        """The informal solution as a program: one yield of one request (one more when it was cut and a
        retry cap is set)."""
        s = self.settings
        messages = self.prompt.messages(
            informal_statement=(theorem.informal_statement or "").strip() or "(only the Lean statement is given)",
            formal_statement=statement_of(theorem), steps=steps_text(theorem, thoughts))
        seed = sampling_seed(s.seed, theorem.url, theorem.full_name, "proof_cot")
        params = GenerationParams(n=1, temperature=s.temperature, max_new_tokens=s.max_new_tokens, seed=seed)
        completion = (yield [GenRequest.chat(messages, params, key=theorem.full_name)])[0][0]
        tokens, retry = completion.tokens, self.truncation.retry(params) if is_cut(completion) else None
        if retry is not None:
            completion = (yield [GenRequest.chat(messages, retry, key=theorem.full_name)])[0][0]
            tokens += completion.tokens
        return ProofCoT(completion.text.strip(), final_answer_of(theorem.informal_statement), tokens,
                        truncated=is_cut(completion), retried=retry is not None)
