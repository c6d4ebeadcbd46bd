"""LLM backends, prompts and the generators built on them (labellers, reverse CoT, MCTS)."""
