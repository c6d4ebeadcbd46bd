"""Repository snapshots for workers with a disk of their own (a cluster runner).

Where the workers do not share the launcher's disk (a cluster runner), ``stage_snapshot`` writes a
tar of each snapshot's files through ``pipelines.io.fs`` (any Beam filesystem: local, ``gs://``,
``s3://``) to ``<staging>/repos/<hash of uri>-<sha>.tar`` (a plain directory:
``<hash of uri>-tree-<content hash>.tar``), once: an archive already there is not uploaded again.
The snapshot then names it (``archive``), and ``ensure_local``, on the worker, downloads it once
into the worker's own cache, ``<cache>/repos/<hash of uri>/<sha or tree-hash>/`` (extracted with
``pipelines.sources.code.safe_tree``'s checks, as ``git archive``'s tar is, to a temp dir, then renamed;
reused when present). A file over ``OMIT_BLOB_BYTES`` travels as a placeholder (a PAX record of
its size, no content): the worker writes a sparse file of that size, as the launcher's snapshot has.

The archive itself moves only through ``pipelines.io.fs``; the ``os``/``shutil`` calls work on
the tar being built and on the worker's local snapshot cache, which the sandbox mounts.
"""

from __future__ import annotations

import hashlib
import os
import re
import shutil
import tarfile
import tempfile
import threading
from dataclasses import replace

from common import local_disk
from pipelines.io import fs
from pipelines.sources.code.repos import RepoError, settle, unpack, uri_hash
from pipelines.sources.code.safe_tree import OMIT_BLOB_BYTES, OMITTED_PAX_KEY, Budget
from schemas.code import RepoSnapshot

MAX_STAGED_BYTES = 2_000_000_000  # a snapshot tar bigger than this is refused, not shipped to every worker
STAGED_BUDGET = Budget(max_bytes=MAX_STAGED_BYTES, max_entries=1_000_000)  # the launcher applied the run's own
STAGE_EMPTY_DIRS = frozenset({"__pycache__", ".mypy_cache", ".pytest_cache", ".ruff_cache", ".tox", ".nox", ".venv"})
COPY_CHUNK = 1 << 20

def _where(snapshot: RepoSnapshot) -> str:
    return f"{snapshot.uri}@{snapshot.commit[:12]}" if snapshot.commit else snapshot.uri


def default_cache_dir() -> str:
    """``repos/`` in reverse-o1's cache on *this* machine (call it on the worker, not the launcher)."""
    from common.cache import cache_root

    return str(cache_root() / "repos")


def _tar_tree(root: str, handle: tarfile.TarFile, max_bytes: int, where: str) -> None:
    """The files under ``root`` as ``iter_files`` sees them: symlinks not followed, ``.git`` left
    out, the contents of caches (``STAGE_EMPTY_DIRS``) left out; sorted, owners cleared."""

    def clean(info: tarfile.TarInfo) -> tarfile.TarInfo:
        info.uid = info.gid = 0
        info.uname = info.gname = ""
        info.mtime = int(info.mtime)
        return info

    total = 0
    for dirpath, dirnames, filenames in local_disk.walk(root):
        rel_dir = os.path.relpath(dirpath, root).replace(os.sep, "/")
        rel_dir = "" if rel_dir == "." else rel_dir
        keep = []
        for name in sorted(dirnames):
            full = os.path.join(dirpath, name)
            if name == ".git":
                continue
            if not os.path.islink(full) and name not in STAGE_EMPTY_DIRS:
                keep.append(name)
            filenames.append(name)  # the directory (or link) itself, without recursing
        dirnames[:] = keep
        for name in sorted(filenames):
            full = os.path.join(dirpath, name)
            rel = f"{rel_dir}/{name}" if rel_dir else name
            try:
                info = handle.gettarinfo(full, arcname=rel)
            except OSError:
                continue  # vanished meanwhile
            if info is None or not (info.isreg() or info.isdir() or info.issym()):
                continue  # sockets, fifos, devices: never part of a snapshot
            if not info.isreg():
                handle.addfile(clean(info))
                continue
            if info.size > OMIT_BLOB_BYTES:  # never unpacked from git either: its size, without content
                info.pax_headers = {OMITTED_PAX_KEY: str(info.size)}
                info.size = 0
                handle.addfile(clean(info))
                continue
            total += info.size
            if total > max_bytes:
                raise RepoError(f"{where}: more than {max_bytes / 1e9:.1f} GB of files, too large to stage for the "
                                f"workers; name a smaller tree, or pass --shared-filesystem if the workers see {root}")
            try:
                data = open(full, "rb")  # noqa: SIM115 (closed below)
            except OSError:
                continue  # unreadable here: not staged
            with data:
                handle.addfile(clean(info), data)  # a read failing half-way fails the whole staging


