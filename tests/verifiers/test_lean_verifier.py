"""Lean verification: the plain "none" verdict here, and the replay logic against a fake lean_dojo."""

from __future__ import annotations

import sys
import types

import pytest

from schemas.lean import LeanTactic, LeanTheorem
from verifiers.lean import LeanVerifier

THM = LeanTheorem(
    full_name="two_add_two", shape="leandojo", url="https://example.org/r", commit="abc", file_path="A.lean",
    tactics=(LeanTactic("norm_num", "⊢ 2 + 2 = 4 ∧ True", "⊢ True"), LeanTactic("trivial", "⊢ True", "no goals")),
)


def test_no_toolchain_gives_verdict_none_with_the_reason(monkeypatch):
    monkeypatch.setattr("shutil.which", lambda name: None)
    monkeypatch.setattr("importlib.util.find_spec", lambda name: None)
    verifier = LeanVerifier()
    ok, reason = verifier.available()
    assert not ok and reason == "python package lean_dojo is not installed; no Lean toolchain on PATH (none of lean, lake, elan)"
    verdict = verifier.verify(THM)
    assert (verdict.verified, verdict.verifier, verdict.detail) == (False, "none", reason)


def test_this_machine_says_why_it_cannot_replay():
    ok, reason = LeanVerifier().available()
    assert ok == (reason == "") and "\n" not in reason


def test_replay_with_a_real_toolchain():
    verifier = LeanVerifier()
    ok, reason = verifier.available()
    if not ok:
        pytest.skip(f"no Lean toolchain: {reason}")
    pytest.skip("a real replay needs a traced Lean repository and the network; run by hand where one exists")


class _State:
    def __init__(self, pp: str):
        self.pp = pp


class _Finished:
    pass


class _Error:
    def __init__(self, error: str):
        self.error = error


def fake_lean_dojo(results: dict[str, object], seen: list) -> types.ModuleType:
    """A stand-in for lean_dojo with its documented shapes: run_tac returns a state, finished or error."""

    class Dojo:
        def __init__(self, theorem, timeout=600):
            seen.append((theorem.repo.url, theorem.repo.commit, theorem.file_path, theorem.full_name))

        def __enter__(self):
            return self, _State("⊢ 2 + 2 = 4 ∧ True")

        def __exit__(self, *exc):
            return False

        def run_tac(self, state, tactic):
            seen.append(tactic)
            return results.get(tactic, _Error(f"unknown tactic {tactic}"))

    module = types.ModuleType("lean_dojo")
    module.LeanGitRepo = lambda url, commit: types.SimpleNamespace(url=url, commit=commit)
    module.Theorem = lambda repo, path, name: types.SimpleNamespace(repo=repo, file_path=path, full_name=name)
    module.Dojo, module.TacticState, module.ProofFinished = Dojo, _State, _Finished
    return module


@pytest.mark.parametrize("results, verified, detail", [
    ({"norm_num": _State("⊢  True"), "trivial": _Finished()}, True, "replayed 2 tactics"),
    ({"norm_num": _State("⊢ False"), "trivial": _Finished()}, False, "step 0: state_after differs from the trace"),
    ({"norm_num": _Finished()}, False, "step 0: proof finished before the last tactic"),
    ({"norm_num": _State("⊢ True")}, False, "step 1: unknown tactic trivial"),
    ({"norm_num": _State("⊢ True"), "trivial": _State("⊢ True")}, False, "step 1: state_after differs from the trace"),
])
def test_replay_logic_against_a_fake_lean_dojo(monkeypatch, results, verified, detail):
    seen: list = []
    monkeypatch.setitem(sys.modules, "lean_dojo", fake_lean_dojo(results, seen))
    monkeypatch.setattr(LeanVerifier, "available", lambda self: (True, ""))
    verdict = LeanVerifier().verify(THM)
    assert (verdict.verified, verdict.verifier, verdict.detail) == (verified, "lean_dojo", detail)
    assert seen[0] == ("https://example.org/r", "abc", "A.lean", "two_add_two") and seen[1] == "norm_num"


def test_without_commit_or_file_nothing_is_replayed(monkeypatch):
    monkeypatch.setattr(LeanVerifier, "available", lambda self: (True, ""))
    whole = LeanTheorem("t", (LeanTactic("rfl"),), "whole_proof", "file:///x.jsonl")
    verdict = LeanVerifier().verify(whole)
    assert not verdict.verified and verdict.verifier == "none" and "commit" in verdict.detail


def test_a_crashing_dojo_is_a_failed_verdict(monkeypatch):
    module = fake_lean_dojo({}, [])

    def crash(theorem, timeout=600):
        raise RuntimeError("lake build failed")

    module.Dojo = crash
    monkeypatch.setitem(sys.modules, "lean_dojo", module)
    monkeypatch.setattr(LeanVerifier, "available", lambda self: (True, ""))
    verdict = LeanVerifier().verify(THM)
    assert (verdict.verified, verdict.verifier) == (False, "lean_dojo")
    assert verdict.detail == "dojo error: RuntimeError: lake build failed"
