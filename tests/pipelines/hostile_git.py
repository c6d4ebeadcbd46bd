"""Hostile git repositories built with git's plumbing, for tests: trees git's porcelain would never
make (names with ``/``, ``..``, non-UTF-8 bytes; step-symlink chains), blobs of any size."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

GIT_ENV = {"GIT_AUTHOR_NAME": "t", "GIT_AUTHOR_EMAIL": "t@localhost", "GIT_COMMITTER_NAME": "t",
           "GIT_COMMITTER_EMAIL": "t@localhost", "GIT_AUTHOR_DATE": "2026-01-01T00:00:00Z",
           "GIT_COMMITTER_DATE": "2026-01-01T00:00:00Z", "GIT_CONFIG_NOSYSTEM": "1", "GIT_CONFIG_GLOBAL": os.devnull}
FILE, EXEC, LINK, TREE = b"100644", b"100755", b"120000", b"40000"

Entry = tuple[bytes, bytes, str]  # (mode, name, object id)


class HostileRepo:
    """A bare-bones repository whose objects are written one by one (``hash-object --literally``)."""

    def __init__(self, path: Path):
        self.path = path
        path.mkdir(parents=True)
        self._git("init", "-q", "-b", "main")

    def _git(self, *argv: str, data: bytes | None = None) -> str:
        done = subprocess.run(["git", *argv], cwd=self.path, env={**os.environ, **GIT_ENV}, input=data,
                              capture_output=True, check=True)
        return done.stdout.decode().strip()

    def blob(self, data: bytes) -> str:
        return self._git("hash-object", "-w", "--stdin", data=data)

    def blob_from_stream(self, command: list[str]) -> str:
        """A blob of what ``command`` prints (streamed: a 1 GB blob never sits in this process)."""
        producer = subprocess.Popen(command, stdout=subprocess.PIPE)
        try:
            done = subprocess.run(["git", "hash-object", "-w", "--stdin"], cwd=self.path, env={**os.environ, **GIT_ENV},
                                  stdin=producer.stdout, capture_output=True, check=True)
        finally:
            producer.wait()
        return done.stdout.decode().strip()

    def tree(self, entries: list[Entry]) -> str:
        """A tree of ``entries`` in the order given (no sorting, no checks of the names)."""
        raw = b"".join(mode + b" " + name + b"\0" + bytes.fromhex(oid) for mode, name, oid in entries)
        return self._git("hash-object", "-w", "-t", "tree", "--literally", "--stdin", data=raw)

    def commit(self, tree: str) -> str:
        sha = self._git("commit-tree", tree, "-m", "hostile")
        self._git("update-ref", "refs/heads/main", sha)
        return sha

    def files(self, files: dict[bytes, bytes]) -> list[Entry]:
        """Root entries for plain files (name → content)."""
        return [(FILE, name, self.blob(data)) for name, data in files.items()]


COMP = b"0" * 240
STEPS = b"abcdefghijklmnop"


def symlink_chain_escape(repo: HostileRepo, targets: dict[bytes, bytes]) -> list[Entry]:
    """Root entries of the CVE-2025-4517 pattern as a git tree: 16 levels of 240-character folders,
    each beside a one-letter link to it, a 254-character link reached through the step links that
    leads back to the root, then for each ``name → target``: a link ``name`` → that link + target
    and a tree entry named ``name/pwned`` (a ``/`` in a name). ``tarfile``'s ``data`` filter (before
    the 2025 fixes) resolves the long path with ``realpath``, which gives up past ``PATH_MAX``."""
    inner = repo.tree(repo.files({b"keep": b""}))  # the 16th level
    for step in reversed(STEPS[1:]):  # levels 15 .. 1, each: the next level, and a link to it
        inner = repo.tree([(TREE, COMP, inner), (LINK, bytes([step]), repo.blob(COMP))])
    long_link = b"/".join(bytes([s]) for s in STEPS) + b"/" + b"l" * 254
    entries: list[Entry] = [(TREE, COMP, inner), (LINK, STEPS[:1], repo.blob(COMP)),
                            (LINK, long_link, repo.blob(b"../" * len(STEPS)))]
    for name, target in targets.items():
        entries.append((LINK, name, repo.blob(long_link + b"/" + target)))
        entries.append((FILE, name + b"/pwned", repo.blob(b"pwned\n")))
    return entries