def stage_snapshot(snapshot: RepoSnapshot, staging_dir: str, max_bytes: int = MAX_STAGED_BYTES) -> RepoSnapshot:
    """``snapshot`` with ``archive`` set: a tar of exactly its files under ``staging_dir/repos/``,
    written through ``pipelines.io.fs`` (whole or absent) unless that object already exists.

    ``staging_dir`` is any Beam filesystem path the workers can read. A tree over ``max_bytes`` is a
    ``RepoError``.
    """
    where = _where(snapshot)
    if snapshot.archive is not None and fs.exists(snapshot.archive):
        return snapshot
    if not os.path.isdir(snapshot.root):
        raise RepoError(f"{where}: snapshot root {snapshot.root} is not a directory, cannot stage it")
    folder = fs.join(staging_dir, "repos")
    if snapshot.commit is not None:  # named by its commit: no need to build the tar to know it is there
        target = fs.join(folder, f"{uri_hash(snapshot.uri)}-{snapshot.commit}.tar")
        if fs.exists(target):
            return replace(snapshot, archive=target)
    fd, local = tempfile.mkstemp(prefix="reverse-o1-stage-", suffix=".tar")
    os.close(fd)
    try:
        try:
            with tarfile.open(local, "w", format=tarfile.PAX_FORMAT) as handle:
                _tar_tree(snapshot.root, handle, max_bytes, where)
            size = os.path.getsize(local)
            if size > max_bytes:
                raise RepoError(f"{where}: a {size / 1e9:.1f} GB archive, too large to stage for the workers")
            if snapshot.commit is None:
                digest = hashlib.sha256()
                with open(local, "rb") as handle_:
                    for block in iter(lambda: handle_.read(1 << 20), b""):
                        digest.update(block)
                target = fs.join(folder, f"{uri_hash(snapshot.uri)}-tree-{digest.hexdigest()[:32]}.tar")
        except (OSError, tarfile.TarError) as exc:
            raise RepoError(f"{where}: cannot archive {snapshot.root}: {exc}") from exc
        if not fs.exists(target):
            try:  # streamed: a large tree is never held in memory
                with open(local, "rb") as source, fs.open_write(target) as sink:
                    shutil.copyfileobj(source, sink, 1 << 20)
            except Exception as exc:  # any filesystem's failure, as one line
                raise RepoError(f"{where}: cannot stage the snapshot at {target}: {type(exc).__name__}: {exc}") from exc
    finally:
        os.unlink(local)
    return replace(snapshot, archive=target)


_locks: dict[str, threading.Lock] = {}
_locks_guard = threading.Lock()


def _lock(key: str) -> threading.Lock:
    with _locks_guard:
        return _locks.setdefault(key, threading.Lock())


def staged_root(snapshot: RepoSnapshot, cache_dir: str) -> str:
    """Where ``ensure_local`` extracts ``snapshot.archive`` in ``cache_dir``."""
    assert snapshot.archive is not None
    prefix = uri_hash(snapshot.uri)
    name = snapshot.archive.rstrip("/").rsplit("/", 1)[-1]
    if snapshot.commit is not None:
        version = snapshot.commit
    elif re.fullmatch(re.escape(prefix) + r"-tree-[0-9a-f]+\.tar", name):  # named by its content
        version = name[len(prefix) + 1:-len(".tar")]
    else:
        version = "tree-" + uri_hash(snapshot.archive)
    return os.path.join(cache_dir, "repos", prefix, version)


def ensure_local(snapshot: RepoSnapshot, cache_dir: str) -> RepoSnapshot:
    """``snapshot`` with a ``root`` that is a directory on this machine.

    A staged snapshot (``archive`` set) is always read from its archive, once per machine and
    cache: its ``root`` names a directory on the launcher, and a directory of that name here may
    hold other files. An unstaged one must already be a local directory. Else ``RepoError``.
    Safe with several threads and processes at once (extracted to a temp dir, then renamed).
    """
    if snapshot.archive is None:
        if os.path.isdir(snapshot.root):
            return snapshot
        raise RepoError(f"{_where(snapshot)}: snapshot root {snapshot.root} is not a directory on this machine and no "
                        f"staged archive names it (do the workers share the launcher's disk?)")
    root = staged_root(snapshot, cache_dir)
    if not os.path.isdir(root):
        with _lock(root):
            if not os.path.isdir(root):
                _fetch(snapshot, root)
    return snapshot if snapshot.root == root else replace(snapshot, root=root)


def _fetch(snapshot: RepoSnapshot, root: str) -> None:
    where, archive = _where(snapshot), str(snapshot.archive)
    parent = os.path.dirname(root)
    try:
        local_disk.make_dirs(parent)
        tmp = tempfile.mkdtemp(prefix=".staged-", dir=parent)
    except OSError as exc:
        raise RepoError(f"{where}: cannot use the cache {parent}: {exc}") from exc
    try:
        tar_path = os.path.join(tmp, ".archive.tar")
        try:
            with fs.open_read(archive) as source, open(tar_path, "wb") as sink:
                shutil.copyfileobj(source, sink, COPY_CHUNK)
        except Exception as exc:  # any filesystem's "not found" / "forbidden", as one line
            missing = not _exists(archive)
            raise RepoError(f"{where}: the staged archive {archive} " + (
                "does not exist" if missing else f"cannot be read: {type(exc).__name__}: {exc}")) from exc
        try:
            with open(tar_path, "rb") as stream:
                tree = unpack(stream, tmp, STAGED_BUDGET)
            settle(tree, root)
        except OSError as exc:
            raise RepoError(f"{where}: cannot unpack the staged archive {archive}: {exc}") from exc
    finally:
        local_disk.remove_tree(tmp)


def _exists(path: str) -> bool:
    try:
        return fs.exists(path)
    except Exception:
        return False


class LocalSnapshots:
    """``ensure_local`` once per snapshot for a DoFn instance; the cache dir (``None``: this
    machine's default) is resolved on first use, i.e. on the worker."""

    def __init__(self, cache_dir: str | None = None):
        self.cache_dir = cache_dir
        self.known: dict[tuple[str, str | None, str], RepoSnapshot] = {}

    def get(self, snapshot: RepoSnapshot) -> RepoSnapshot:
        key = (snapshot.uri, snapshot.commit, snapshot.archive if snapshot.archive is not None else "root:" + snapshot.root)
        found = self.known.get(key)
        if found is None:
            if self.cache_dir is None:
                self.cache_dir = default_cache_dir()
            found = self.known[key] = ensure_local(snapshot, self.cache_dir)
        return found
