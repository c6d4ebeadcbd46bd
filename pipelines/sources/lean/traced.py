"""Repos traced by ``lean_dojo``: load one from disk, or trace ``URL@COMMIT`` (toolchain and network).

``lean_dojo`` is optional (``pip install 'reverse-o1[lean]'``) and imported only here, lazily;
both entry points first check the toolchain and raise ``LeanUnavailable`` with one line saying
what is missing, so the command line can stop with that line instead of a traceback.
"""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from schemas.lean import LeanTactic, LeanTheorem
from schemas.provenance import known_repo_license, source_uri

TRACE_SUFFIX = ".trace.xml"  # what lean_dojo's TracedRepo.save_to_disk writes beside each traced .lean file


class LeanUnavailable(RuntimeError):
    """No ``lean_dojo`` or no Lean toolchain here; the message is one line."""


def lean_toolchain() -> str | None:
    """Why traced repos cannot be read or traced here, or None when they can."""
    try:
        import lean_dojo  # noqa: F401
    except ImportError:
        return "lean_dojo is not installed: pip install 'reverse-o1[lean]'"
    missing = [tool for tool in ("elan", "lake", "lean") if shutil.which(tool) is None]
    if missing:
        return (f"no Lean toolchain: {', '.join(missing)} not on PATH (install elan; tracing a repo "
                "also needs the network)")
    return None


def require_toolchain() -> None:
    reason = lean_toolchain()
    if reason is not None:
        raise LeanUnavailable(reason)


def is_traced_repo(path: str) -> bool:
    """A directory holding ``*.trace.xml`` files, as ``lean_dojo`` leaves a traced repo."""
    from pipelines.io import fs

    if not fs.is_folder(path):
        return False
    return any(m.path.endswith(TRACE_SUFFIX) for m in fs.list_files(path, recursive=True))


def _pos(pos: Any) -> tuple[int, int] | None:
    if pos is None:
        return None
    line, column = getattr(pos, "line_nb", None), getattr(pos, "column_nb", None)
    if line is None:  # Pos is also iterable as (line, column) in some versions
        line, column = tuple(pos)[:2]
    return (int(line), int(column))


def theorem_from_traced(traced: Any, ref: str, license: str | None = None) -> LeanTheorem | None:
    """One ``lean_dojo.TracedTheorem`` to a ``LeanTheorem`` (None when it has no traced tactic).
    Its ``license`` is its repository's: known by its url, else ``license`` (the traced repo's
    licence file); it has no ``dataset_license`` (no published dataset in between)."""
    tactics = []
    for tac in traced.get_traced_tactics():
        annotated, premises = None, ()
        try:
            annotated, provenance = tac.get_annotated_tactic()
            premises = tuple(p["full_name"] for p in provenance if p.get("full_name"))
        except Exception:  # annotation needs the premises' files; the tactic and states are still good
            annotated = None
        tactics.append(LeanTactic(tac.tactic, tac.state_before, tac.state_after, annotated, premises))
    if not tactics:
        return None
    theorem = traced.theorem
    url = source_uri(str(theorem.repo.url))
    return LeanTheorem(
        full_name=theorem.full_name,
        tactics=tuple(tactics),
        shape="traced_repo",
        url=url,
        license=known_repo_license(url) or license,
        commit=theorem.repo.commit,
        file_path=str(theorem.file_path),
        start=_pos(getattr(traced, "start", None)),
        end=_pos(getattr(traced, "end", None)),
        ref=ref,
    )


def load_traced_theorems(path: str, license: str | None = None) -> Iterator[LeanTheorem | tuple[str, str]]:
    """Theorems of a traced repo on disk; ``(ref, why)`` for a theorem without traced tactics.
    ``license``: the licence file's at the repo's root, for a repository not in ``KNOWN_REPOS``."""
    require_toolchain()
    from lean_dojo import TracedRepo

    repo = TracedRepo.load_from_disk(path)
    for i, traced in enumerate(repo.get_traced_theorems()):
        ref = f"{path}#{i}"
        theorem = theorem_from_traced(traced, ref, license)
        yield theorem if theorem is not None else (ref, "no traced tactics (term-mode proof)")


def parse_repo_spec(url_at_commit: str) -> tuple[str, str]:
    """``https://github.com/o/r@COMMIT`` → (url, commit)."""
    url, sep, commit = url_at_commit.rpartition("@")
    if not sep or not url or not commit or "/" in commit:
        raise ValueError(f"--lean-repo expects URL@COMMIT, got {url_at_commit!r}")
    return url, commit


def trace_repo(url_at_commit: str, out_dir: str | Path) -> Path:
    """Trace ``URL@COMMIT`` with ``lean_dojo.trace`` into ``out_dir`` (slow: an hour for mathlib)."""
    url, commit = parse_repo_spec(url_at_commit)
    require_toolchain()
    from lean_dojo import LeanGitRepo, trace

    traced = trace(LeanGitRepo(url, commit), dst_dir=str(out_dir))
    return Path(getattr(traced, "root_dir", out_dir))
