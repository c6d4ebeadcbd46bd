"""The leak filter: a Lean-STaR thought must lead to its tactic without naming it.

A thought is written with the ground-truth tactic in view, so it may copy it; copied thoughts
teach a model to predict tactics from text that already holds them. ``leak_reason`` rejects:

- ``empty``: nothing but whitespace; ``too_long``: over ``MAX_THOUGHT_CHARS`` (rambling, or a
  sample that never stopped).
- ``names_tactic``: the whole tactic, whitespace-normalised, occurs in the thought (any tactic of
  two tokens or more, or one that is not a plain word).
- ``tactic_code:HEAD``: the tactic's head keyword in code form: backticked (`` `nlinarith` ``),
  as a line head with arguments (``nlinarith [``, ``simp at``, ``rw only``), or, for heads that are
  Lean jargon rather than English (``nlinarith``, ``norm_num``, ``rw``, any head with ``_``), as
  a whole word anywhere. English-word heads (``apply``, ``exact``, ``ring``, ``cases``) are only
  leaks in code form: "apply the bound" is fine prose.
- ``names_lemma:NAME``: a lemma name the tactic uses: a premise full name (and its last component
  when that is itself lemma-shaped), or an identifier of the tactic that is dotted
  (``Nat.succ_le_iff``) or snake_case with ``_`` and at least 6 characters (``sq_nonneg``).
  Not lemmas: local names (hypotheses/variables bound in ``state_before``, and ``h``-names such as
  ``h₀``, ``h1``, ``h_main``, ``this``), and any name that already occurs in ``state_before``:
  the thought may talk about what the goal shows.
- ``names_lemma:FIELD``: a lemma reached by dot notation on a local name or a parenthesised term
  (``hB.subbasis_with_rel``, ``h.foo_bar``, ``(f x).le_of_lt``): the field is a lemma of the term's
  type, so a lemma-shaped field counts, written alone, after any term (``hx.le_of_lt``) or whole.

Matching is case-sensitive on NFC text, at identifier boundaries (a name inside a longer
identifier does not count).
"""

from __future__ import annotations

import re
import unicodedata

from schemas.lean import LeanTactic

MAX_THOUGHT_CHARS = 1500
#: Tactic heads that are not English words: naming them at all is naming the tactic.
JARGON_HEADS = frozenset({
    "rw", "rwa", "erw", "simp", "simpa", "dsimp", "linarith", "nlinarith", "positivity", "polyrith", "omega",
    "aesop", "tauto", "rfl", "rcases", "rintro", "intros", "norm_num", "field_simp", "ring_nf", "push_cast",
    "norm_cast", "exact_mod_cast", "simp_all", "nlinarith!", "linarith!", "gcongr", "bound", "interval_cases",
    "fin_cases", "decide", "native_decide", "push_neg", "by_contra", "by_cases", "subst", "refine'", "calc",
})
#: Words that follow a tactic head when it is written as a line of Lean.
CODE_FOLLOWERS = r"(?:\[|at\b|only\b|using\b|with\b|\(|←|<-)"
_IDENT = re.compile(r"[A-Za-z_][\w'!?]*(?:\.[A-Za-z_\d][\w'!?]*)*")
_PAREN_FIELD = re.compile(r"\)\.([A-Za-z_][\w'!?]*)")  # ``(f x).le_of_lt``
_LOCAL = re.compile(r"^(?:h[\w']{0,3}|h_\w*|this|x|y|z|n|m|a|b|c)$")
_WS = re.compile(r"\s+")


def normalise(text: str) -> str:
    """NFC, whitespace runs collapsed to one space, stripped."""
    return _WS.sub(" ", unicodedata.normalize("NFC", text)).strip()


def _bounded(name: str) -> re.Pattern[str]:
    """``name`` not inside a longer identifier (``.`` counts as part of one)."""
    return re.compile(r"(?<![\w.'])" + re.escape(name) + r"(?![\w'])")


