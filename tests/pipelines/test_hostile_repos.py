"""``reverse-o1 code-cot`` on repositories built to attack what runs before and around the sandbox:
archives that escape the snapshot folder, names that are not UTF-8, huge blobs, oversized
snapshots and git transports that run commands. Each is built in the test with git's plumbing
(``tests/pipelines/hostile_git.py``); after each run nothing exists outside the cache and the output,
the manifest adds up and the exit is 0 (or 2 with one line for a refused transport)."""

from __future__ import annotations

import os
import time
from pathlib import Path

import pytest

from pipelines.sources.code.repos import materialise
from pipelines.sources.code.safe_tree import Budget, UnsafeArchive
from tests.pipelines.helpers import assert_balanced, run, scripted
from tests.pipelines.hostile_git import FILE, HostileRepo, symlink_chain_escape

GOOD = {b"m.py": b'def double_it(x):\n    """Twice x.\n\n    >>> double_it(2)\n    4\n    """\n    return 2 * x\n'}
FORWARD = ("1. I need to work out what the task asks for from the docstring.\n"
           "2. Then I handle the edge cases before the main case.\n"
           "3. Finally I return the value the docstring promises.")
POLICY = scripted([("For your eyes only", FORWARD), ("def double_it(", "```python\ndef double_it(x):\n    return x + x\n```")],
                  default="I cannot write that.")


def code_cot(work: Path, repo: str, *extra: str) -> int:
    return run(["code-cot", "--repo", repo, "--out", work / "out", "--backend", "scripted", "--model", POLICY,
                "--sandbox-timeout", "4", "--repo-cache", work / "cache", "--quiet", *extra])


def everything(top: Path, skip: tuple[Path, ...]) -> set[str]:
    """Every path under ``top``, except below the folders of ``skip``."""
    found = set()
    for dirpath, dirnames, filenames in os.walk(top):
        dirnames[:] = [d for d in dirnames if Path(dirpath, d) not in skip]
        found.update(os.path.join(dirpath, n) for n in dirnames + filenames)
    return found


def listed(out: Path) -> dict[str, int]:
    return assert_balanced(out)["stages"]["code-cot/list_files"]["filtered"]


@pytest.fixture()
def work(tmp_path: Path) -> Path:
    """A folder six levels down, so that an escape of five levels above the snapshot lands in tmp_path."""
    deep = tmp_path.joinpath("l1", "l2", "l3", "l4", "l5", "work")
    deep.mkdir(parents=True)
    return deep


def test_a_symlink_chain_escape_is_refused_and_writes_nothing_outside(tmp_path: Path, work: Path) -> None:
    absolute = tmp_path / "absolute_target"
    absolute.mkdir()
    repo = HostileRepo(work / "repo")
    entries = symlink_chain_escape(repo, {b"escape": b"../" * 5, b"escabs": b"../" * 64 + bytes(absolute).lstrip(b"/")})
    repo.commit(repo.tree(entries + repo.files(GOOD)))
    before = everything(tmp_path, (work / "out", work / "cache", work / "repo"))
    assert code_cot(work, str(work / "repo")) == 3  # no rows: the one repository was refused
    after = everything(tmp_path, (work / "out", work / "cache", work / "repo"))
    assert after == before and (work / "out" / "manifest.json").is_file()
    assert list(absolute.iterdir()) == [] and not Path("/pwned").exists()
    assert listed(work / "out") == {"unsafe_archive": 1}  # one entry: the whole repository
    snapshots = work / "cache" / "repos"
    assert not snapshots.exists() or all(not list(p.iterdir()) for p in snapshots.iterdir())  # no partial tree


