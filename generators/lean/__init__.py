"""Lean CoT: per-tactic thoughts (Lean-STaR), a whole-proof informal solution, the leak filter."""

from generators.lean.leaks import leak_reason
from generators.lean.proof_cot import ProofCoT, ProofCoTWriter, final_answer_of, lean_proof_text, tactics_in_order
from generators.lean.thoughts import TacticThoughtWriter, ThoughtResult, ThoughtSettings

__all__ = [
    "ProofCoT",
    "ProofCoTWriter",
    "TacticThoughtWriter",
    "ThoughtResult",
    "ThoughtSettings",
    "final_answer_of",
    "lean_proof_text",
    "leak_reason",
    "tactics_in_order",
]
