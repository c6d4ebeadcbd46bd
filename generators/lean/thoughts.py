"""Per-tactic thoughts, Lean-STaR style: the reasoning that leads from a goal to its next tactic.

Each tactic gets a prompt (``lean_tactic_thought``) with the statement, the goal state before it
and the ground-truth tactic, and ``samples`` completions; the first complete sample that passes
the leak filter (``generators.lean.leaks``) is kept, and every rejected one is counted by reason.
All prompts of one theorem are one yield of its program (``generators.engine``). A sample cut at
the token cap that passes the filter is counted ``truncated_cot`` (``generators.code.truncation``):
the tactics left without a thought because of one are asked once more, in one more yield, with
the retry cap where one is set, and a cut thought is kept (its index in ``truncated``) only under
``keep``.

Which tactics get no thought, as LeanDojo does it: LeanDojo's benchmark export keeps a traced
tactic only ``if t.state_before != "no goals" and "·" not in t.tactic  # Ignore "·".``
(``lean-dojo/LeanDojo``, ``scripts/generate-benchmark-lean4.ipynb``, in ``export_data``; the
same filter recurs in LeanAgent's and other LeanDojo-based exporters). A ``no goals`` step has
nothing to reason about, and a ``·`` step is a focusing bullet whose inner tactics are traced
as steps of their own. So for inputs with goal states (``leandojo``, ``traced_repo``) such
tactics keep their place in the proof but get no thought (``skipped`` = ``no_goals`` /
``focus_dot``). A whole proof (miniF2F shape) has no states and no separately traced inner
tactics, so its ``·`` lines do get a thought; its "state" in the prompt is the formal statement
followed by the tactics so far (the goal is implied by them; no Lean is run to print it).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field, replace

from generators.backends.base import Completion, GenerationParams, GenRequest, LLMBackend
from generators.code.truncation import TRUNCATED, TruncationPolicy, is_cut
from generators.engine.program import Program, drive
from generators.lean.leaks import leak_reason
from generators.prompts import template
from schemas.ids import sampling_seed
from schemas.lean import LeanTheorem

TEMPLATE = "lean_tactic_thought"


@dataclass(frozen=True)
class ThoughtSettings:
    samples: int = 2
    temperature: float = 0.7
    max_new_tokens: int = 96
    seed: int = 0


@dataclass
class ThoughtResult:
    """One entry per tactic in ``thoughts`` and ``skipped``; a None thought was skipped or all leaked
    (or cut). ``truncated``: the tactics whose kept thought was cut at the cap (under ``keep``);
    ``retried``: the tactics asked again with the retry cap."""

    thoughts: list[str | None]
    skipped: list[str | None]
    rejected: dict[str, int] = field(default_factory=dict)  # leak category (text before ":") or truncated_cot -> count
    generated_tokens: int = 0
    backend_calls: int = 0
    truncated: list[int] = field(default_factory=list)
    retried: int = 0


def statement_of(theorem: LeanTheorem) -> str:
    return (theorem.formal_statement or "").strip() or theorem.full_name


def skip_reason(theorem: LeanTheorem, index: int) -> str | None:
    """LeanDojo's benchmark filter, applied where the input has traced states (module doc)."""
    if theorem.shape == "whole_proof":
        return None
    tactic = theorem.tactics[index]
    if (tactic.state_before or "").strip() == "no goals":
        return "no_goals"
    if "·" in tactic.tactic:
        return "focus_dot"
    return None


def state_of(theorem: LeanTheorem, index: int) -> str:
    """The goal before tactic ``index``; without traced states, the statement and the tactics so far."""
    state = theorem.tactics[index].state_before
    if state is not None:
        return state
    done = "\n".join("  " + t.tactic for t in theorem.tactics[:index])
    return f"{statement_of(theorem)}\n{done}" if done else statement_of(theorem)


class TacticThoughtWriter:
    """Writes one thought per tactic of a theorem with an LLM backend."""

    def __init__(self, backend: LLMBackend, settings: ThoughtSettings | None = None,
                 truncation: TruncationPolicy | None = None):
        self.backend = backend
        self.settings = settings or ThoughtSettings()
        self.truncation = truncation or TruncationPolicy()
        self.prompt = template(TEMPLATE)

    @property
    def prompt_version(self) -> str:
        return self.prompt.id

    def request(self, theorem: LeanTheorem, index: int) -> GenRequest:
        s = self.settings
        messages = self.prompt.messages(statement=statement_of(theorem), state_before=state_of(theorem, index),
                                        tactic=theorem.tactics[index].tactic)
        seed = sampling_seed(s.seed, theorem.url, theorem.full_name, index)
        params = GenerationParams(n=s.samples, temperature=s.temperature, max_new_tokens=s.max_new_tokens, seed=seed)
        return GenRequest.chat(messages, params, key=index)

    def write(self, theorem: LeanTheorem) -> ThoughtResult:
        """The thoughts of ``theorem``, asked of this writer's backend (``program``, run alone)."""
        return drive(self.program(theorem), self.backend)

    def program(self, theorem: LeanTheorem) -> Program[ThoughtResult]:
        """The thoughts of ``theorem`` as a program: one yield of all its tactics' requests (and one
        more of those whose usable samples were all cut, where a retry cap is set)."""
        count = len(theorem.tactics)
        skipped = [skip_reason(theorem, i) for i in range(count)]
        result = ThoughtResult(thoughts=[None] * count, skipped=skipped)
        requests = [self.request(theorem, i) for i in range(count) if skipped[i] is None]
        if not requests:
            return result
        completions: list[list[Completion]] = yield requests
        result.backend_calls = 1
        rejected: Counter[str] = Counter()
        cut = self._choose(theorem, requests, completions, result, rejected)
        retries = [r for r in requests if r.key in cut]
        again = [replace(r, params=p) for r in retries if (p := self.truncation.retry(r.params)) is not None]
        if again:
            result.backend_calls += 1
            result.retried = len(again)
            for index, text in self._choose(theorem, again, (yield again), result, rejected).items():
                cut[index] = text or cut.get(index, "")  # the retry's cut thought is the longer one
        if self.truncation.keep:
            for index in sorted(k for k in cut if result.thoughts[k] is None and cut[k]):
                result.thoughts[index] = cut[index]
                result.truncated.append(index)
        result.rejected = dict(sorted(rejected.items()))
        return result

    @staticmethod
    def _choose(theorem: LeanTheorem, requests: Sequence[GenRequest], completions: Sequence[Sequence[Completion]],
                result: ThoughtResult, rejected: Counter[str]) -> dict[int, str]:
        """Keep the first complete, non-leaking sample of each request in ``result``, counting the
        rejected ones; per tactic left without a thought and with a sample cut at the cap, the first cut
        sample that passed the filter ("" when the cut ones were empty)."""
        cut: dict[int, str] = {}
        for request, samples in zip(requests, completions, strict=True):
            tactic = theorem.tactics[request.key]
            result.generated_tokens += sum(c.tokens for c in samples)
            for sample in samples:
                reason = leak_reason(sample.text, tactic)
                if is_cut(sample) and reason in (None, "empty"):  # a leak is a leak, cut or not
                    cut[request.key] = cut.get(request.key) or (sample.text.strip() if reason is None else "")
                    reason = TRUNCATED
                if reason is None:
                    result.thoughts[request.key] = sample.text.strip()
                    cut.pop(request.key, None)
                    break
                rejected[reason.split(":", 1)[0]] += 1
        return cut
