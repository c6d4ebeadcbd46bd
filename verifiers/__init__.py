"""Verifiers: math answers, code in a sandbox, Lean proofs."""

from verifiers.math_answer import MathVerifier, VerifyResult, extract_answer

__all__ = ["MathVerifier", "VerifyResult", "extract_answer"]
