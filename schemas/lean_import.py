"""Turn Lean inputs (LeanDojo Benchmark theorems, miniF2F-style whole proofs) into ``LeanTheorem``s.

Pure functions: a record that cannot become a theorem raises ``LeanImportError`` with a short
machine reason (``missing_field``, ``wrong_type``, ``empty_proof``, ``no_tactics``,
``bad_unicode``) so the reader can dead-letter it instead of crashing.
"""

from __future__ import annotations

import re
from typing import Any

from schemas.lean import LeanTactic, LeanTheorem
from schemas.provenance import known_repo_license, source_uri
from schemas.refs import ref_path

# Licences: a theorem's ``license`` is its repository's (``known_repo_license`` of its url, else the
# record's own ``license`` field, else unknown); ``dataset_license`` is the input file's, as the reader
# found it beside the file (``pipelines.io.licenses``): LeanDojo Benchmark's CC-BY-2.0 only where the
# file says so, never assumed from its format.
_DOC_COMMENT = re.compile(r"^\s*/--?\s*(.*?)\s*-/\s*$", re.S)
_CONTINUATIONS = ("<;>", ")", "]", "}", "⟩")


class LeanImportError(ValueError):
    """A Lean record that cannot become a theorem; ``reason`` is the dead-letter reason."""

    def __init__(self, reason: str, message: str):
        super().__init__(message)
        self.reason = reason


def _str(obj: dict[str, Any], key: str, required: bool = True) -> str | None:
    value = obj.get(key)
    if value is None:
        if required:
            raise LeanImportError("missing_field", f"{key}: missing")
        return None
    if not isinstance(value, str):
        raise LeanImportError("wrong_type", f"{key}: expected a string, got {type(value).__name__}")
    try:
        value.encode("utf-8")
    except UnicodeEncodeError as exc:  # a lone surrogate escaped in the JSON: cannot be written back as UTF-8
        raise LeanImportError("bad_unicode", f"{key}: unpaired surrogate at character {exc.start}") from None
    if required and not value.strip():
        raise LeanImportError("missing_field", f"{key}: empty")
    return value


def _pos(obj: dict[str, Any], key: str) -> tuple[int, int] | None:
    value = obj.get(key)
    if value is None:
        return None
    if (not isinstance(value, list | tuple) or len(value) != 2
            or not all(isinstance(v, int) and not isinstance(v, bool) for v in value)):
        raise LeanImportError("wrong_type", f"{key}: expected [line, column], got {str(value)[:60]}")
    return (value[0], value[1])


def _tactic(item: Any, i: int) -> LeanTactic:
    if not isinstance(item, dict):
        raise LeanImportError("wrong_type", f"traced_tactics[{i}]: expected an object, got {type(item).__name__}")
    try:
        tactic = _str(item, "tactic")
        before, after = _str(item, "state_before", False), _str(item, "state_after", False)
    except LeanImportError as exc:
        raise LeanImportError(exc.reason, f"traced_tactics[{i}].{exc}") from None
    annotated, premises = None, ()
    marked = item.get("annotated_tactic")
    if marked is not None:  # [tactic with <a>premise</a> marks, [{"full_name": ...}, ...]]; absent in some copies
        if (not isinstance(marked, list | tuple) or len(marked) != 2 or not isinstance(marked[0], str)
                or not isinstance(marked[1], list) or not all(isinstance(p, dict) for p in marked[1])):
            raise LeanImportError("wrong_type", f"traced_tactics[{i}].annotated_tactic: expected [str, [premise, ...]]")
        annotated = marked[0]
        premises = tuple(p["full_name"] for p in marked[1] if isinstance(p.get("full_name"), str))
    assert tactic is not None
    return LeanTactic(tactic, before, after, annotated, premises)


def theorem_from_leandojo(obj: Any, ref: str = "", dataset_license: str | None = None) -> LeanTheorem:
    """One LeanDojo Benchmark theorem (``url``, ``commit``, ``file_path``, ``full_name``, ``start``,
    ``end``, ``traced_tactics``) to a ``LeanTheorem``; ``annotated_tactic`` is optional.
    ``dataset_license``: the licence of the file it was read from, when known."""
    if not isinstance(obj, dict):
        raise LeanImportError("wrong_type", f"expected a LeanDojo theorem object, got {type(obj).__name__}")
    full_name, url = _str(obj, "full_name"), _str(obj, "url")
    traced = obj.get("traced_tactics")
    if traced is None:
        raise LeanImportError("missing_field", "traced_tactics: missing")
    if not isinstance(traced, list):
        raise LeanImportError("wrong_type", f"traced_tactics: expected a list, got {type(traced).__name__}")
    if not traced:
        raise LeanImportError("no_tactics", "traced_tactics: empty (a term-mode proof, or nothing traced)")
    assert full_name is not None and url is not None
    url = source_uri(url)
    return LeanTheorem(
        full_name=full_name,
        tactics=tuple(_tactic(t, i) for i, t in enumerate(traced)),
        shape="leandojo",
        url=url,
        commit=_str(obj, "commit", False),
        file_path=_str(obj, "file_path", False),
        start=_pos(obj, "start"),
        end=_pos(obj, "end"),
        formal_statement=_str(obj, "theorem_statement", False),
        license=_str(obj, "license", False) or known_repo_license(url),
        dataset_license=_str(obj, "dataset_license", False) or dataset_license,
        ref=ref,
    )


