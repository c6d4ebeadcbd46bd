"""Untrusted archives materialised as a tree, with checks that depend on nothing but this module.

A repository's tar (``git archive``'s, or a snapshot staged for workers) is hostile input: the
2025 ``tarfile`` bypasses (CVE-2025-4517 class: a chain of long names and step symlinks whose
``realpath`` overflows ``PATH_MAX``) let a tar that passes the ``data`` filter write anywhere the
process can. So nothing here asks ``tarfile`` to extract: it only parses headers, and
``TreeWriter`` creates every entry itself:

- every name is checked as bytes: no absolute path, no empty, ``.`` or ``..`` component, no
  ``.git`` component, at most ``MAX_PATH_BYTES``;
- a member's parent must be a directory the archive created before it (so a tree entry whose name
  holds ``/`` cannot land under a symlink or a directory it never declared); a name seen twice,
  a hard link, a device or a fifo refuses the archive;
- files and directories are created relative to an open directory descriptor, one component at a
  time with ``O_NOFOLLOW`` (``O_EXCL`` for files): no path is ever resolved through a link;
- symlinks are created last, when the whole tree is known, and only where their target, resolved
  through the archive's own links, stays inside the tree; any other link becomes a link to
  itself (it stays visible, and listed as ``symlink``, but leads nowhere);
- the bytes and entries written are bounded (``Budget``): past either bound the archive is refused;
- a blob over ``OMIT_BLOB_BYTES`` is never written: a sparse file of its size stands in (every
  listing filters such a file, ``too_large`` or ``not_python``; a test reading it sees zeros).

A refused archive raises ``UnsafeArchive`` with a filter reason (``unsafe_archive``,
``snapshot_too_large``); the caller removes the partial tree, so a refused repository never
leaves a partial snapshot.
"""

from __future__ import annotations

import os
import stat
import tarfile
from collections import deque
from dataclasses import dataclass
from typing import IO

from schemas.code import RepoSnapshot

OMIT_BLOB_BYTES = 16 << 20  # the largest --max-file-bytes: a blob over it is filtered by every run
MAX_PATH_BYTES = 4000
MAX_LINK_HOPS = 40
CHUNK = 1 << 20
OMITTED_PAX_KEY = "REVERSE_O1.omitted"  # a staged placeholder: the size of a blob that was never written
DIR_FLAGS = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC


class UnsafeArchive(Exception):
    """An archive refused whole; ``reason`` is the filter reason, the message one line."""

    def __init__(self, reason: str, message: str):
        super().__init__(" ".join(message.split())[:500])
        self.reason = reason
        self.snapshot: RepoSnapshot | None = None  # set by ``repos.materialise``: the refused snapshot


@dataclass(frozen=True)
class Budget:
    """What one snapshot may write: bytes of file content and entries (files, folders, links)."""

    max_bytes: int = 512 << 20
    max_entries: int = 100_000


def show(name: str | bytes) -> str:
    """A member's name for a message: at most 80 bytes, undecodable bytes escaped."""
    return repr(os.fsencode(name)[:80].decode("utf-8", "backslashreplace"))


def split_name(name: str | bytes) -> list[bytes]:
    """The components of an archive member's name, or ``UnsafeArchive``."""
    raw = os.fsencode(name).rstrip(b"/")
    if not raw or raw.startswith(b"/") or len(raw) > MAX_PATH_BYTES:
        raise UnsafeArchive("unsafe_archive", f"member name {show(raw)}: absolute, empty or too long")
    parts = raw.split(b"/")
    for part in parts:
        if part in (b"", b".", b"..") or part.lower() == b".git" or b"\0" in part:
            raise UnsafeArchive("unsafe_archive", f"member name {show(raw)}: a {show(part)!r} component")
    return parts


