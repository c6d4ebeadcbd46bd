"""This machine's own disk, for reverse-o1's cache only: git clones, repository snapshots the sandbox
mounts, the demo's repository.

Inputs and outputs never come here: every ``--input``/``--out`` path goes through Beam's
``FileSystems`` (``pipelines.io.fs``). These paths are local by nature: git needs a local
repository and bwrap mounts a local directory. Keeping the calls in one module keeps that
exception in one place to review.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Callable, Iterator


def make_dirs(path: str) -> None:
    """``path`` and its parents, where missing."""
    os.makedirs(path, exist_ok=True)


def remove_tree(path: str) -> None:
    """``path`` and everything under it, if there; what cannot be removed stays, silently."""
    shutil.rmtree(path, ignore_errors=True)


def move_into_place(source: str, target: str) -> None:
    """Rename ``source`` to ``target`` (one filesystem, atomic); ``OSError`` when ``target`` exists."""
    os.rename(source, target)


def list_names(path: str) -> list[str]:
    """The names in folder ``path``, sorted."""
    return sorted(os.listdir(path))


def walk(root: str, onerror: Callable[[OSError], None] | None = None) -> Iterator[tuple[str, list[str], list[str]]]:
    """``os.walk`` top-down without following links (prune ``dirnames`` in place to skip folders)."""
    return os.walk(root, topdown=True, onerror=onerror, followlinks=False)