def theorem_from_whole_proof(obj: Any, ref: str = "", url: str | None = None, license: str | None = None,
                             dataset_license: str | None = None) -> LeanTheorem:
    """One miniF2F-style line (``name``, ``informal_prefix``, ``formal_statement``, ``formal_proof``).

    The proof is split into tactic steps (``split_tactics``); a leading ``/- ... -/`` comment is
    kept as the informal solution. ``url`` is the record's, else ``url`` (the reader gives its
    file's URI), else the ``ref``'s file (``source_uri`` of it). ``license``: the record's, else its
    url's known repository's, else ``license`` (the reader gives its file's: the file holds the
    proofs themselves); ``dataset_license``: the file's.
    """
    if not isinstance(obj, dict):
        raise LeanImportError("wrong_type", f"expected a whole-proof object, got {type(obj).__name__}")
    name, statement = _str(obj, "name"), _str(obj, "formal_statement")
    proof = _str(obj, "formal_proof", False)
    if proof is None:
        raise LeanImportError("missing_field", "formal_proof: missing")
    if not proof.strip():
        raise LeanImportError("empty_proof", "formal_proof: empty")
    tactics, informal = split_tactics(proof)
    if not tactics:
        raise LeanImportError("no_tactics", "formal_proof: only comments, no tactic")
    prefix = _str(obj, "informal_prefix", False)
    doc = _DOC_COMMENT.match(prefix) if prefix else None
    informal_statement = (doc.group(1) if doc else prefix.strip()) if prefix else None
    assert name is not None
    where = source_uri(_str(obj, "url", False) or url or ref_path(ref))
    return LeanTheorem(
        full_name=name,
        tactics=tuple(LeanTactic(t) for t in tactics),
        shape="whole_proof",
        url=where,
        formal_statement=statement,
        informal_statement=informal_statement or None,
        informal_solution=informal,
        proof=proof,
        license=_str(obj, "license", False) or known_repo_license(where) or license,
        dataset_license=_str(obj, "dataset_license", False) or dataset_license,
        ref=ref,
    )


def _strip_comments(text: str) -> str:
    """Remove ``/- ... -/`` (nesting, as in Lean) and ``--`` comments, keeping strings and line breaks."""
    out, i, depth, in_string = [], 0, 0, False
    while i < len(text):
        two = text[i:i + 2]
        if depth:
            if two == "/-":
                depth, i = depth + 1, i + 2
            elif two == "-/":
                depth, i = depth - 1, i + 2
                line = "".join(out).rsplit("\n", 1)[-1]
                if depth == 0 and not line.strip():  # a comment opening the line: the tactic after it keeps its column
                    while text[i:i + 1] in (" ", "\t") and i < len(text):
                        i += 1
            else:
                out.append("\n" if text[i] == "\n" else "")
                i += 1
        elif in_string:
            if text[i] == "\\":
                out.append(two)
                i += 2
                continue
            in_string = text[i] != '"'
            out.append(text[i])
            i += 1
        elif two == "/-":
            depth, i = 1, i + 2
        elif two == "--":
            end = text.find("\n", i)
            i = len(text) if end < 0 else end
        else:
            in_string = text[i] == '"'
            out.append(text[i])
            i += 1
    return "".join(out)


def _leading_comment(proof: str) -> tuple[str | None, str]:
    """The informal solution in a leading ``/- ... -/`` (not a ``/--`` doc comment) and the rest."""
    body = proof.lstrip()
    if body.startswith("by") and (len(body) == 2 or body[2].isspace()):
        body = body[2:].lstrip()
    if not body.startswith("/-"):
        return None, proof
    depth, i = 0, 0
    while i < len(body):
        two = body[i:i + 2]
        if two == "/-":
            depth, i = depth + 1, i + 2
        elif two == "-/":
            depth, i = depth - 1, i + 2
            if depth == 0:
                inner = body[2:i - 2].lstrip("-!").strip()
                lines = [line.strip() for line in inner.splitlines()]
                return ("\n".join(lines).strip() or None), body[i:]
        else:
            i += 1
    return None, proof  # unclosed: leave it to _strip_comments, which drops it


def split_tactics(proof: str) -> tuple[list[str], str | None]:
    """Tactic steps of a Lean 4 tactic proof, and the informal solution of its leading comment.

    The rule: comments go (``--`` to end of line, ``/- ... -/`` anywhere; a leading block comment
    is returned as the informal solution); a leading ``by`` goes; the base indentation is that of
    the least indented tactic line. Each line at the base indentation starts a step, and every
    more-indented line after it belongs to that step (a ``calc`` with its lines, a ``suffices ... by``
    with its block, a ``·`` focus bullet with its nested tactics). A base-level line that begins
    with ``<;>`` or a closing bracket, or follows a line ending in ``<;>``, continues the step
    before. ``tac1; tac2`` on one line is one step. Steps are dedented to the base indentation, trailing blanks stripped.
    """
    informal, rest = _leading_comment(proof)
    text = _strip_comments(rest)
    stripped = text.lstrip()
    same_line = False
    if stripped.startswith("by") and (len(stripped) == 2 or stripped[2].isspace()):
        text = stripped[2:].lstrip(" \t")
        same_line = not text.startswith(("\n", "\r"))
    lines = [line.rstrip() for line in text.splitlines() if line.strip()]
    if not lines:
        return [], informal
    indents = [len(line) - len(line.lstrip()) for line in lines]
    # ``by tac`` on one line puts the first tactic at column 0: the base comes from the lines after it
    base = min(indents[1:]) if same_line and len(lines) > 1 else min(indents)
    steps: list[list[str]] = []
    for line, indent in zip(lines, indents, strict=True):
        dedented = line[base:] if indent >= base else line.lstrip()
        if steps and (indent > base or dedented.startswith(_CONTINUATIONS) or steps[-1][-1].endswith("<;>")):
            steps[-1].append(dedented)
        else:
            steps.append([dedented])
    return ["\n".join(step) for step in steps], informal
