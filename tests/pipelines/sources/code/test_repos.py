"""Repository specs, snapshots (plain dir, local git at a revision, file:// clone), licences, listing."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

from pipelines.sources.code.repos import RepoError, detect_license, list_files, materialise, parse_repo_spec
from schemas.code import RepoSnapshot

MIT = "MIT License\n\nCopyright (c) 2024 X\n\nPermission is hereby granted, free of charge, to any person obtaining a copy"
BSD3 = ("Redistribution and use in source and binary forms, with or without modification, are permitted...\n"
        "3. Neither the name of the copyright holder nor the names of its contributors may be used to endorse")


def git(cwd: Path, *args: str) -> str:
    env = {**os.environ, "GIT_AUTHOR_NAME": "t", "GIT_AUTHOR_EMAIL": "t@example.com", "GIT_COMMITTER_NAME": "t",
           "GIT_COMMITTER_EMAIL": "t@example.com", "GIT_CONFIG_NOSYSTEM": "1", "GIT_CONFIG_GLOBAL": os.devnull}
    done = subprocess.run(["git", "-c", "init.defaultBranch=main", *args], cwd=cwd, env=env, check=True,
                          capture_output=True, text=True)
    return done.stdout.strip()


def make_repo(path: Path, files: dict[str, str]) -> Path:
    path.mkdir(parents=True, exist_ok=True)
    git(path, "init", "-q")
    commit(path, files, "first")
    return path


def commit(path: Path, files: dict[str, str | None], message: str) -> str:
    for name, text in files.items():
        target = path / name
        if text is None:
            target.unlink()
            continue
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(text, encoding="utf-8")
    git(path, "add", "-A")
    git(path, "commit", "-q", "-m", message)
    return git(path, "rev-parse", "HEAD")


def listed(snapshot: RepoSnapshot, max_file_bytes: int = 1_000_000) -> dict[str, str | None]:
    return {f.path: reason for f, reason in list_files(snapshot, max_file_bytes)}


@pytest.mark.parametrize(("spec", "expected"), [
    ("/src/repo", ("/src/repo", None)),
    ("/src/repo@v1.2", ("/src/repo", "v1.2")),
    ("git@github.com:owner/repo.git", ("git@github.com:owner/repo.git", None)),
    ("git@github.com:owner/repo.git@abc123", ("git@github.com:owner/repo.git", "abc123")),
    ("https://example.com/o/r.git@main", ("https://example.com/o/r.git", "main")),
    ("https://user@example.com/o/r.git", ("https://user@example.com/o/r.git", None)),
    ("ssh://git@example.com:22/o/r", ("ssh://git@example.com:22/o/r", None)),
])
def test_parse_repo_spec(spec: str, expected: tuple[str, str | None]) -> None:
    assert parse_repo_spec(spec) == expected


def test_plain_directory_is_read_in_place(tmp_path: Path) -> None:
    root = tmp_path / "plain"
    root.mkdir()
    (root / "LICENSE").write_text(MIT)
    (root / "m.py").write_text("x = 1\n")
    snap = materialise(str(root), str(tmp_path / "cache"))
    assert snap == RepoSnapshot(f"file://{root}", None, str(root), "MIT")  # an absolute file:// URI, whatever was named
    with pytest.raises(RepoError, match="not a git repository"):
        materialise(f"{root}@v1", str(tmp_path / "cache"))


def test_local_git_repo_at_a_revision(tmp_path: Path) -> None:
    gpl = "GNU GENERAL PUBLIC LICENSE\nVersion 3"
    repo = make_repo(tmp_path / "repo", {"old.py": "def old():\n    return 1\n", "COPYING": gpl})
    first = git(repo, "rev-parse", "HEAD")
    git(repo, "tag", "v1")
    second = commit(repo, {"old.py": None, "new.py": "def new():\n    return 2\n"}, "second")
    cache = tmp_path / "cache"

    head = materialise(str(repo), str(cache))
    assert head.commit == second and head.license == "GPL-3.0"
    assert sorted(os.listdir(head.root)) == ["COPYING", "new.py"]
    assert head.root.startswith(str(cache / "repos"))

    old = materialise(f"{repo}@v1", str(cache))
    assert old.commit == first and sorted(os.listdir(old.root)) == ["COPYING", "old.py"]
    assert materialise(f"{repo}@{first[:10]}", str(cache)).root == old.root  # reused
    assert not os.path.exists(os.path.join(old.root, ".git"))


def test_clone_through_a_file_remote(tmp_path: Path) -> None:
    repo = make_repo(tmp_path / "remote", {"a.py": "A = 1\n", "LICENSE.txt": "Apache License\nVersion 2.0, January 2004"})
    cache = tmp_path / "cache"
    url = f"file://{repo}"
    snap = materialise(url, str(cache))
    assert snap.uri == url and snap.license == "Apache-2.0" and snap.commit == git(repo, "rev-parse", "HEAD")
    assert (Path(snap.root) / "a.py").read_text() == "A = 1\n"
    assert len(os.listdir(cache / "clones")) == 1
    newer = commit(repo, {"b.py": "B = 2\n"}, "more")
    again = materialise(url + "@main", str(cache))  # fetched into the existing clone
    assert again.commit == newer and sorted(os.listdir(again.root)) == ["LICENSE.txt", "a.py", "b.py"]


def test_bad_specs_give_one_line_errors(tmp_path: Path) -> None:
    repo = make_repo(tmp_path / "repo", {"a.py": "A = 1\n"})
    cache = str(tmp_path / "cache")
    for spec in (f"{repo}@no-such-rev", str(tmp_path / "missing"), f"file://{tmp_path}/missing.git", ""):
        with pytest.raises(RepoError) as info:
            materialise(spec, cache)
        assert "\n" not in str(info.value) and str(info.value)


def test_hostile_git_config_runs_nothing(tmp_path: Path) -> None:
    repo = make_repo(tmp_path / "repo", {"a.py": "A = 1\n", ".gitattributes": "* filter=evil\n"})
    marker = tmp_path / "pwned"
    git(repo, "config", "filter.evil.smudge", f"sh -c 'touch {marker}; cat'")
    git(repo, "config", "core.fsmonitor", f"sh -c 'touch {marker}'")
    hook = repo / ".git" / "hooks" / "post-checkout"
    hook.write_text(f"#!/bin/sh\ntouch {marker}\n")
    hook.chmod(0o755)
    snap = materialise(str(repo), str(tmp_path / "cache"))
    assert (Path(snap.root) / "a.py").read_text() == "A = 1\n"
    assert not marker.exists()


@pytest.mark.parametrize(("name", "text", "spdx"), [
    ("LICENSE", MIT, "MIT"), ("LICENSE.md", BSD3, "BSD-3-Clause"), ("LICENCE", "Redistribution and use in source "
     "and binary forms, with or without modification", "BSD-2-Clause"),
    ("COPYING", "GNU LESSER GENERAL PUBLIC LICENSE\nVersion 3", "LGPL-3.0"),
    ("LICENSE.rst", "Permission to use, copy, modify, and/or distribute this software for any purpose with or without fee",
     "ISC"),
    ("LICENSE", "Mozilla Public License Version 2.0", "MPL-2.0"),
    ("LICENSE", "This is free and unencumbered software released into the public domain.", "Unlicense"),
    ("LICENSE", "PYTHON SOFTWARE FOUNDATION LICENSE VERSION 2", "PSF-2.0"),
    ("COPYING.txt", "All rights reserved by nobody in particular.", "see COPYING.txt"),
])
def test_detect_license(tmp_path: Path, name: str, text: str, spdx: str) -> None:
    (tmp_path / name).write_text(text)
    assert detect_license(str(tmp_path)) == spdx


def test_no_license(tmp_path: Path) -> None:
    (tmp_path / "README").write_text("hi")
    assert detect_license(str(tmp_path)) is None


def test_list_files_reasons_in_a_plain_directory(tmp_path: Path) -> None:
    root = tmp_path / "r"
    for rel, data in {
        "pkg/__init__.py": b"", "pkg/mod.py": b"def f():\n    return 1\n", "README.md": b"# hi\n",
        "pkg/blob.py": b"x = 1\x00\x01", "big.py": b"#" * 2000 + b"\n", "pkg/msg_pb2.py": b"x = 1\n",
        "gen.py": b"# Code generated by protoc. DO NOT EDIT.\nx = 1\n", "vendor/lib.py": b"x = 1\n",
        "node_modules/a/b.py": b"x = 1\n", "pkg.egg-info/x.py": b"", ".git/config": b"[core]\n",
        ".gitignore": b"*.log\nout/\nsecret_*.py\n!secret_ok.py\n", "out/x.py": b"", "a.log": b"",
        "secret_key.py": b"", "secret_ok.py": b"", "sub/.gitignore": b"local.py\n", "sub/local.py": b"", "sub/kept.py": b"",
    }.items():
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)
    os.symlink("loop_b.py", root / "loop_a.py")
    os.symlink("loop_a.py", root / "loop_b.py")
    os.symlink(str(root / "pkg"), root / "pkg_link")
    os.symlink("/etc/passwd", root / "passwd.py")
    got = listed(RepoSnapshot(str(root), None, str(root)), max_file_bytes=1000)
    assert got == {
        ".gitignore": "not_python", "README.md": "not_python", "a.log": "gitignored", "big.py": "too_large",
        "gen.py": "generated", "loop_a.py": "symlink", "loop_b.py": "symlink", "node_modules/": "vendored",
        "out/": "gitignored", "passwd.py": "symlink", "pkg.egg-info/": "vendored", "pkg/__init__.py": None,
        "pkg/blob.py": "binary", "pkg/mod.py": None, "pkg/msg_pb2.py": "generated", "pkg_link": "symlink",
        "secret_key.py": "gitignored", "secret_ok.py": None, "sub/.gitignore": "not_python", "sub/kept.py": None,
        "sub/local.py": "gitignored", "vendor/": "vendored",
    }


def test_list_files_of_a_commit_ignores_gitignore_but_not_symlinks(tmp_path: Path) -> None:
    repo = make_repo(tmp_path / "repo", {".gitignore": "*.py\n", "a.txt": "x"})
    (repo / "tracked.py").write_text("x = 1\n")
    git(repo, "add", "-f", "tracked.py")
    os.symlink("/etc/passwd", repo / "link.py")
    git(repo, "add", "-f", "link.py")
    git(repo, "commit", "-q", "-m", "more")
    snap = materialise(str(repo), str(tmp_path / "cache"))
    assert listed(snap) == {".gitignore": "not_python", "a.txt": "not_python", "link.py": "symlink", "tracked.py": None}


def test_unreadable_entries_are_counted(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    root = tmp_path / "r"
    (root / "locked").mkdir(parents=True)
    (root / "locked" / "a.py").write_text("")
    (root / "ok.py").write_text("")
    real_walk = os.walk

    def walk(top, topdown=True, onerror=None, followlinks=False):  # as if "locked" were mode 000 (tests run as root)
        for dirpath, dirnames, filenames in real_walk(top, topdown, onerror, followlinks):
            if "locked" in dirnames:
                dirnames.remove("locked")
                onerror(PermissionError(13, "Permission denied", os.path.join(dirpath, "locked")))
            yield dirpath, dirnames, filenames

    monkeypatch.setattr("pipelines.sources.code.repos.os.walk", walk)
    assert listed(RepoSnapshot(str(root), None, str(root))) == {"locked/": "unreadable", "ok.py": None}


def test_a_local_repo_is_read_at_its_current_head_every_time(tmp_path: Path) -> None:
    """The cached clone must not pin the commit of its first run: a branch switch, a new commit on a
    detached HEAD, and a SHA only that detached HEAD reaches all resolve in the source repo."""
    src = make_repo(tmp_path / "src", {"a.py": "x = 1\n"})
    cache = str(tmp_path / "cache")
    git(src, "checkout", "-q", "-b", "feature")
    feature = commit(src, {"a.py": "x = 2\n"}, "two")
    assert materialise(str(src), cache).commit == feature
    git(src, "checkout", "-q", "main")
    main = materialise(str(src), cache)
    assert main.commit == git(src, "rev-parse", "main") and Path(main.root, "a.py").read_text() == "x = 1\n"
    git(src, "checkout", "-q", "--detach")
    detached = commit(src, {"a.py": "x = 3\n"}, "three")
    snap = materialise(str(src), cache)
    assert snap.commit == detached and Path(snap.root, "a.py").read_text() == "x = 3\n"
    assert materialise(f"{src}@{detached}", cache).commit == detached


def test_snapshot_uri_is_the_origin_without_credentials_or_an_absolute_file_uri(tmp_path: Path,
                                                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    from pipelines.sources.code.repos import repo_uri

    repo = make_repo(tmp_path / "repo", {"a.py": "A = 1\n"})
    monkeypatch.chdir(tmp_path)
    assert repo_uri("repo") == f"file://{repo}"  # no origin: where it is, absolutely
    git(repo, "remote", "add", "origin", "https://user:tok3n@example.com/o/r.git")
    snap = materialise("repo", str(tmp_path / "cache"))
    assert snap.uri == "https://example.com/o/r.git" and snap.commit == git(repo, "rev-parse", "HEAD")
    git(repo, "remote", "set-url", "origin", "git@github.com:o/r.git")  # the scp form holds no secret: kept
    assert repo_uri(str(repo)) == "git@github.com:o/r.git"
    git(repo, "remote", "set-url", "origin", "../upstream")  # relative to the repository
    assert repo_uri("repo") == f"file://{tmp_path / 'upstream'}"
    assert repo_uri("https://ghp_abc@github.com/o/r.git") == "https://github.com/o/r.git"


def test_a_plain_folder_skips_the_runs_own_output_and_cache(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """``code-cot --repo FOLDER --out FOLDER/out``: the output (and a cache inside) is never walked,
    and the command says how big the folder is before it starts."""
    from pipelines.sources.code.repos import iter_files, walk_plain
    from tests.pipelines.helpers import run

    (tmp_path / "pkg").mkdir()
    (tmp_path / "pkg" / "m.py").write_text('def add(a, b):\n    """Add.\n\n    >>> add(1, 2)\n    3\n    """\n'
                                           "    return a + b\n", encoding="utf-8")
    (tmp_path / "out" / "sft").mkdir(parents=True)
    (tmp_path / "out" / "sft" / "leftover.py").write_text("def f():\n    return 1\n", encoding="utf-8")
    (tmp_path / "cache").mkdir()
    snapshot = materialise(str(tmp_path), str(tmp_path / "cache"))
    snapshot, files, python = walk_plain(snapshot, [str(tmp_path / "out"), str(tmp_path / "cache"), "/elsewhere"])
    assert snapshot.skip == ("cache", "out") and (files, python) == (1, 1)
    reasons = {entry.path: reason for entry, _raw, reason in iter_files(snapshot)}
    assert reasons == {"cache/": "output_or_cache", "out/": "output_or_cache", "pkg/m.py": None}

    code = run(["code-cot", "--repo", tmp_path, "--out", tmp_path / "out", "--backend", "scripted"])
    assert code in (0, 3)  # the scripted CoT may not pass the filters: what matters is what was walked
    err = capsys.readouterr().err
    assert f"{tmp_path} is a plain folder, not a git repository: 1 file, 1 Python" in err
    assert "skipped inside it: out" in err
