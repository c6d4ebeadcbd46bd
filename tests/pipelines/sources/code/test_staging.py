"""Snapshots staged for workers that do not share the launcher's disk: ``stage_snapshot`` writes a
tar through ``pipelines.io.fs``, ``ensure_local`` brings it back on the worker; hostile archives,
races, re-staging, and ReadRepositoryFiles + ExtractFunctions on a snapshot whose root is gone."""

from __future__ import annotations

import dataclasses
import io
import os
import shutil
import stat
import subprocess
import tarfile
import threading
from pathlib import Path

import pytest

from pipelines.io import fs
from pipelines.sources.code import repos
from pipelines.sources.code import staging as staging_io
from pipelines.sources.code.read import fn_key
from pipelines.sources.code.repos import RepoError, iter_files, materialise
from pipelines.sources.code.safe_tree import UnsafeArchive
from pipelines.sources.code.staging import ensure_local, stage_snapshot, staged_root
from schemas.code import CodeFunction, RepoSnapshot
from tests.pipelines.sources.code.test_read import run_pipeline

TINYTEXT = Path(__file__).resolve().parents[4] / "samples" / "code" / "tinytext"
GIT_ENV = {"GIT_AUTHOR_NAME": "t", "GIT_AUTHOR_EMAIL": "t@localhost", "GIT_COMMITTER_NAME": "t",
           "GIT_COMMITTER_EMAIL": "t@localhost", "GIT_AUTHOR_DATE": "2026-01-01T00:00:00Z",
           "GIT_COMMITTER_DATE": "2026-01-01T00:00:00Z", "GIT_CONFIG_NOSYSTEM": "1", "GIT_CONFIG_GLOBAL": os.devnull}


def git_repo(target: Path) -> Path:
    shutil.copytree(TINYTEXT, target)
    env = {**os.environ, **GIT_ENV}
    for argv in (["init", "-q", "-b", "main"], ["add", "-A"], ["commit", "-q", "-m", "v1"]):
        subprocess.run(["git", *argv], cwd=target, env=env, check=True, capture_output=True)
    return target


def listing(snapshot: RepoSnapshot) -> list[tuple[str, int, str | None, bytes | None]]:
    return [(f.path, f.size, reason, raw) for f, raw, reason in iter_files(snapshot)]


def tree(root: Path) -> set[str]:
    """Every path under ``root`` (links not followed), relative."""
    return {str(p.relative_to(root)) for p in root.rglob("*")} if root.exists() else set()


def plain_tree(root: Path) -> None:
    files = {
        "pkg/__init__.py": "", "pkg/core.py": "def f(x):\n    '''Id.\n\n    >>> f(1)\n    1\n    '''\n    return x\n",
        "pkg/data.json": "{}\n", ".gitignore": "ignored_*.py\nbuild_out/\n", "ignored_a.py": "x = 1\n",
        "build_out/x.py": "x = 1\n", "vendor/six.py": "x = 1\n", "pkg/__pycache__/core.cpython-311.pyc": "junk",
        "sub/.git/config": "[core]\n", "sub/mod.py": "x = 1\n", "README.md": "hi\n", "LICENSE": "MIT License\n",
        "big.py": "x = 1\n" * 10,
    }
    for rel, text in files.items():
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        (root / rel).write_text(text, encoding="utf-8")
    os.symlink("core.py", root / "pkg" / "alias.py")  # in the tree
    os.symlink("/etc/hostname", root / "outside.py")  # out of the tree
    os.symlink("pkg", root / "pkg_link")  # a directory link in the tree


# --- round trips ----------------------------------------------------------------------------------

