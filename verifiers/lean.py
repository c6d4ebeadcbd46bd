"""Lean proofs: replay every ground-truth tactic through ``lean_dojo`` where a toolchain exists.

Replay follows LeanDojo's interaction API: ``Dojo(Theorem(LeanGitRepo(url, commit), file_path,
full_name))`` opens the theorem at its first goal; ``dojo.run_tac(state, tactic)`` returns a
``TacticState`` (``.pp`` is the printed goals), ``ProofFinished``, ``LeanError`` or
``ProofGivenUp``. Each result is compared with the traced ``state_after`` (whitespace
normalised), and the last tactic must finish the proof. Tactics of a LeanDojo benchmark file
are traced per goal, nested ones included, so a proof whose list is not a straight-line script
fails replay with a state mismatch: the verdict is then honest, not wrong.

Without ``lean_dojo`` or a Lean toolchain (``lean``/``lake``/``elan``; none can be installed on
these machines) nothing is replayed: ``verified=False, verifier="none"`` and the reason.
``lean_dojo`` is imported lazily and is no dependency of this project.
"""

from __future__ import annotations

import importlib.util
import re
import shutil
from dataclasses import dataclass
from typing import Any, Literal

from schemas.lean import LeanTheorem

TOOLCHAIN = ("lean", "lake", "elan")


@dataclass(frozen=True)
class LeanVerdict:
    verified: bool
    verifier: Literal["lean_dojo", "none"]
    detail: str


def _norm(state: str | None) -> str:
    return re.sub(r"\s+", " ", state or "").strip()


class LeanVerifier:
    """Replays Lean proofs with LeanDojo; says plainly why when it cannot."""

    def __init__(self, timeout: int = 600):
        self.timeout = timeout
        self._available: tuple[bool, str] | None = None

    def available(self) -> tuple[bool, str]:
        """(True, "") when lean_dojo imports and a Lean toolchain is on PATH; else what is missing."""
        if self._available is None:
            self._available = self._probe()
        return self._available

    def _probe(self) -> tuple[bool, str]:
        missing = []
        if importlib.util.find_spec("lean_dojo") is None:
            missing.append("python package lean_dojo is not installed")
        if not any(shutil.which(tool) for tool in TOOLCHAIN):
            missing.append("no Lean toolchain on PATH (none of lean, lake, elan)")
        return (not missing, "; ".join(missing))

    def verify(self, theorem: LeanTheorem) -> LeanVerdict:
        ok, reason = self.available()
        if not ok:
            return LeanVerdict(False, "none", reason)
        if theorem.commit is None or theorem.file_path is None:
            return LeanVerdict(False, "none", "cannot replay: the input names no repository commit and file")
        if not theorem.tactics:
            return LeanVerdict(False, "none", "cannot replay: no tactics")
        try:
            return self._replay(theorem)
        except Exception as exc:  # noqa: BLE001 - a crashed Dojo is a verdict, not a pipeline failure
            return LeanVerdict(False, "lean_dojo", f"dojo error: {type(exc).__name__}: {exc}"[:500])

    def _replay(self, theorem: LeanTheorem) -> LeanVerdict:
        import lean_dojo

        repo = lean_dojo.LeanGitRepo(theorem.url, theorem.commit)
        target = lean_dojo.Theorem(repo, theorem.file_path, theorem.full_name)
        last = len(theorem.tactics) - 1
        with lean_dojo.Dojo(target, timeout=self.timeout) as (dojo, state):
            for i, tactic in enumerate(theorem.tactics):
                result: Any = dojo.run_tac(state, tactic.tactic)
                if isinstance(result, lean_dojo.ProofFinished):
                    if i != last:
                        return LeanVerdict(False, "lean_dojo", f"step {i}: proof finished before the last tactic")
                    return LeanVerdict(True, "lean_dojo", f"replayed {i + 1} tactics")
                if not isinstance(result, lean_dojo.TacticState):
                    error = getattr(result, "error", type(result).__name__)
                    return LeanVerdict(False, "lean_dojo", f"step {i}: {error}"[:500])
                if tactic.state_after is not None and _norm(result.pp) != _norm(tactic.state_after):
                    return LeanVerdict(False, "lean_dojo", f"step {i}: state_after differs from the trace")
                state = result
        return LeanVerdict(False, "lean_dojo", "proof not finished after the last tactic")
