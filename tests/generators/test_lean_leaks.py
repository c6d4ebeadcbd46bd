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


SUBBASIS = LeanTactic(tactic="exact hB.subbasis_with_rel hx",
                      state_before="X : Type\nB : Set (Set X)\nhB : IsTopologicalBasis B\nhx : x ∈ U\n⊢ P x")
PROJ = LeanTactic(tactic="exact (h x).le_of_lt", state_before="f : ℝ → ℝ\nh : ∀ x, f x < 1\n⊢ f x ≤ 1")
FIELD = LeanTactic(tactic="apply h.foo_bar", state_before="h : Q\n⊢ P")


@pytest.mark.parametrize("thought, tactic, reason", [
    ("The basis gives it: hB.subbasis_with_rel applied to hx.", SUBBASIS, "names_lemma:hB.subbasis_with_rel"),
    ("By subbasis_with_rel of the basis, x has a small neighbourhood.", SUBBASIS, "names_lemma:subbasis_with_rel"),
    ("Take hB.subbasis_with_rel.", SUBBASIS, "names_lemma:hB.subbasis_with_rel"),
    ("Weaken with (h x).le_of_lt.", PROJ, "names_lemma:le_of_lt"),
    ("Weaken with hx.le_of_lt.", PROJ, "names_lemma:le_of_lt"),  # the field after another term counts too
    ("It follows from foo_bar.", FIELD, "names_lemma:foo_bar"),
])
def test_lemmas_reached_by_dot_notation_on_a_hypothesis_are_leaks(thought, tactic, reason):
    assert leak_reason(thought, tactic) == reason


def test_dot_notation_fields_that_are_not_lemma_shaped_or_shown_by_the_goal_pass():
    short = LeanTactic("exact h.le", "h : a < b\n⊢ a ≤ b")  # `le`: too short to be a lemma name
    assert leak_reason("The strict bound h gives the weak one; le follows.", short) is None
    shown = LeanTactic("exact hB.subbasis_with_rel", "hB : B\n⊢ subbasis_with_rel B")
    assert leak_reason("The goal is subbasis_with_rel of B.", shown) is None
    assert leak_reason("Since the basis is a basis, the neighbourhood exists.", SUBBASIS) is None