def test_git_snapshot_round_trip_without_the_launchers_disk(tmp_path: Path) -> None:
    repo = git_repo(tmp_path / "tinytext")
    launcher = tmp_path / "launcher-cache"
    snap = materialise(f"{repo}@HEAD", str(launcher))
    before = listing(snap)
    staged = stage_snapshot(snap, str(tmp_path / "out" / ".staging"))
    assert staged.archive == fs.join(str(tmp_path / "out" / ".staging"), "repos",
                                     f"{repos.uri_hash(snap.uri)}-{snap.commit}.tar")
    assert os.path.isfile(staged.archive) and (staged.uri, staged.commit, staged.root) == (snap.uri, snap.commit, snap.root)
    shutil.rmtree(launcher)  # the worker cannot see the launcher's disk
    shutil.rmtree(repo)
    local = ensure_local(staged, str(tmp_path / "worker-cache"))
    assert local.root == staged_root(staged, str(tmp_path / "worker-cache")) and os.path.isdir(local.root)
    assert (local.uri, local.commit, local.license, local.archive) == (snap.uri, snap.commit, "MIT", staged.archive)
    assert listing(local) == before
    assert ensure_local(local, str(tmp_path / "worker-cache")) == local  # idempotent
    os.remove(staged.archive)  # extracted once: the archive is not read again on this machine
    assert ensure_local(staged, str(tmp_path / "worker-cache")) == local
    assert os.listdir(os.path.dirname(local.root)) == [os.path.basename(local.root)]  # no temp dirs left


def test_a_plain_directory_is_staged_as_iter_files_sees_it(tmp_path: Path) -> None:
    root = tmp_path / "plain"
    plain_tree(root)
    snap = materialise(str(root), str(tmp_path / "cache"))
    assert snap.commit is None
    before = listing(snap)
    staged = stage_snapshot(snap, str(tmp_path / "staging"))
    name = os.path.basename(staged.archive)
    assert name.startswith(f"{repos.uri_hash(snap.uri)}-tree-") and name.endswith(".tar")
    with tarfile.open(staged.archive) as tar:
        names = set(tar.getnames())
        assert all(m.uid == 0 and m.uname == "" for m in tar.getmembers())
    assert "sub/mod.py" in names and not any(".git" in n.split("/") for n in names)
    assert "pkg/__pycache__" in names and not any(n.startswith("pkg/__pycache__/") for n in names)
    assert {"ignored_a.py", "build_out/x.py", "vendor/six.py", "pkg/data.json", "outside.py", "pkg_link"} <= names
    shutil.rmtree(root)
    local = ensure_local(staged, str(tmp_path / "worker"))
    assert local.root != snap.root and listing(local) == before
    reasons = {path: reason for path, _size, reason, _raw in before}
    assert reasons["outside.py"] == reasons["pkg_link"] == reasons["pkg/alias.py"] == "symlink"
    assert reasons["ignored_a.py"] == "gitignored" and reasons["vendor/"] == "vendored"


