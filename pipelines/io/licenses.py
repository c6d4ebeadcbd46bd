"""Licences of input files, read from the source itself (on any filesystem Beam knows).

The licence of an input file is the first of, looking in its folder and then each parent up to the
input it was found through (a folder named on the command line; a file's own folder):

1. a ``REUSE.toml`` (REUSE 3.2) with an ``[[annotations]]`` entry whose ``path`` matches the file
   (``*`` within a folder, ``**`` across folders): its ``SPDX-License-Identifier``;
2. a REUSE sidecar ``FILE.license``: its ``SPDX-License-Identifier`` line, or its text;
3. a licence file (``LICENSE``, ``LICENCE``, ``COPYING``, each also ``.txt``/``.md``/``.rst``, any case):
   the SPDX id recognised from its text (``schemas.provenance.spdx_from_text``), else ``"see URI"``
   naming the file (it exists, but is not one of the licences recognised here).

None when there is none: the licence is unknown, never guessed. The lookups run on the launcher,
once per folder, before the pipeline starts; the workers get the result with their elements.
"""

from __future__ import annotations

import logging
import os
import re
import tomllib
from typing import Any

from pipelines.io import fs
from schemas.provenance import source_uri, spdx_from_text

MAX_LICENSE_BYTES = 200_000
log = logging.getLogger(__name__)

# The names a licence file has (case-insensitive), at a repository's root or in an input's folder.
LICENSE_NAMES = tuple(f"{stem}{ext}" for stem in ("license", "licence", "copying") for ext in ("", ".txt", ".md", ".rst"))


def _abs(path: str) -> str:
    return os.path.abspath(path) if fs.is_local(path) else path.rstrip("/")


def _parent(path: str) -> str:
    return os.path.dirname(path) if fs.is_local(path) else path.rstrip("/").rsplit("/", 1)[0]


def _glob(pattern: str) -> re.Pattern[str]:
    out = []
    for part in re.split(r"(\*\*/?|\*)", pattern.removeprefix("./")):
        out.append(".*" if part.startswith("**") else "[^/]*" if part == "*" else re.escape(part))
    return re.compile("".join(out) + r"\Z")


class LicenseFinder:
    """Finds and caches the licences of input files (see the module docstring)."""

    def __init__(self) -> None:
        self._listings: dict[str, dict[str, str]] = {}  # folder → {lower-cased name: path}
        self._texts: dict[str, str | None] = {}
        self._reuse: dict[str, list[tuple[re.Pattern[str], str]]] = {}

    def _listing(self, folder: str) -> dict[str, str]:
        if folder not in self._listings:
            try:
                found = {fs.basename(m.path): m.path for m in fs.list_files(folder)}
            except Exception as exc:  # an unlistable folder holds no licence we can read
                log.debug("licences: cannot list %s: %s", folder, exc)
                found = {}
            self._listings[folder] = {name.lower(): path for name, path in sorted(found.items())} | {
                name: path for name, path in found.items()}  # exact names too (a sidecar keeps its file's case)
        return self._listings[folder]

    def _text(self, path: str) -> str | None:
        if path not in self._texts:
            try:
                self._texts[path] = fs.read_bytes(path, MAX_LICENSE_BYTES).decode("utf-8", "replace")
            except Exception as exc:
                log.debug("licences: cannot read %s: %s", path, exc)
                self._texts[path] = None
        return self._texts[path]

    def _annotations(self, folder: str, path: str) -> list[tuple[re.Pattern[str], str]]:
        if folder not in self._reuse:
            entries: list[tuple[re.Pattern[str], str]] = []
            text = self._text(path)
            try:
                data: dict[str, Any] = tomllib.loads(text or "")
            except tomllib.TOMLDecodeError as exc:
                log.warning("licences: %s is not valid TOML (%s); ignored", path, exc)
                data = {}
            for entry in data.get("annotations") or []:
                spdx = entry.get("SPDX-License-Identifier") if isinstance(entry, dict) else None
                paths = entry.get("path") if isinstance(entry, dict) else None
                if isinstance(spdx, str) and spdx.strip():
                    for pattern in [paths] if isinstance(paths, str) else paths if isinstance(paths, list) else []:
                        if isinstance(pattern, str):
                            entries.append((_glob(pattern), spdx.strip()))
            self._reuse[folder] = entries
        return self._reuse[folder]

    def folder_license(self, folder: str) -> str | None:
        """The licence file's at the root of ``folder`` (a repository), as in step 3 alone."""
        listing = self._listing(_abs(folder))
        for name in LICENSE_NAMES:
            if name in listing:
                text = self._text(listing[name])
                return (spdx_from_text(text) if text else None) or f"see {source_uri(listing[name])}"
        return None

    def license_of(self, path: str, root: str | None = None) -> str | None:
        """The licence of input file ``path`` found through input ``root`` (default: its own folder)."""
        path = _abs(path)
        folder = _parent(path)
        stop = _abs(root) if root else folder
        if not (folder == stop or folder.startswith(stop.rstrip("/") + "/")):
            stop = folder
        while True:
            listing = self._listing(folder)
            if "reuse.toml" in listing:
                rel = path[len(folder.rstrip("/")) + 1:]
                for pattern, spdx in reversed(self._annotations(folder, listing["reuse.toml"])):  # the last match wins
                    if pattern.match(rel):
                        return spdx
            if folder == _parent(path):
                sidecar = listing.get(fs.basename(path) + ".license")
                if sidecar is not None and (text := self._text(sidecar)):
                    return spdx_from_text(text) or f"see {source_uri(sidecar)}"
            found = self.folder_license(folder)
            if found is not None:
                return found
            if folder == stop or _parent(folder) == folder:
                return None
            folder = _parent(folder)


def input_roots(inputs: list[str]) -> list[str]:
    """The folders input files were found through: a named folder, else a file's (or a glob's) folder."""
    roots = []
    for name in inputs:
        if fs.has_glob(name):
            head = re.split(r"[*?\[]", name, maxsplit=1)[0]
            roots.append(_abs(head) if head.endswith("/") else _parent(_abs(head)) if head else _abs("."))
        elif fs.is_folder(name):
            roots.append(_abs(name))
        else:
            roots.append(_parent(_abs(name)))
    return roots


def file_licenses(files: list[str], inputs: list[str]) -> dict[str, str | None]:
    """``{file: licence}`` for input files expanded from ``inputs`` (each looked up to the deepest
    input folder holding it)."""
    roots = sorted(set(input_roots(inputs)), key=len, reverse=True)
    finder = LicenseFinder()
    found: dict[str, str | None] = {}
    for file in files:
        full = _abs(file)
        root = next((r for r in roots if full.startswith(r.rstrip("/") + "/")), None)
        found[file] = finder.license_of(file, root)
    return found
