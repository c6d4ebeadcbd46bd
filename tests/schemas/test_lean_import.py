"""Lean converters on the real fixture slices (LeanDojo Benchmark 4, toy full schema, miniF2F) and on bad records."""

from __future__ import annotations

import copy
import json
import os
from pathlib import Path

import pytest

from schemas.lean_import import LeanImportError, split_tactics, theorem_from_leandojo, theorem_from_whole_proof

LEAN = Path(__file__).resolve().parents[1] / "fixtures" / "lean"
MATHLIB = json.loads((LEAN / "leandojo4_mathlib_8thm.json").read_text(encoding="utf-8"))
TOY = json.loads((LEAN / "leandojo_full_schema_toy_4thm.json").read_text(encoding="utf-8"))
MINIF2F = {o["name"]: o for o in map(json.loads, (LEAN / "minif2f_valid_8.jsonl").read_text(encoding="utf-8").splitlines())}


def test_leandojo_mathlib_fields_and_states() -> None:
    theorems = [theorem_from_leandojo(o, f"f.json#{i}") for i, o in enumerate(MATHLIB)]
    assert [len(t.tactics) for t in theorems] == [1, 1, 4, 3, 13, 2, 3, 4]
    first = theorems[0]
    assert first.full_name == "BoxIntegral.Box.withBotCoe_inj"
    assert first.url == "https://github.com/leanprover-community/mathlib4"
    assert first.commit == "5a919533f110b7d76410134a237ee374f24eaaad"
    assert first.file_path == "Mathlib/Analysis/BoxIntegral/Box/Basic.lean"
    assert (first.start, first.end) == ((307, 1), (308, 76))
    assert first.tactics[0].tactic.startswith("simp only [Subset.antisymm_iff")
    assert first.tactics[0].state_before.endswith("⊢ ↑I = ↑J ↔ I = J")
    assert first.tactics[0].state_after == "no goals"
    assert all(tac.annotated is None and tac.premises == () for t in theorems for tac in t.tactics)  # no annotated_tactic here
    # mathlib4's own licence; the benchmark's (CC-BY-2.0) only when the reader found it beside the file
    assert {t.license for t in theorems} == {"Apache-2.0"} and {t.shape for t in theorems} == {"leandojo"}
    assert {t.dataset_license for t in theorems} == {None}
    assert theorem_from_leandojo(MATHLIB[0], "f.json#0", dataset_license="CC-BY-2.0").dataset_license == "CC-BY-2.0"
    unknown = dict(MATHLIB[0], url="https://user:tok@example.com/me/lean-stuff.git")
    assert (theorem_from_leandojo(unknown).license, theorem_from_leandojo(unknown).url) == (
        None, "https://example.com/me/lean-stuff.git")
    assert theorems[3].ref == "f.json#3"


def test_leandojo_annotated_premises() -> None:
    theorem = theorem_from_leandojo(TOY[0], "toy.json#0")
    assert theorem.formal_statement == "theorem mul_assoc_my_4 : ∀ a b c : Nat, (a * b) * c = a * (b * c) :="
    intro, simp1, simp2 = theorem.tactics
    assert intro.annotated == "intro a b c" and intro.premises == ()
    assert simp1.annotated == "simp [<a>Nat.mul_comm</a>]" and simp1.premises == ("Nat.mul_comm",)
    assert simp2.premises == ("Nat.mul_comm", "Nat.mul_left_comm")
    assert simp2.state_after == "no goals"


@pytest.mark.parametrize(
    ("change", "reason"),
    [
        (lambda o: o.pop("full_name"), "missing_field"),
        (lambda o: o.pop("traced_tactics"), "missing_field"),
        (lambda o: o.update(traced_tactics=[]), "no_tactics"),
        (lambda o: o.update(traced_tactics="simp"), "wrong_type"),
        (lambda o: o.update(full_name=7), "wrong_type"),
        (lambda o: o.update(start="307:1"), "wrong_type"),
        (lambda o: o["traced_tactics"][0].pop("tactic"), "missing_field"),
        (lambda o: o["traced_tactics"][0].update(state_before=["x"]), "wrong_type"),
        (lambda o: o["traced_tactics"][0].update(annotated_tactic="simp"), "wrong_type"),
        (lambda o: o["traced_tactics"][0].update(tactic="simp \ud800"), "bad_unicode"),
    ],
)
def test_leandojo_bad_records(change, reason: str) -> None:
    obj = copy.deepcopy(TOY[0])
    change(obj)
    with pytest.raises(LeanImportError) as err:
        theorem_from_leandojo(obj, "x")
    assert err.value.reason == reason


def test_leandojo_not_an_object() -> None:
    with pytest.raises(LeanImportError, match="expected a LeanDojo theorem object") as err:
        theorem_from_leandojo(["not", "a", "dict"])
    assert err.value.reason == "wrong_type"


