"""Lean as input: LeanDojo JSON, whole-proof JSONL, repositories traced by lean_dojo."""