def _lemma_shaped(name: str) -> bool:
    return ("." in name and not name.endswith(".")) or ("_" in name.strip("_") and len(name) >= 6)


def local_names(state_before: str | None) -> set[str]:
    """Names bound in a goal state: the words before `` : `` on hypothesis lines."""
    names: set[str] = set()
    for line in (state_before or "").splitlines():
        if " : " in line and not line.lstrip().startswith("⊢"):
            names.update(line.split(" : ", 1)[0].split())
    return names


def _field_bounded(name: str) -> re.Pattern[str]:
    """A dot-notation field: alone or after any term (``x.name``), not inside a longer identifier."""
    return re.compile(r"(?<![\w'])" + re.escape(name) + r"(?![\w'])")


def lemma_names(tactic: LeanTactic) -> list[str]:
    """Names of lemmas the tactic uses, longest first, that a thought must not repeat (fields reached
    by dot notation included: ``projection_names``)."""
    state = unicodedata.normalize("NFC", tactic.state_before or "")
    local = local_names(state)
    found: set[str] = set()
    for premise in tactic.premises:
        found.add(premise)
        last = premise.rsplit(".", 1)[-1]
        if _lemma_shaped(last):
            found.add(last)
    for ident in _IDENT.findall(unicodedata.normalize("NFC", tactic.tactic)):
        root = ident.split(".", 1)[0]
        if _lemma_shaped(ident) and root not in local and not _LOCAL.match(root):
            found.add(ident)
    found |= set(projection_names(tactic))
    keep = [n for n in found if n not in local and not _LOCAL.match(n) and not _bounded(n).search(state)]
    return sorted(keep, key=lambda n: (-len(n), n))


def projection_names(tactic: LeanTactic) -> list[str]:
    """Lemma-shaped fields the tactic reaches by dot notation on a local name (``hB.subbasis_with_rel``:
    ``subbasis_with_rel`` and the whole ``hB.subbasis_with_rel``) or on a parenthesised term
    (``(f x).le_of_lt``), that the goal does not show."""
    state = unicodedata.normalize("NFC", tactic.state_before or "")
    local = local_names(state)
    text = unicodedata.normalize("NFC", tactic.tactic)
    found: set[str] = set()
    for ident in _IDENT.findall(text):
        root, _, rest = ident.partition(".")
        if rest and (root in local or _LOCAL.match(root)):
            fields = [f for f in rest.split(".") if _lemma_shaped(f)]
            found.update(fields)
            if fields:
                found.add(ident)
    found.update(f for f in _PAREN_FIELD.findall(text) if _lemma_shaped(f))
    return sorted((n for n in found if not _field_bounded(n).search(state)), key=lambda n: (-len(n), n))


def leak_reason(thought: str, tactic: LeanTactic) -> str | None:
    """Why ``thought`` may not stand for ``tactic`` (see the module doc), or None when it may."""
    text = normalise(thought)
    if not text:
        return "empty"
    if len(text) > MAX_THOUGHT_CHARS:
        return "too_long"
    tac = normalise(tactic.tactic).lstrip("· ").strip()
    words = tac.split(" ")
    if tac and (len(words) > 1 or not tac.replace("_", "").isalpha()) and tac in text:
        return "names_tactic"
    head = words[0] if tac else ""
    if head:
        code = re.compile(r"`\s*" + re.escape(head) + r"(?![\w'])|(?<![\w.'])" + re.escape(head) + r"\s+" + CODE_FOLLOWERS)
        if code.search(text) or ((head in JARGON_HEADS or "_" in head) and _bounded(head).search(text)):
            return f"tactic_code:{head}"
    fields = set(projection_names(tactic))
    for name in lemma_names(tactic):
        if (_field_bounded(name) if name in fields else _bounded(name)).search(text):
            return f"names_lemma:{name}"
    return None
