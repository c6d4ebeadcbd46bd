"""The leak filter on crafted thoughts: the tactic, its head in code form, lemmas, premises."""

from __future__ import annotations

import pytest

from generators.lean.leaks import MAX_THOUGHT_CHARS, leak_reason, lemma_names
from schemas.lean import LeanTactic

NL = LeanTactic(
    tactic="nlinarith [sq_nonneg (a - b), Nat.succ_le_iff, h₀]",
    state_before="a b : ℝ\nh₀ : 0 < a\n⊢ a * b ≤ (a ^ 2 + b ^ 2) / 2",
    premises=("sq_nonneg", "Nat.succ_le_iff"),
)
RW = LeanTactic(tactic="rw [Finset.sum_range_succ]", state_before="n : ℕ\n⊢ ∑ i in range (n + 1), i = n * (n + 1) / 2",
                premises=("Finset.sum_range_succ",))
APPLY = LeanTactic(tactic="apply le_of_lt", state_before="x : ℝ\nhx : 0 < x\n⊢ 0 ≤ x", premises=("le_of_lt",))


@pytest.mark.parametrize("thought, reason", [
    ("Close it with nlinarith [sq_nonneg (a - b), Nat.succ_le_iff, h₀].", "names_tactic"),
    ("Close it with nlinarith  [sq_nonneg (a - b),\n  Nat.succ_le_iff, h₀]", "names_tactic"),  # whitespace normalised
    ("Here `nlinarith` does it.", "tactic_code:nlinarith"),
    ("then nlinarith [ the square ]", "tactic_code:nlinarith"),
    ("A nlinarith call should finish.", "tactic_code:nlinarith"),  # jargon head, even as a plain word
    ("The square (a - b)^2 is nonnegative: sq_nonneg.", "names_lemma:sq_nonneg"),
    ("Use Nat.succ_le_iff to move to a strict bound.", "names_lemma:Nat.succ_le_iff"),
    ("Use succ_le_iff to move to a strict bound.", "names_lemma:succ_le_iff"),
    ("Unfold the last term with Finset.sum_range_succ.", "names_lemma:Finset.sum_range_succ"),
    ("Peel off the last term, i.e. sum_range_succ.", "names_lemma:sum_range_succ"),
    ("We `apply` a weakening.", "tactic_code:apply"),
    ("It is enough to cite le_of_lt.", "names_lemma:le_of_lt"),
    ("", "empty"),
    ("   \n ", "empty"),
    ("x" * (MAX_THOUGHT_CHARS + 1), "too_long"),
])
def test_leaking_thoughts_are_rejected(thought, reason):
    tactic = RW if "sum_range" in thought else APPLY if ("apply" in thought or "le_of_lt" in thought) else NL
    assert leak_reason(thought, tactic) == reason


@pytest.mark.parametrize("thought, tactic", [
    ("Since (a - b)² ≥ 0, expanding gives 2ab ≤ a² + b², which is the goal after halving.", NL),
    ("The hypothesis h₀ says a is positive; with b we only need a square to be nonnegative.", NL),
    ("Split off the last summand of the sum so that the induction hypothesis applies.", RW),
    ("We can apply the fact that a strict inequality implies a weak one, using hx.", APPLY),  # English head as prose
    ("A ring identity? No: first weaken the strict bound hx.", APPLY),
])
def test_clean_thoughts_pass(thought, tactic):
    assert leak_reason(thought, tactic) is None


def test_local_names_and_goal_names_are_not_lemmas():
    tactic = LeanTactic("exact h_main.trans (Real.sqrt_nonneg x)", "x : ℝ\nh_main : 0 ≤ Real.sqrt_nonneg_aux x\n⊢ P")
    names = lemma_names(tactic)
    assert "h_main.trans" not in names and "Real.sqrt_nonneg" in names
    assert leak_reason("From h_main, the square root is nonnegative.", tactic) is None
    assert leak_reason("Real.sqrt_nonneg gives it.", tactic) == "names_lemma:Real.sqrt_nonneg"


def test_unicode_is_compared_in_nfc_and_inside_identifiers_does_not_count():
    tactic = LeanTactic("simp only [mul_comm, Nat.cast_le]", "⊢ ↑a ≤ ↑b")
    decomposed = "a\u0301"  # á decomposed: NFC-normalised before matching
    assert leak_reason(f"Reorder the product {decomposed}b ↦ b{decomposed}.", tactic) is None
    assert leak_reason("Swap with mul_comm, then compare casts.", tactic) == "names_lemma:mul_comm"
    assert leak_reason("my_mul_comm_variant is not it", tactic) is None
    assert leak_reason("Compare the casts; `simp` would do.", tactic) == "tactic_code:simp"
