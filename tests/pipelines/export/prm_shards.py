"""Hand-made PRM shards for the step-label export tests: rows of every method, some with steps nothing measured."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from pipelines.io.shards import write_rows

T, F, N = True, False, None


def prm(ident: str, method: str, labels: list[bool | None], soft: list[float | None], prompt: str = "P?") -> dict[str, Any]:
    """A PRM row with one step text per label (``step0``, ``step1``, ...)."""
    n = len(labels)
    return {"id": ident, "prompt": prompt, "completions": [f"{ident} step{i}" for i in range(n)], "labels": labels,
            "soft_labels": soft, "rollouts": [0] * n, "correct_rollouts": [0] * n, "method": method,
            "answer_correct": labels[-1], "source_kind": "seed", "source": None, "generator": None}


# id -> (method, labels, soft labels); each a case the exports must tell apart
ROWS = {
    "s1": ("shepherd", [T, F, F], [0.5, 0.0, 0.0]),
    "s2": ("shepherd", [T, T], [1.0, 1.0]),
    "b1": ("binary", [T, F, N, F], [N, 0.0, N, 0.0]),  # wrong answer: step 2 after the error, never probed
    "b2": ("binary", [T, T, T], [N, N, 1.0]),  # right answer: true without rollouts, soft null but the last
    "m1": ("mcts", [T, T, T], [N, N, 1.0]),  # a correct trajectory: every step measured
    "m2": ("mcts", [T, N, F], [N, N, 0.0]),  # a wrong one: its rollout step unmeasured
    "m3": ("mcts", [N, N, F], [N, N, 0.0]),  # nothing before the answer measured
}
TEST_SPLIT = {"s2", "m1"}


def write_prm_shards(out: Path) -> Path:
    """``out/prm``: the train rows in one shard, the test rows in another; ``out``."""
    rows = {ident: prm(ident, *case) for ident, case in ROWS.items()}
    (out / "prm").mkdir(parents=True, exist_ok=True)
    write_rows([r for i, r in rows.items() if i not in TEST_SPLIT], "prm", str(out / "prm" / "hand-0.train.parquet"))
    write_rows([r for i, r in rows.items() if i in TEST_SPLIT], "prm", str(out / "prm" / "hand-1.test.parquet"))
    return out
