"""Per-tactic thoughts, the whole-proof CoT, the proof text and the in-order tactic check; thoughts
and solutions cut at the token cap (the scripted backend with ``length_cap``)."""

from __future__ import annotations

import json
from collections.abc import Iterator, Sequence

import pytest

from generators.backends import BackendConfig, create_backend
from generators.backends.base import Completion, GenRequest, LLMBackend
from generators.code.truncation import TruncationPolicy
from generators.lean import (
    ProofCoTWriter,
    TacticThoughtWriter,
    ThoughtResult,
    ThoughtSettings,
    final_answer_of,
    lean_proof_text,
    tactics_in_order,
)
from schemas.lean import LeanTactic, LeanTheorem


class ListBackend(LLMBackend):
    """Replies with scripted samples per request, picked by a substring of the prompt; logs calls."""

    def __init__(self, samples: dict[str, list[str]], default: list[str] | None = None):
        self.samples = samples
        self.default = default or ["Think about the goal."]
        self.calls: list[list[GenRequest]] = []

    @property
    def model_name(self) -> str:
        return "list"

    def generate(self, requests: Sequence[GenRequest]) -> list[list[Completion]]:
        self.calls.append(list(requests))
        out = []
        for r in requests:
            texts = next((v for k, v in self.samples.items() if k in r.messages[-1][1]), self.default)
            out.append([Completion(t, len(t.split())) for t in (texts * r.params.n)[: r.params.n]])
        return out


DOJO = LeanTheorem(
    full_name="amgm_two", shape="leandojo", url="https://example.org/repo", commit="abc", file_path="A.lean",
    tactics=(
        LeanTactic("have h := sq_nonneg (a - b)", "a b : ℝ\n⊢ a * b ≤ (a ^ 2 + b ^ 2) / 2",
                   "a b : ℝ\nh : 0 ≤ (a - b) ^ 2\n⊢ a * b ≤ (a ^ 2 + b ^ 2) / 2", premises=("sq_nonneg",)),
        LeanTactic("· nlinarith [h]", "a b : ℝ\nh : 0 ≤ (a - b) ^ 2\n⊢ a * b ≤ (a ^ 2 + b ^ 2) / 2", "no goals"),
        LeanTactic("nlinarith [h]", "a b : ℝ\nh : 0 ≤ (a - b) ^ 2\n⊢ a * b ≤ (a ^ 2 + b ^ 2) / 2", "no goals"),
        LeanTactic("rfl", "no goals", "no goals"),
    ),
)
WHOLE = LeanTheorem(
    full_name="mathd_algebra_1", shape="whole_proof", url="file:///minif2f.jsonl",
    formal_statement="theorem mathd_algebra_1 (y : ℝ) : 7 * (3 * y + 2) = 21 * y + 14 := by",
    informal_statement="Expand 7(3y+2). Show that it is 21y+14.",
    tactics=(LeanTactic("ring_nf"), LeanTactic("norm_num")),
)


def test_one_call_per_theorem_n_samples_and_skips_like_leandojo():
    backend = ListBackend({"have h": ["Note that a square is nonnegative."]})
    result = TacticThoughtWriter(backend, ThoughtSettings(samples=3)).write(DOJO)
    assert len(backend.calls) == 1 and result.backend_calls == 1
    assert [r.key for r in backend.calls[0]] == [0, 2]  # the `·` step and the `no goals` step send no prompt
    assert all(r.params.n == 3 for r in backend.calls[0])
    assert result.skipped == [None, "focus_dot", None, "no_goals"]
    assert result.thoughts[0] == "Note that a square is nonnegative." and result.thoughts[1] is None
    assert result.thoughts[3] is None and result.generated_tokens == 3 * 6 + 3 * 4


def test_leaking_sample_is_rejected_and_next_taken_all_leaking_is_none():
    backend = ListBackend({
        "have h": ["Use sq_nonneg here.", "`have` it.", "A square is nonnegative, so record that."],
        "nlinarith": ["Just nlinarith [h].", "Call nlinarith with h."],
    })
    result = TacticThoughtWriter(backend, ThoughtSettings(samples=3)).write(DOJO)
    assert result.thoughts[0] == "A square is nonnegative, so record that."
    assert result.thoughts[2] is None
    assert result.rejected == {"names_lemma": 1, "names_tactic": 2, "tactic_code": 2}  # samples cycle: 3 of 2