class TreeWriter:
    """Creates an archive's entries under ``root`` (an empty directory), checking each (module docstring)."""

    def __init__(self, root: str, budget: Budget):
        self.budget = budget
        self.root_fd = os.open(root, DIR_FLAGS)
        self.dirs: set[bytes] = {b""}  # the folders this writer made
        self.seen: set[bytes] = {b""}
        self.links: dict[bytes, bytes] = {}  # deferred: name → target
        self.written = 0
        self.entries = 0
        self._open: tuple[bytes, int] | None = None  # the last parent folder opened, and its fd

    def __enter__(self) -> TreeWriter:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        if self._open is not None:
            os.close(self._open[1])
            self._open = None
        if self.root_fd >= 0:
            os.close(self.root_fd)
            self.root_fd = -1

    # --- the checks ---------------------------------------------------------------------------

    def _claim(self, name: str | bytes) -> tuple[bytes, bytes]:
        """``(parent, leaf)`` of a new member, after every check that does not need its content."""
        parts = split_name(name)
        rel = b"/".join(parts)
        parent, leaf = b"/".join(parts[:-1]), parts[-1]
        if rel in self.seen:
            raise UnsafeArchive("unsafe_archive", f"{show(rel)} appears twice in the archive")
        if parent not in self.dirs:
            why = "a symlink" if parent in self.links else "not a folder of the archive"
            raise UnsafeArchive("unsafe_archive", f"{show(rel)}: its parent {show(parent)} is {why}")
        self.entries += 1
        if self.entries > self.budget.max_entries:
            raise UnsafeArchive("snapshot_too_large", f"more than {self.budget.max_entries} entries")
        self.seen.add(rel)
        return parent, leaf

    def _parent_fd(self, parent: bytes) -> int:
        """An fd of a folder this writer made, opened one component at a time without following links."""
        if parent == b"":
            return self.root_fd
        if self._open is not None and self._open[0] == parent:
            return self._open[1]
        fd = os.dup(self.root_fd)
        try:
            for part in parent.split(b"/"):
                nxt = os.open(part, DIR_FLAGS, dir_fd=fd)
                os.close(fd)
                fd = nxt
        except OSError:
            os.close(fd)
            raise
        if self._open is not None:
            os.close(self._open[1])
        self._open = (parent, fd)
        return fd

    # --- the entries --------------------------------------------------------------------------

    def directory(self, name: str | bytes) -> None:
        parent, leaf = self._claim(name)
        os.mkdir(leaf, 0o755, dir_fd=self._parent_fd(parent))
        self.dirs.add((parent + b"/" + leaf) if parent else leaf)

    def file(self, name: str | bytes, size: int, executable: bool, data: IO[bytes] | None) -> None:
        """A regular file of ``size`` bytes read from ``data``; ``data`` None, or a size over
        ``OMIT_BLOB_BYTES``, writes a sparse placeholder of that size instead."""
        parent, leaf = self._claim(name)
        omit = data is None or size > OMIT_BLOB_BYTES
        if not omit:
            self.written += size
            if self.written > self.budget.max_bytes:
                raise UnsafeArchive("snapshot_too_large", f"more than {self.budget.max_bytes} bytes of files")
        flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC
        fd = os.open(leaf, flags, 0o755 if executable else 0o644, dir_fd=self._parent_fd(parent))
        with os.fdopen(fd, "wb") as out:
            if omit:
                out.truncate(size)
                return
            left = size
            while left > 0:
                block = data.read(min(CHUNK, left))  # type: ignore[union-attr]
                if not block:
                    raise UnsafeArchive("unsafe_archive", f"{show(leaf)} is truncated in the archive")
                out.write(block)
                left -= len(block)

    def symlink(self, name: str | bytes, target: str | bytes) -> None:
        parent, leaf = self._claim(name)
        self.links[(parent + b"/" + leaf) if parent else leaf] = os.fsencode(target)

    def finish(self) -> None:
        """Create the links, each pointing where the archive said only if that stays inside."""
        for rel, target in sorted(self.links.items()):
            parent, _, leaf = rel.rpartition(b"/")
            inside = resolves_inside(rel, target, self.links)
            os.symlink(target if inside else leaf, leaf, dir_fd=self._parent_fd(parent))


def resolves_inside(rel: bytes, target: bytes, links: dict[bytes, bytes]) -> bool:
    """Whether the link ``rel`` → ``target`` resolves inside the tree, following the tree's own links
    (``links``: every link of the tree, by name) the way the kernel would, component by component."""
    if not target or target.startswith(b"/"):
        return False
    queue = deque(rel.split(b"/")[:-1] + target.split(b"/"))
    resolved: list[bytes] = []
    hops = 0
    while queue:
        part = queue.popleft()
        if part in (b"", b"."):
            continue
        if part == b"..":
            if not resolved:
                return False
            resolved.pop()
            continue
        resolved.append(part)
        hop = links.get(b"/".join(resolved))
        if hop is not None:
            hops += 1
            if hops > MAX_LINK_HOPS or not hop or hop.startswith(b"/"):
                return False
            resolved.pop()
            queue.extendleft(reversed(hop.split(b"/")))
    return True


def write_tar(stream: IO[bytes], root: str, budget: Budget) -> TreeWriter:
    """Materialise the tar read (as a stream, never seeking) from ``stream`` under ``root``."""
    try:
        with TreeWriter(root, budget) as tree, tarfile.open(fileobj=stream, mode="r|", errors="surrogateescape") as tar:
            for member in tar:
                _write_member(tree, member, tar)
            tree.finish()
            return tree
    except tarfile.TarError as exc:
        raise UnsafeArchive("unsafe_archive", f"not a readable tar: {exc}") from exc


def _write_member(tree: TreeWriter, member: tarfile.TarInfo, tar: tarfile.TarFile) -> None:
    if member.isdir():
        tree.directory(member.name)
    elif member.isreg():
        omitted = member.pax_headers.get(OMITTED_PAX_KEY)
        size = int(omitted) if omitted is not None and omitted.isdigit() else member.size
        tree.file(member.name, size, bool(member.mode & stat.S_IXUSR), None if omitted is not None else tar.extractfile(member))
    elif member.issym():
        tree.symlink(member.name, member.linkname)
    else:
        raise UnsafeArchive("unsafe_archive", f"{show(member.name)}: a {member.type!r} member (only files, "
                                              "folders and symlinks are allowed)")
