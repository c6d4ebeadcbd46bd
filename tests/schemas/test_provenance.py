"""``schemas.provenance``: the normal form of ``source.uri``, known repositories, licences from their text."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from pipelines.io.licenses import file_licenses
from schemas.provenance import known_repo_license, repo_key, source_uri, spdx_from_text

SAMPLES = Path(__file__).resolve().parents[2] / "samples"


@pytest.mark.parametrize(("given", "expected"), [
    ("https://user:secret@example.com/o/r.git", "https://example.com/o/r.git"),
    ("https://ghp_token@github.com/o/r?private_token=x#frag", "https://github.com/o/r"),
    ("ssh://git:pw@host/r.git", "ssh://git@host/r.git"),
    ("git@github.com:o/r.git", "git@github.com:o/r.git"),
    ("s3://bucket/in/x.jsonl", "s3://bucket/in/x.jsonl"),
    ("gs://bucket/x", "gs://bucket/x"),
    ("file:///abs/x.jsonl", "file:///abs/x.jsonl"),
    ("https://github.com/leanprover-community/mathlib4", "https://github.com/leanprover-community/mathlib4"),
    ("", ""),
])
def test_source_uri(given: str, expected: str) -> None:
    assert source_uri(given) == expected == source_uri(expected)  # idempotent


def test_a_relative_path_becomes_an_absolute_file_uri() -> None:
    assert source_uri("out/demo/tinytext-repo") == f"file://{os.getcwd()}/out/demo/tinytext-repo"


def test_known_repositories() -> None:
    for url in ("https://github.com/leanprover-community/mathlib4", "https://github.com/leanprover-community/mathlib4.git",
                "git@github.com:leanprover-community/mathlib4.git", "https://GitHub.com/leanprover-community/Mathlib4/"):
        assert repo_key(url) == "github.com/leanprover-community/mathlib4" and known_repo_license(url) == "Apache-2.0"
    assert known_repo_license("https://github.com/yangky11/miniF2F-lean4") is None  # not guessed
    assert known_repo_license("file:///x/y.jsonl") is None and known_repo_license(None) is None


@pytest.mark.parametrize(("text", "spdx"), [
    ((SAMPLES / "gsm8k" / "LICENSE").read_text(), "MIT"),
    ("Apache License\nVersion 2.0, January 2004", "Apache-2.0"),
    ("Redistribution and use in source and binary forms ... Neither the name of", "BSD-3-Clause"),
    ("Redistribution and use in source and binary forms, with or without modification", "BSD-2-Clause"),
    ("GNU GENERAL PUBLIC LICENSE\nVersion 2, June 1991", "GPL-2.0"),
    ("GNU GENERAL PUBLIC LICENSE\nVersion 3, 29 June 2007", "GPL-3.0"),
    ("Attribution 4.0 International\n... Creative Commons Attribution 4.0 International Public License", "CC-BY-4.0"),
    ("Creative Commons Attribution-ShareAlike 4.0 International Public License", "CC-BY-SA-4.0"),
    ("Creative Commons Legal Code\n\nAttribution 2.0\n\nCREATIVE COMMONS CORPORATION IS NOT A LAW FIRM", "CC-BY-2.0"),
    ("Licensed under https://creativecommons.org/licenses/by/2.0/", "CC-BY-2.0"),
    ("SPDX-License-Identifier: CC-BY-2.0", "CC-BY-2.0"),
    ("All rights reserved. Ask us.", None),
])
def test_spdx_from_text(text: str, spdx: str | None) -> None:
    assert spdx_from_text(text) == spdx


def test_licences_of_input_files(tmp_path: Path) -> None:
    data = tmp_path / "data"
    (data / "a" / "b").mkdir(parents=True)
    (data / "LICENSE.txt").write_text("Apache License\nVersion 2.0")
    (data / "a" / "b" / "x.jsonl").write_text("{}\n")
    (data / "a" / "y.jsonl").write_text("{}\n")
    (data / "a" / "y.jsonl.license").write_text("SPDX-License-Identifier: MIT\n")  # a REUSE sidecar
    (data / "a" / "z.jsonl").write_text("{}\n")
    (data / "a" / "REUSE.toml").write_text('version = 1\n[[annotations]]\npath = "z.*"\nSPDX-License-Identifier = "CC-BY-4.0"\n')
    other = tmp_path / "other"
    other.mkdir()
    (other / "COPYING").write_text("our own terms")
    (other / "w.jsonl").write_text("{}\n")
    files = [str(data / "a" / "b" / "x.jsonl"), str(data / "a" / "y.jsonl"), str(data / "a" / "z.jsonl"), str(other / "w.jsonl")]
    got = file_licenses(files, [str(data), str(other / "w.jsonl")])
    assert got == {files[0]: "Apache-2.0", files[1]: "MIT", files[2]: "CC-BY-4.0", files[3]: f"see file://{other}/COPYING"}
    # a file named alone is looked up in its own folder only, not above it
    assert file_licenses([files[0]], [files[0]]) == {files[0]: None}


def test_the_samples_carry_their_licences() -> None:
    files = [str(SAMPLES / "gsm8k" / "gsm8k_demo.jsonl"), str(SAMPLES / "gsm8k" / "gsm8k_demo_seeds.jsonl"),
             str(SAMPLES / "lean" / "leandojo4_mathlib_3thm.json"), str(SAMPLES / "lean" / "minif2f_valid_3.jsonl")]
    assert list(file_licenses(files, files).values()) == ["MIT", "MIT", "CC-BY-2.0", "MIT"]


def test_hostile_licence_files_never_fail_a_run(tmp_path: Path) -> None:
    """Broken or wrong-typed REUSE.toml, a binary or non-UTF-8 LICENSE, an empty sidecar, a FIFO
    where a LICENSE would be: each lookup gives an answer (a fallback or None), never an exception."""
    cases = {
        "toml": {"REUSE.toml": b"version = 1\n[[annotations]\npath = ",
                 "LICENSE": b"MIT License\n\nPermission is hereby granted"},
        "types": {"REUSE.toml": b'annotations = "x"\n[[other]]\npath = 3\n'},
        "entries": {"REUSE.toml": b'version = 1\n[[annotations]]\npath = 7\nSPDX-License-Identifier = ["MIT"]\n'},
        "binary": {"LICENSE": b"\x00\xff\xfe" * 1000},
        "latin1": {"COPYING": "Licence libre \xe9crite en latin-1".encode("latin-1")},
        "sidecar": {"f.jsonl.license": b""},
    }
    files = []
    for name, contents in cases.items():
        folder = tmp_path / name
        folder.mkdir()
        for entry, raw in contents.items():
            (folder / entry).write_bytes(raw)
        (folder / "f.jsonl").write_text("{}\n")
        files.append(str(folder / "f.jsonl"))
    fifo = tmp_path / "fifo"
    fifo.mkdir()
    os.mkfifo(fifo / "LICENSE")
    (fifo / "f.jsonl").write_text("{}\n")
    files.append(str(fifo / "f.jsonl"))
    got = file_licenses(files, files)
    assert got[files[0]] == "MIT"  # the broken REUSE.toml is ignored, the LICENSE beside it still read
    assert got[files[1]] is None and got[files[2]] is None and got[files[5]] is None
    for path in (files[3], files[4], files[6]):  # a licence file that is not one of the known texts
        assert got[path] is not None and got[path].startswith("see file://"), got