def test_a_refused_repository_does_not_stop_the_others(tmp_path: Path, work: Path) -> None:
    bad = HostileRepo(work / "bad")
    bad.commit(bad.tree([(FILE, b"..", bad.blob(b"x = 1\n")), *bad.files(GOOD)]))
    good = HostileRepo(work / "good")
    good.commit(good.tree(good.files(GOOD)))
    assert run(["code-cot", "--repo", work / "bad", work / "good", "--out", work / "out", "--backend", "scripted",
                "--model", POLICY, "--sandbox-timeout", "4", "--repo-cache", work / "cache", "--quiet"]) == 0
    data = assert_balanced(work / "out")
    assert data["stages"]["code-cot/list_files"]["filtered"]["unsafe_archive"] == 1
    assert data["stages"]["code-cot/original_tests"]["read"] == 1  # double_it of the good repository


def test_a_name_that_is_not_utf8_is_a_filter_reason(work: Path) -> None:
    repo = HostileRepo(work / "repo")
    sub = repo.tree(repo.files({b"x.py": b"def f():\n    return 1\n"}))
    repo.commit(repo.tree([*repo.files({b"m\xff.py": GOOD[b"m.py"]}), (b"40000", b"d\xfe", sub), *repo.files(GOOD)]))
    assert code_cot(work, str(work / "repo")) == 0
    assert listed(work / "out") == {"not_utf8": 2}  # the file, and the folder counted once


def test_a_huge_blob_is_never_written(work: Path) -> None:
    repo = HostileRepo(work / "repo")
    zeros = repo.blob_from_stream(["head", "-c", str(1 << 30), "/dev/zero"])  # 1 GiB, about 1 MB in git
    repo.commit(repo.tree([(FILE, b"zeros.bin", zeros), (FILE, b"zeros.py", zeros), *repo.files(GOOD)]))
    assert code_cot(work, str(work / "repo")) == 0
    assert listed(work / "out") == {"not_python": 1, "too_large": 1}
    used = sum(os.lstat(os.path.join(d, f)).st_blocks * 512 for d, _, fs in os.walk(work / "cache" / "repos") for f in fs)
    assert used < 1 << 20  # placeholders: sparse files of the blob's size


def test_a_snapshot_over_its_budget_is_refused(work: Path) -> None:
    repo = HostileRepo(work / "repo")
    blobs = {f"f{i}.txt".encode(): bytes([i]) * 300_000 for i in range(8)}  # 2.4 MB of files
    repo.commit(repo.tree(repo.files({**blobs, **GOOD})))
    with pytest.raises(UnsafeArchive) as caught:
        materialise(str(work / "repo"), str(work / "c1"), Budget(max_bytes=1 << 20))
    assert caught.value.reason == "snapshot_too_large" and caught.value.snapshot is not None
    with pytest.raises(UnsafeArchive):
        materialise(str(work / "repo"), str(work / "c1"), Budget(max_entries=5))
    assert code_cot(work, str(work / "repo"), "--max-snapshot-bytes", str(1 << 20)) == 3
    assert listed(work / "out") == {"snapshot_too_large": 1}
    assert code_cot(work, str(work / "repo"), "--max-snapshot-files", "4", "--out", work / "out2") == 3
    assert listed(work / "out2") == {"snapshot_too_large": 1}


@pytest.mark.parametrize("spec", ["fd::7", "ext::sh -c touch% {marker}", "ext::sh -c 'touch {marker}'"])
def test_command_running_transports_are_refused_in_one_line(work: Path, spec: str, capsys: pytest.CaptureFixture) -> None:
    marker = work / "ran"
    started = time.monotonic()
    code = code_cot(work, spec.format(marker=marker))
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 2 and time.monotonic() - started < 60  # not git's 600 s timeout
    assert len(err) == 1 and "transport" in err[0] and "not allowed" in err[0]
    assert not marker.exists()


def test_git_itself_refuses_a_command_transport(work: Path) -> None:
    """``GIT_ALLOW_PROTOCOL`` holds git to the same list, whatever reaches it (a submodule URL, a redirect)."""
    from pipelines.sources.code.repos import RepoError, git

    marker = work / "ran"
    with pytest.raises(RepoError) as caught:
        git(["clone", "--bare", "--", f"ext::sh -c touch% {marker}", str(work / "clone")], timeout=60)
    assert "not allowed" in str(caught.value) or "unsupported" in str(caught.value)
    assert not marker.exists()