def test_whole_proof_fields_and_informal_solution() -> None:
    theorem = theorem_from_whole_proof(MINIF2F["mathd_algebra_182"], "m.jsonl:1")
    assert theorem.shape == "whole_proof" and theorem.full_name == "mathd_algebra_182"
    assert [t.tactic for t in theorem.tactics] == ["ring"]
    assert all(t.state_before is None for t in theorem.tactics)
    assert theorem.informal_statement == "Expand the following expression: $7(3y+2)$ Show that it is 21y+14."
    assert theorem.informal_solution.startswith("We apply the distributive property to get\\begin{align*}")
    assert theorem.informal_solution.endswith("\\end{align*}")
    assert theorem.formal_statement.startswith("theorem mathd_algebra_182 (y : ℂ)")
    assert theorem.proof == MINIF2F["mathd_algebra_182"]["formal_proof"]
    assert theorem.url == f"file://{os.path.abspath('m.jsonl')}" and theorem.ref == "m.jsonl:1"  # never relative
    assert theorem_from_whole_proof(MINIF2F["mathd_algebra_182"], "m.jsonl:1", license="MIT").license == "MIT"
    assert theorem_from_whole_proof(MINIF2F["mathd_algebra_182"], "m.jsonl:1", url="memfs://x/m.jsonl").url == "memfs://x/m.jsonl"


@pytest.mark.parametrize(("ref", "url"), [("s3://b/in/x.jsonl:3", "s3://b/in/x.jsonl"), ("s3://b/in/x.json#0", "s3://b/in/x.json"),
                                          ("/data/run:2/m.jsonl:4", "file:///data/run:2/m.jsonl"), ("m.json#2", "file://CWD/m.json")])
def test_whole_proof_url_defaults_to_the_refs_file(ref: str, url: str) -> None:
    assert theorem_from_whole_proof(MINIF2F["mathd_algebra_182"], ref).url == url.replace("CWD", os.getcwd())


def test_split_real_proofs() -> None:
    steps = [t.tactic for t in theorem_from_whole_proof(MINIF2F["mathd_algebra_116"]).tactics]
    assert steps == ["rw [h₀] at h₁", "rw [eq_comm.mp (add_eq_zero_iff_neg_eq.mp h₁)]", "norm_num", "rw [pow_two]",
                     "rw [mul_sub]", "rw [sub_mul, sub_mul]", "rw [Real.mul_self_sqrt _]", "ring", "linarith"]
    steps, informal = split_tactics(MINIF2F["amc12_2001_p9"]["formal_proof"])
    assert steps[:3] == ["specialize h₀ 500 _ (6 / 5) _", "· linarith", "· linarith"]
    assert steps[3].startswith("calc\n  f 600 = f (500 * (6 / 5)) := by\n    congr\n    norm_num\n  _ = f 500 / (6 / 5)")
    assert len(steps) == 4 and informal.startswith("Letting $x = 500$")
    steps, _ = split_tactics(MINIF2F["amc12_2000_p5"]["formal_proof"])
    assert steps == ["suffices abs (x - 2) = -(x - 2) by\n  rw [h₁] at this\n  linarith", "apply abs_of_neg", "linarith"]
    steps, _ = split_tactics(MINIF2F["numbertheory_2dvd4expn"]["formal_proof"])
    assert steps == ["revert n h₀", "rintro ⟨k, rfl⟩", "· norm_num", "apply dvd_pow", "norm_num"]


def test_split_comments_by_and_continuations() -> None:
    assert split_tactics("by simp\n  ring") == (["simp", "ring"], None)
    proof = "by\n  intro x -- a note\n  /- aside -/ simp [foo] <;>\n  linarith\n  <;> ring\n  · exact h\n    done"
    assert split_tactics(proof) == (["intro x", "simp [foo] <;>\nlinarith\n<;> ring", "· exact h\n  done"], None)
    assert split_tactics('  exact "-- not a comment"') == (['exact "-- not a comment"'], None)
    assert split_tactics("  /- outer /- nested -/ still -/\n  rfl") == (["rfl"], "outer /- nested -/ still")
    assert split_tactics("  -- nothing but a comment\n") == ([], None)


@pytest.mark.parametrize(
    ("change", "reason"),
    [
        (lambda o: o.pop("name"), "missing_field"),
        (lambda o: o.pop("formal_proof"), "missing_field"),
        (lambda o: o.update(formal_proof="   \n"), "empty_proof"),
        (lambda o: o.update(formal_proof="  /- only a solution -/\n"), "no_tactics"),
        (lambda o: o.update(formal_statement=["theorem"]), "wrong_type"),
        (lambda o: o.update(informal_prefix=3), "wrong_type"),
    ],
)
def test_whole_proof_bad_records(change, reason: str) -> None:
    obj = copy.deepcopy(MINIF2F["mathd_algebra_182"])
    change(obj)
    with pytest.raises(LeanImportError) as err:
        theorem_from_whole_proof(obj, "x:1")
    assert err.value.reason == reason