def test_staging_is_content_addressed_and_never_uploaded_twice(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    writes: list[str] = []
    real = fs.open_write

    def spy(path: str):
        writes.append(path)
        return real(path)

    monkeypatch.setattr(fs, "open_write", spy)
    root = tmp_path / "plain"
    plain_tree(root)
    snap = materialise(str(root), str(tmp_path / "cache"))
    staging = str(tmp_path / "staging")
    first = stage_snapshot(snap, staging)
    again = stage_snapshot(snap, staging)
    assert first.archive == again.archive and writes == [first.archive]
    (root / "pkg" / "core.py").write_text("def g():\n    return 2\n", encoding="utf-8")
    changed = stage_snapshot(snap, staging)
    assert changed.archive != first.archive and writes == [first.archive, changed.archive]

    repo = git_repo(tmp_path / "tinytext")
    commit = materialise(str(repo), str(tmp_path / "cache"))
    staged = stage_snapshot(commit, staging)
    monkeypatch.setattr(staging_io, "_tar_tree", lambda *a: pytest.fail("a staged commit must not be archived again"))
    assert stage_snapshot(commit, staging) == staged and writes[-1] == staged.archive and len(writes) == 3
    assert stage_snapshot(staged, staging) is staged


def test_missing_archive_or_root_is_one_line_repo_error(tmp_path: Path) -> None:
    gone = RepoSnapshot("https://example.com/r.git", "a" * 40, "/launcher/only/path",
                        archive=str(tmp_path / "staging" / "repos" / "nope.tar"))
    with pytest.raises(RepoError) as caught:
        ensure_local(gone, str(tmp_path / "cache"))
    assert "does not exist" in str(caught.value) and "\n" not in str(caught.value) and "nope.tar" in str(caught.value)
    assert not os.path.exists(staged_root(gone, str(tmp_path / "cache")))
    with pytest.raises(RepoError) as caught:
        ensure_local(RepoSnapshot("r", None, str(tmp_path / "nowhere")), str(tmp_path / "cache"))
    assert "not a directory on this machine" in str(caught.value) and "\n" not in str(caught.value)
    with pytest.raises(RepoError):
        stage_snapshot(RepoSnapshot("r", None, str(tmp_path / "nowhere")), str(tmp_path / "staging"))


def test_a_tree_over_the_limit_is_refused(tmp_path: Path) -> None:
    root = tmp_path / "plain"
    plain_tree(root)
    with pytest.raises(RepoError) as caught:
        stage_snapshot(materialise(str(root), str(tmp_path / "cache")), str(tmp_path / "staging"), max_bytes=20)
    assert "too large to stage" in str(caught.value) and "\n" not in str(caught.value)
    assert not (tmp_path / "staging").exists()


# --- hostile archives -----------------------------------------------------------------------------

def _member(name: str, kind: bytes = tarfile.REGTYPE, data: bytes = b"", link: str = "", mode: int = 0o644
            ) -> tuple[tarfile.TarInfo, bytes]:
    info = tarfile.TarInfo(name)
    info.type, info.linkname, info.mode, info.size = kind, link, mode, len(data) if kind == tarfile.REGTYPE else 0
    return info, data


def _hostile_tar(path: Path, members: list[tuple[tarfile.TarInfo, bytes]]) -> None:
    with tarfile.open(path, "w", format=tarfile.GNU_FORMAT) as tar:
        for info, data in members:
            tar.addfile(info, io.BytesIO(data) if info.isreg() else None)


HOSTILE_MEMBERS = {
    "absolute": [_member("/abs_escape.py", data=b"x = 1\n")],
    "dotdot": [_member("../../../dotdot_escape.py", data=b"x = 1\n")],
    "dotdot_inside": [_member("sub", tarfile.DIRTYPE), _member("sub/../../dotdot_escape2.py", data=b"x = 1\n")],
    "undeclared_parent": [_member("nowhere/x.py", data=b"x = 1\n")],
    "through_link": [_member("out", tarfile.SYMTYPE, link="/tmp"), _member("out/pwned.py", data=b"x = 1\n")],
    "twice": [_member("a.py", data=b"x = 1\n"), _member("a.py", data=b"x = 2\n")],
    "dot_git": [_member(".git", tarfile.DIRTYPE), _member(".git/config", data=b"[core]\n")],
    "hard_link": [_member("hard_abs", tarfile.LNKTYPE, link="/etc/hostname")],
    "char_device": [_member("tty", tarfile.CHRTYPE)],
    "block_device": [_member("disk", tarfile.BLKTYPE)],
    "fifo": [_member("pipe", tarfile.FIFOTYPE)],
    "truncated": [_member("cut.py", data=b"x = 1\n")],
}


@pytest.mark.parametrize("case", sorted(HOSTILE_MEMBERS))
def test_a_hostile_archive_is_refused_whole_and_writes_nothing(tmp_path: Path, case: str) -> None:
    staging = tmp_path / "staging" / "repos"
    staging.mkdir(parents=True)
    cache = tmp_path / "deep" / "worker" / "cache"
    snap = RepoSnapshot("https://example.com/evil.git", "b" * 40, "/launcher/evil", archive=str(staging / "evil.tar"))
    _hostile_tar(staging / "evil.tar", [_member("ok.py", data=b"def f():\n    return 1\n"), *HOSTILE_MEMBERS[case]])
    if case == "truncated":  # the archive ends inside the last file's content
        raw = (staging / "evil.tar").read_bytes()
        (staging / "evil.tar").write_bytes(raw[:512 * 3 + 3])
    (tmp_path / "victim.txt").write_text("keep me\n", encoding="utf-8")
    before = tree(tmp_path)
    with pytest.raises(UnsafeArchive) as caught:
        ensure_local(snap, str(cache))
    assert caught.value.reason == "unsafe_archive" and "\n" not in str(caught.value)
    made = tree(tmp_path) - before
    cache_dirs = {str(p) for p in Path(staged_root(snap, str(cache))).relative_to(tmp_path).parents if str(p) != "."}
    assert made <= cache_dirs, made - cache_dirs  # nothing but the cache's own (empty) folders
    assert not os.path.exists(staged_root(snap, str(cache)))
    assert (tmp_path / "victim.txt").read_text(encoding="utf-8") == "keep me\n"


def test_links_stay_only_where_they_resolve_inside(tmp_path: Path) -> None:
    staging = tmp_path / "staging"
    staging.mkdir()
    _hostile_tar(staging / "links.tar", [
        _member("ok.py", data=b"def f():\n    return 1\n"),
        _member("pkg", tarfile.DIRTYPE),
        _member("pkg/core.py", data=b"x = 1\n"),
        _member("suid.py", data=b"x = 1\n", mode=0o6777),
        _member("inside_link.py", tarfile.SYMTYPE, link="ok.py"),
        _member("pkg/up.py", tarfile.SYMTYPE, link="../ok.py"),
        _member("etc_link", tarfile.SYMTYPE, link="/etc"),
        _member("up_link", tarfile.SYMTYPE, link="../.."),
        _member("step", tarfile.SYMTYPE, link="pkg"),
        _member("step_out", tarfile.SYMTYPE, link="step/../.."),  # through a link, then up: outside
        _member("chain", tarfile.SYMTYPE, link="inside_link.py"),
        _member("loop_a", tarfile.SYMTYPE, link="loop_b"),
        _member("loop_b", tarfile.SYMTYPE, link="loop_a"),
    ])
    snap = RepoSnapshot("links", "d" * 40, "/nowhere", archive=str(staging / "links.tar"))
    local = ensure_local(snap, str(tmp_path / "cache"))
    target = Path(local.root)
    for path in target.rglob("*"):
        st = path.lstat()
        assert stat.S_ISREG(st.st_mode) or stat.S_ISDIR(st.st_mode) or stat.S_ISLNK(st.st_mode), path
        assert stat.S_ISLNK(st.st_mode) or not st.st_mode & (stat.S_ISUID | stat.S_ISGID | stat.S_IWOTH), path
        if path.is_symlink():
            resolved = Path(os.path.realpath(path))
            assert resolved == target or target in resolved.parents, (path, resolved)
    kept = {"inside_link.py": "ok.py", "pkg/up.py": "../ok.py", "step": "pkg", "chain": "inside_link.py"}
    for name, link in kept.items():
        assert os.readlink(target / name) == link
    for name in ("etc_link", "up_link", "step_out", "loop_a", "loop_b"):  # made to point at themselves
        assert os.readlink(target / name) == name.rsplit("/", 1)[-1]
    reasons = {f.path: reason for f, _raw, reason in iter_files(local)}
    assert reasons["ok.py"] is None and reasons["etc_link"] == reasons["up_link"] == reasons["step"] == "symlink"


# --- races ----------------------------------------------------------------------------------------

@pytest.mark.parametrize("shared_lock", [True, False], ids=["threads", "processes-racing"])
def test_concurrent_ensure_local_gives_one_tree(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, shared_lock: bool) -> None:
    repo = git_repo(tmp_path / "tinytext")
    snap = materialise(str(repo), str(tmp_path / "launcher"))
    staged = stage_snapshot(snap, str(tmp_path / "staging"))
    expected = listing(snap)
    if not shared_lock:  # as two processes: no in-process lock, both download and extract, one rename wins
        monkeypatch.setattr(staging_io, "_lock", lambda key: threading.Lock())
    cache = str(tmp_path / "worker")
    barrier = threading.Barrier(4)
    results: list[RepoSnapshot | BaseException] = []

    def work() -> None:
        barrier.wait()
        try:
            results.append(ensure_local(staged, cache))
        except BaseException as exc:  # reported below
            results.append(exc)

    threads = [threading.Thread(target=work) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert len(results) == 4 and all(isinstance(r, RepoSnapshot) for r in results), results
    assert len({r.root for r in results}) == 1
    root = results[0].root
    assert os.listdir(os.path.dirname(root)) == [os.path.basename(root)]  # the losers' temp dirs are gone
    assert listing(results[0]) == expected


# --- the Beam part on a snapshot whose root is gone ------------------------------------------------

def _essence(fn: CodeFunction) -> tuple:
    return (fn.repo.uri, fn.repo.commit, fn.repo.license, fn.path, fn.module, fn.import_root, fn.symbol, fn.code,
            fn.start_line, fn.end_line, fn.tests)


def _counts(counts: dict) -> dict:
    return {s: {k: e[k] for k in ("read", "written", "filtered", "dead_lettered")} for s, e in counts.items() if e["read"]}


@pytest.mark.parametrize("kind", ["git", "plain"])
def test_read_and_extract_a_staged_snapshot_whose_root_is_gone(tmp_path: Path, kind: str) -> None:
    source = git_repo(tmp_path / "tinytext") if kind == "git" else Path(shutil.copytree(TINYTEXT, tmp_path / "tinytext"))
    launcher = tmp_path / "launcher-cache"
    snap = materialise(str(source), str(launcher))
    original, dead, counts = run_pipeline([snap], tmp_path / "original")
    assert dead == [] and {f.symbol for f in original} >= {"clamp", "digit_sum", "count_words", "Counter.add", "mean"}

    staged = stage_snapshot(snap, str(tmp_path / "out" / ".staging"))
    shutil.rmtree(launcher, ignore_errors=True)
    shutil.rmtree(source)  # the launcher's copy (plain: the directory itself) is not there for the workers
    assert not os.path.exists(staged.root)
    worker = str(tmp_path / "worker-cache")
    functions, dead, staged_counts = run_pipeline([staged], tmp_path / "staged", cache_dir=worker,
                                                      direct_num_workers=2, direct_running_mode="multi_threading")
    assert dead == []
    assert sorted(map(_essence, functions)) == sorted(map(_essence, original))  # the same functions, the same tests
    assert all(f.repo.root == staged_root(staged, worker) and f.repo.archive == staged.archive for f in functions)
    assert _counts(staged_counts) == _counts(counts)


def test_the_join_key_does_not_depend_on_where_the_snapshot_lies(tmp_path: Path) -> None:
    snap = RepoSnapshot("https://example.com/r.git", "d" * 40, "/launcher/cache/r")
    fn = CodeFunction(snap, "m.py", "m", "", "f", "def f():", "Doc.", "def f():\n    return 1\n", 1, 2, "")
    moved = dataclasses.replace(fn, repo=dataclasses.replace(snap, root="/worker/cache/r", archive="s3://b/r.tar"))
    assert fn_key(fn) == fn_key(moved) == ("https://example.com/r.git", "d" * 40, "m", "f")
    plain = dataclasses.replace(fn, repo=RepoSnapshot("/src/r", None, "/src/r"))
    assert fn_key(plain) == ("/src/r", "", "m", "f")


def test_names_that_are_not_utf8_and_huge_blobs_survive_staging(tmp_path: Path) -> None:
    from tests.pipelines.hostile_git import FILE, HostileRepo

    repo = HostileRepo(tmp_path / "repo")
    big = repo.blob_from_stream(["head", "-c", str(staging_io.OMIT_BLOB_BYTES + 1), "/dev/zero"])
    repo.commit(repo.tree([*repo.files({b"m\xff.py": b"x = 1\n", b"ok.py": b"x = 2\n"}), (FILE, b"big.bin", big)]))
    snap = materialise(str(repo.path), str(tmp_path / "launcher"))
    assert os.lstat(os.path.join(snap.root, "big.bin")).st_blocks == 0  # never written: a sparse stand-in
    before = listing(snap)
    staged = stage_snapshot(snap, str(tmp_path / "staging"))
    assert os.path.getsize(staged.archive) < 1 << 20
    local = ensure_local(staged, str(tmp_path / "worker"))
    assert listing(local) == before
    reasons = {path: reason for path, _size, reason, _raw in before}
    assert reasons["m\udcff.py"] == "not_utf8" and reasons["big.bin"] == "not_python" and reasons["ok.py"] is None
    assert os.path.getsize(os.path.join(local.root, "big.bin")) == staging_io.OMIT_BLOB_BYTES + 1