def test_whole_proof_state_is_statement_and_tactics_so_far_and_dots_kept():
    theorem = LeanTheorem("t", (LeanTactic("constructor"), LeanTactic("· simp")), "whole_proof", "file:///x",
                          formal_statement="theorem t : True ∧ True := by")
    backend = ListBackend({})
    writer = TacticThoughtWriter(backend, ThoughtSettings(samples=1))
    result = writer.write(theorem)
    prompts = [r.messages[-1][1] for r in backend.calls[0]]
    assert result.skipped == [None, None] and len(prompts) == 2
    assert "theorem t : True ∧ True := by\n  constructor" in prompts[1] and "  constructor" not in prompts[0]
    assert writer.prompt_version == "lean_tactic_thought/v1"


def test_seeds_are_deterministic_and_per_tactic():
    a, b = ListBackend({}), ListBackend({})
    TacticThoughtWriter(a).write(WHOLE)
    TacticThoughtWriter(b).write(WHOLE)
    seeds = [r.params.seed for r in a.calls[0]]
    assert seeds == [r.params.seed for r in b.calls[0]] and seeds[0] != seeds[1]


@pytest.mark.parametrize("statement, answer", [
    ("Show that it is 21y+14.", "21y+14"),
    ("What is the remainder of 2003 divided by 11? Show that it is 1.", "1"),
    ("What is $3+4$? Show that it is 7", "7"),
    ("Compute $\\frac{1}{2}+\\frac{1}{3}$. Show that it is $\\frac{5}{6}$.", "\\frac{5}{6}"),
    ("Show that for every integer n, n^2 + n is even.", None),
    ("Let n be odd. Show that it is not divisible by 2.", None),
    ("", None),
    (None, None),
])
def test_final_answer_of(statement, answer):
    assert final_answer_of(statement) == answer


def test_lean_proof_text_and_tactics_in_order():
    text = lean_proof_text(WHOLE)
    assert text == "theorem mathd_algebra_1 (y : ℝ) : 7 * (3 * y + 2) = 21 * y + 14 := by\n  ring_nf\n  norm_num"
    assert tactics_in_order(text, WHOLE)
    commented = text.replace("  ring_nf", "  -- expand both sides\n  ring_nf").replace("norm_num", "/- done -/ norm_num")
    assert tactics_in_order(commented, WHOLE)
    assert not tactics_in_order(text.replace("ring_nf\n  norm_num", "norm_num\n  ring_nf"), WHOLE)  # reordered
    assert not tactics_in_order(text.replace("\n  norm_num", ""), WHOLE)  # missing
    assert not tactics_in_order(text + "\n  simp", WHOLE)  # extra
    assert not tactics_in_order(text.replace("norm_num", "norm_num1"), WHOLE)  # a longer tactic is another tactic
    dojo_text = lean_proof_text(DOJO)
    assert dojo_text.splitlines() == [t.tactic for t in DOJO.tactics] and tactics_in_order(dojo_text, DOJO)
    multiline = LeanTheorem("m", (LeanTactic("nlinarith [sq_nonneg a,\n  sq_nonneg b]"),), "whole_proof", "file:///x",
                            formal_statement="theorem m (a b : ℝ) : 0 ≤ a^2 + b^2 :=")
    assert lean_proof_text(multiline).endswith(":= by\n  nlinarith [sq_nonneg a,\n    sq_nonneg b]")
    assert tactics_in_order(lean_proof_text(multiline), multiline)


def test_proof_cot_writer_with_scripted_backend():
    backend = create_backend(BackendConfig(backend="scripted", model='{"rules": [["7(3y+2)", "Distribute: 21y + 14. '
                                                                     'The answer is 21y+14"]]}'))
    thoughts = ThoughtResult(thoughts=["Expand the product.", None], skipped=[None, None])
    cot = ProofCoTWriter(backend).write(WHOLE, thoughts)
    assert cot.informal_solution.endswith("The answer is 21y+14") and cot.final_answer == "21y+14"
    assert cot.generated_tokens == 8 and backend.calls == 1


def test_proof_cot_prompt_holds_statements_tactics_and_thoughts():
    backend = ListBackend({})
    writer = ProofCoTWriter(backend)
    writer.write(WHOLE, ThoughtResult(thoughts=["Expand the product.", None], skipped=[None, None]))
    (request,) = backend.calls[0]
    prompt = request.messages[-1][1]
    assert "Expand 7(3y+2)" in prompt and WHOLE.formal_statement in prompt
    assert "1. ring_nf\n   Thought: Expand the product.\n2. norm_num" in prompt
    assert writer.prompt_version == "lean_proof_cot/v1" and request.params.n == 1


