"""The studio's seed file: one line changed per save, the rest byte for byte, and never a silent overwrite."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from pipelines.studio.seed_file import SeedEditError, SeedFile, SeedFileChanged
from schemas.seeds import SeedError, validate_file

GOOD = {"id": "a", "problem": "What is 1 + 1?", "answer": "2", "steps": [{"text": "1 + 1 = 2.", "factor": "Compute"}]}
# a file as annotators leave them: odd spacing, a unicode line, a bad line, CRLF on one line, no final newline
ORIGINAL = (b'{"id":"x",  "problem":"P?","answer":"1","steps":[{"text":"s"}]}\n'
            b'\n'
            + '{"id": "y", "problem": "caf\u00e9 \u2211?", "answer": "2", "steps": [{"text": "t"}]}\r\n'.encode()
            + b'{"id": "z", "problem": broken\n'
            + b'{"id": "w", "problem": "Q", "answer": "3", "steps": [{"text": "u"}]}')


@pytest.fixture
def seed_file(tmp_path: Path) -> SeedFile:
    path = tmp_path / "seeds.jsonl"
    path.write_bytes(ORIGINAL)
    return SeedFile(str(path), factors=("Compute", "Conclude"))


def lines(path: str) -> list[bytes]:
    return Path(path).read_bytes().splitlines(keepends=True)


def test_entries_show_every_line_with_the_problems_seeds_validate_reports(seed_file: SeedFile) -> None:
    snap = seed_file.snapshot()
    entries = seed_file.entries(snap)
    assert [e["line"] for e in entries] == [1, 3, 4, 5]  # the blank line 2 is not a seed
    bad = entries[2]
    assert "raw" in bad and bad["problems"][0]["field"] == "line" and "malformed JSON" in bad["problems"][0]["message"]
    _, problems = validate_file(seed_file.path, factors=("Compute", "Conclude"))
    assert [f"{seed_file.path}:{p['line']}: {p['field']}: {p['message']}" for e in entries for p in e["problems"]] == problems


def test_replacing_a_line_keeps_every_other_byte(seed_file: SeedFile) -> None:
    snap = seed_file.snapshot()
    result = seed_file.save(snap.version, "replace", 3, seed={**GOOD, "id": "y"})
    after = lines(seed_file.path)
    before = ORIGINAL.splitlines(keepends=True)
    assert after[:2] == before[:2] and after[3:] == before[3:]
    assert after[2] == json.dumps({**GOOD, "id": "y"}, ensure_ascii=False).encode() + b"\r\n"  # its own line ending kept
    assert result["line"] == 3 and result["version"] != snap.version


def test_append_insert_and_delete(seed_file: SeedFile) -> None:
    v = seed_file.snapshot().version
    v = seed_file.save(v, "append", None, seed={**GOOD, "id": "new"})["version"]
    after = lines(seed_file.path)
    assert after[4] == ORIGINAL.splitlines(keepends=True)[4] + b"\n"  # the old last line only gained its newline
    assert json.loads(after[5])["id"] == "new"
    v = seed_file.save(v, "insert_after", 1, seed={**GOOD, "id": "dup"})["version"]
    assert json.loads(lines(seed_file.path)[1])["id"] == "dup"
    seed_file.save(v, "delete", 2)
    assert lines(seed_file.path)[:2] == ORIGINAL.splitlines(keepends=True)[:2]


def test_a_file_changed_on_disk_is_never_overwritten_and_the_edit_can_go_to_a_new_file(seed_file: SeedFile) -> None:
    opened = seed_file.snapshot().version
    outside = ORIGINAL + b'\n{"id": "v", "problem": "R", "answer": "4", "steps": [{"text": "x"}]}\n'
    Path(seed_file.path).write_bytes(outside)  # someone else saved meanwhile
    with pytest.raises(SeedFileChanged) as info:
        seed_file.save(opened, "replace", 1, seed={**GOOD, "id": "x"})
    assert "changed on disk" in str(info.value)
    assert Path(seed_file.path).read_bytes() == outside  # nothing lost
    path, line = seed_file.save_as_new(opened, "replace", 1, seed={**GOOD, "id": "x"})
    assert line == 1
    mine = Path(path).read_bytes().splitlines(keepends=True)
    assert path.endswith(".jsonl") and ".studio-" in path
    assert json.loads(mine[0]) == {**GOOD, "id": "x"} and mine[1:] == ORIGINAL.splitlines(keepends=True)[1:]


def test_an_invalid_seed_is_refused_with_every_problem_and_the_file_untouched(seed_file: SeedFile) -> None:
    v = seed_file.snapshot().version
    bad = {"id": "x", "problem": "", "answer": 3.5, "steps": [{"text": "s", "factor": "Dance"}], "extra": 1}
    with pytest.raises(SeedError) as info:
        seed_file.save(v, "append", None, seed=bad)
    fields = {p.field for p in info.value.problems}
    assert {"problem", "extra"} <= fields
    assert Path(seed_file.path).read_bytes() == ORIGINAL
    dup = seed_file.problems_for(v, "append", None, seed={**GOOD, "id": "w"})
    assert dup and dup[0]["field"] == "id" and "duplicate id" in dup[0]["message"]
    factor = seed_file.problems_for(v, "append", None, seed={**GOOD, "steps": [{"text": "s", "factor": "Dance"}]})
    assert factor[0]["field"] == "steps[0].factor" and "unknown factor" in factor[0]["message"]


def test_the_bad_line_can_be_fixed_as_raw_text(seed_file: SeedFile) -> None:
    v = seed_file.snapshot().version
    with pytest.raises(SeedEditError):
        seed_file.save(v, "replace", 4, raw='{"id": "z"}\n{"id": "q"}')  # one line only
    fixed = '{"id": "z", "problem": "fixed", "answer": "1", "steps": [{"text": "ok"}]}'
    seed_file.save(v, "replace", 4, raw=fixed)
    assert lines(seed_file.path)[3] == fixed.encode() + b"\n"
    assert validate_file(seed_file.path)[1] == []


@pytest.mark.parametrize("line", [0, 99, -1, "3", True, None])
def test_an_edit_of_a_line_that_does_not_exist_is_refused(seed_file: SeedFile, line: object) -> None:
    with pytest.raises(SeedEditError):
        seed_file.save(seed_file.snapshot().version, "replace", line, seed=GOOD)
    assert Path(seed_file.path).read_bytes() == ORIGINAL


def test_a_missing_file_is_created_on_the_first_save(tmp_path: Path) -> None:
    sf = SeedFile(str(tmp_path / "new.jsonl"))
    snap = sf.snapshot()
    assert sf.entries(snap) == []
    sf.save(snap.version, "append", None, seed=GOOD)
    assert (tmp_path / "new.jsonl").read_bytes() == json.dumps(GOOD, ensure_ascii=False).encode() + b"\n"


def test_a_lone_cr_is_not_a_line_break_as_in_seeds_validate(tmp_path: Path) -> None:
    path = tmp_path / "seeds.jsonl"
    cr = b'{"id": "b",\r"problem": "P", "answer": "1", "steps": [{"text": "s"}]}\n'
    path.write_bytes(cr + json.dumps(GOOD).encode() + b"\n")
    sf = SeedFile(str(path))
    entries = sf.entries(sf.snapshot())
    assert [e["line"] for e in entries] == [1, 2] and entries[0]["problems"] == []
    assert validate_file(str(path)) == (2, [])  # the same two seeds


def test_an_outside_write_after_the_check_is_still_refused(seed_file: SeedFile, monkeypatch: pytest.MonkeyPatch) -> None:
    v = seed_file.snapshot().version
    real = seed_file._check

    def meanwhile(*args):  # another editor saves while this save is being checked
        real(*args)
        Path(seed_file.path).write_bytes(b"theirs\n")

    monkeypatch.setattr(seed_file, "_check", meanwhile)
    with pytest.raises(SeedFileChanged):
        seed_file.save(v, "replace", 1, seed={**GOOD, "id": "x"})
    assert Path(seed_file.path).read_bytes() == b"theirs\n"


def test_a_symlinked_seed_file_is_edited_through_the_link(tmp_path: Path) -> None:
    target = tmp_path / "real.jsonl"
    target.write_bytes(b"")
    link = tmp_path / "link.jsonl"
    link.symlink_to(target)
    sf = SeedFile(str(link))
    sf.save(sf.snapshot().version, "append", None, seed=GOOD)
    assert link.is_symlink() and json.loads(target.read_bytes()) == GOOD


def test_ids_carried_across_saves_match_a_fresh_read(seed_file: SeedFile) -> None:
    v = seed_file.snapshot().version
    seed_file.problems_for(v, "append", None, seed=GOOD)  # fills the id cache for this version
    v = seed_file.save(v, "insert_after", 1, seed={**GOOD, "id": "i1"})["version"]
    v = seed_file.save(v, "delete", 4)["version"]
    v = seed_file.save(v, "replace", 2, seed={**GOOD, "id": "r2"})["version"]
    v = seed_file.save(v, "append", None, seed={**GOOD, "id": "e"})["version"]
    carried = seed_file._id_cache[v]
    fresh = SeedFile(seed_file.path)
    assert carried == fresh._ids(fresh.snapshot())
    assert seed_file.problems_for(v, "append", None, seed={**GOOD, "id": "r2"})[0]["message"].startswith("duplicate id")


def test_hostile_lines_are_listed_with_their_problems_and_kept_byte_for_byte(tmp_path: Path) -> None:
    path = tmp_path / "seeds.jsonl"
    hostile = [b'{"id": "big", "problem": "' + b"x" * 1_100_000 + b'"}', b"ok \xff not utf-8 \x80", b"[" * 100_000,
               b'"just a string"', b'{"id": 5, "problem": [], "answer": null, "steps": "no"}']
    path.write_bytes(b"\n".join(hostile) + b"\n")
    sf = SeedFile(str(path))
    snap = sf.snapshot()
    entries = sf.entries(snap)
    assert [e["line"] for e in entries] == [1, 2, 3, 4, 5] and all(e["problems"] for e in entries)
    messages = [e["problems"][0]["message"] for e in entries]
    assert messages[0].startswith("too large") and messages[1].startswith("not UTF-8") and "nested too deeply" in messages[2]
    sf.save(snap.version, "append", None, seed=GOOD)
    assert path.read_bytes() == b"\n".join(hostile) + b"\n" + json.dumps(GOOD).encode() + b"\n"


def test_a_utf16_file_says_so_on_its_first_line(tmp_path: Path) -> None:
    path = tmp_path / "seeds.jsonl"
    path.write_bytes(json.dumps(GOOD).encode("utf-16"))
    sf = SeedFile(str(path))
    [first, *_] = sf.entries(sf.snapshot())
    assert "UTF-16" in first["problems"][0]["message"]