@pytest.fixture(scope="module")
def model_backend(embedded_model_dir) -> Iterator[LLMBackend]:
    backend = create_backend(BackendConfig(threads=1))
    yield backend
    backend.close()


@pytest.mark.model
def test_end_to_end_on_the_embedded_model(model_backend):
    theorem = LeanTheorem("tiny", (LeanTactic("norm_num", "⊢ 2 + 2 = 4", "no goals"),), "leandojo", "https://x/r",
                          commit="c", file_path="T.lean", informal_statement="What is 2+2? Show that it is 4.")
    settings = ThoughtSettings(samples=2, max_new_tokens=32, seed=1)
    thoughts = TacticThoughtWriter(model_backend, settings).write(theorem)
    assert thoughts.backend_calls == 1 and thoughts.generated_tokens > 0
    assert len(thoughts.thoughts) == 1 and sum(thoughts.rejected.values()) <= 2
    assert (thoughts.thoughts[0] is None) == (sum(thoughts.rejected.values()) == 2)
    cot = ProofCoTWriter(model_backend, ThoughtSettings(max_new_tokens=48, seed=1)).write(theorem, thoughts)
    assert cot.informal_solution and 0 < cot.generated_tokens <= 48 and cot.final_answer == "4"


# --- cut at the token cap (the scripted backend with "length_cap": a test double, not a model) --------

def capped(rules: list[list[str]], default: str = "") -> LLMBackend:
    """The scripted backend cutting each reply at the request's max_new_tokens words (finish_reason "length")."""
    return create_backend(BackendConfig(backend="scripted", model=json.dumps({"rules": rules, "default": default,
                                                                              "length_cap": True})))


LONG_THOUGHT = "Both sides are polynomials in y, so expanding the left product and collecting like terms should make them agree."


def test_a_thought_cut_at_the_cap_is_not_kept_unless_asked_and_is_retried_once():
    backend = capped([["Write the thought", LONG_THOUGHT]])
    cut = TacticThoughtWriter(backend, ThoughtSettings(samples=2, max_new_tokens=8)).write(WHOLE)
    assert cut.thoughts == [None, None] and cut.rejected == {"truncated_cot": 4} and cut.truncated == []
    kept = TacticThoughtWriter(backend, ThoughtSettings(samples=1, max_new_tokens=8), TruncationPolicy(keep=True)).write(WHOLE)
    assert kept.truncated == [0, 1] and kept.thoughts[0] == " ".join(LONG_THOUGHT.split()[:8])
    retried = TacticThoughtWriter(backend, ThoughtSettings(samples=1, max_new_tokens=8),
                                  TruncationPolicy(retry_tokens=64)).write(WHOLE)
    assert retried.thoughts == [LONG_THOUGHT, LONG_THOUGHT] and retried.truncated == [] and retried.retried == 2
    assert retried.backend_calls == 2 and retried.rejected == {"truncated_cot": 2}


def test_a_cut_thought_that_leaks_is_a_leak():
    backend = capped([["Write the thought", "Use ring_nf here and then norm_num closes everything that is left over."]])
    result = TacticThoughtWriter(backend, ThoughtSettings(samples=1, max_new_tokens=6), TruncationPolicy(keep=True)).write(WHOLE)
    assert result.thoughts == [None, None] and "truncated_cot" not in result.rejected and result.truncated == []


def test_a_proof_cot_cut_at_the_cap_says_so_and_is_retried_once():
    solution = "Distribute 7 over both terms of the sum: 7 * 3y is 21y and 7 * 2 is 14. The answer is 21y+14."
    backend = capped([["7(3y+2)", solution]])
    cut = ProofCoTWriter(backend, ThoughtSettings(max_new_tokens=6)).write(WHOLE)
    assert cut.truncated and not cut.retried and cut.informal_solution == "Distribute 7 over both terms of"
    again = ProofCoTWriter(backend, ThoughtSettings(max_new_tokens=6), TruncationPolicy(retry_tokens=100)).write(WHOLE)
    assert again.retried and not again.truncated and again.informal_solution == solution
    assert again.generated_tokens == 6 + len(solution.split())
