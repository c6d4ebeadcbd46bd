"""Property tests of every reader on arbitrary bytes: nothing escapes, each input is one outcome.

The readers are called directly (no pipeline), so each example costs microseconds: JSONL, JSON
and Parquet through ``ReadFileFn``, LeanDojo JSON and whole-proof JSONL through ``iter_source``,
seed files through ``validate_file``. What comes out is a record, a blank line or a dead letter
whose JSON line encodes to UTF-8; records are never hostile (too deep, lone surrogates).
"""

from __future__ import annotations

import json
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from pipelines.io.read import BLANK, MAX_DEPTH, RawRecord, ReadFileFn, check_value
from pipelines.sources.lean.read import ArraySplitter, Cut, iter_source
from pipelines.stage.dead_letter import DeadLetter
from pipelines.stage.kernel import Filtered, Pending
from schemas.seeds import SeedError, decode_line, seed_from_obj, validate_file

FUZZ = settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
TOKENS = [b"[", b"]", b"{", b"}", b",", b":", b'"', b"\\", b"\\u", b"d800", b"\\ud800", b"null", b"1", b"-0.5e9", b"a",
          b" ", b"\n", b"\r\n", b"\x00", b"\xff", b"\xef\xbb\xbf", b"\xe9", b'"id"', b'"\\u0000"', b"[" * 300, b"}" * 300,
          b'{"question": "Q?", "answer": "1\\n#### 1"}', b'{"traced_tactics": []}', b'{"formal_proof": "x"}']
json_ish = st.lists(st.sampled_from(TOKENS), max_size=40).map(b"".join)
hostile_bytes = st.one_of(st.binary(max_size=600), json_ish)
text = st.text(st.characters(blacklist_categories=("Cs", "Cc")), max_size=8)  # printable: fine even as an id
json_values = st.recursive(st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | text,
                           lambda inner: st.lists(inner, max_size=4) | st.dictionaries(text, inner, max_size=4),
                           max_leaves=20)


def _file(data: bytes, name: str) -> Iterator[str]:
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder, name)
        path.write_bytes(data)
        yield str(path)


def _assert_sound(item: Any) -> None:
    """A dead letter writes as UTF-8 JSON; a record is not hostile."""
    if isinstance(item, DeadLetter):
        json.loads(item.to_json().encode("utf-8"))
        assert item.reason and item.error
    else:
        value = item.value if isinstance(item, RawRecord) else item
        assert check_value(value) is None, value
        json.dumps(value, ensure_ascii=False, default=str).encode("utf-8")


def _outcomes(reader: ReadFileFn, element: tuple) -> list[Any]:
    """The kernel's view: each outcome ``run`` yields is one read (written, filtered or dead)."""
    outcomes = list(reader.run(element))
    for outcome in outcomes:
        assert isinstance(outcome, (Pending, Filtered, DeadLetter)), outcome
        _assert_sound(outcome.value if isinstance(outcome, Pending) else outcome)
    return outcomes


@pytest.mark.parametrize("suffix", [".jsonl", ".json"])
@FUZZ
@given(data=hostile_bytes)
def test_record_reader_on_arbitrary_bytes(suffix: str, data: bytes) -> None:
    reader = ReadFileFn("read", max_record_bytes=200, limit=None)
    for path in _file(data, "in" + suffix):
        outcomes = _outcomes(reader, (0, path))
        written = sum(isinstance(o, Pending) for o in outcomes)
        filtered = sum(isinstance(o, Filtered) for o in outcomes)
        dead = sum(isinstance(o, DeadLetter) for o in outcomes)
        assert len(outcomes) == written + filtered + dead  # read = written + filtered + dead-lettered
        whole_file = len(outcomes) == 1 and isinstance(outcomes[0], DeadLetter) and outcomes[0].reason.endswith("_input")
        if suffix == ".jsonl" and not whole_file:  # one outcome a line (a UTF-16 file is one dead letter)
            assert len(outcomes) == data.count(b"\n") + (bool(data) and not data.endswith(b"\n"))


@FUZZ
@given(lines=st.lists(json_values, max_size=6))
def test_record_reader_keeps_every_plain_jsonl_value(lines: list[Any]) -> None:
    reader = ReadFileFn("read", max_record_bytes=10_000, limit=None)
    data = "".join(json.dumps(v) + "\n" for v in lines).encode()
    for path in _file(data, "in.jsonl"):
        got = [o.value.value for o in _outcomes(reader, (0, path))]
        assert got == lines  # null, arrays, numbers included: none is taken for a blank line


@pytest.mark.parametrize("suffix", [".jsonl", ".json"])
@FUZZ
@given(data=hostile_bytes)
def test_lean_readers_on_arbitrary_bytes(suffix: str, data: bytes) -> None:
    for path in _file(data, "in" + suffix):
        items = list(iter_source("read", 0, "file", path, 200))
        for item in items:
            assert item is BLANK or isinstance(item, (DeadLetter, tuple)), item
            if isinstance(item, DeadLetter):
                _assert_sound(item)


@FUZZ
@given(values=st.lists(json_values, max_size=6), chunk=st.integers(1, 64), spaces=st.sampled_from(["", " ", "\n  "]))
def test_array_splitter_gives_back_each_element_whatever_the_chunks(values: list[Any], chunk: int, spaces: str) -> None:
    data = ("[" + spaces + ("," + spaces).join(json.dumps(v) for v in values) + spaces + "]").encode()
    splitter = ArraySplitter(max_bytes=100_000)
    pieces = [p for i in range(0, len(data), chunk) for p in splitter.feed(data[i:i + chunk])]
    assert splitter.finish() is None
    assert [json.loads(p) for p in pieces] == values


def test_array_splitter_bounds_size_and_depth() -> None:
    splitter = ArraySplitter(max_bytes=1000, max_depth=MAX_DEPTH)
    deep = b"[" * (MAX_DEPTH + 50) + b"]" * (MAX_DEPTH + 50)  # 300 bytes, 150 levels
    data = b'[1, "' + b"x" * 5000 + b'", ' + deep + b', {"a": "]"}, "\\"]"]'
    pieces = [p for i in range(0, len(data), 7) for p in splitter.feed(data[i:i + 7])]
    assert [p.reason if isinstance(p, Cut) else json.loads(p) for p in pieces] == [1, "too_large", "too_deep", {"a": "]"}, '"]']
    assert splitter.parts == [] and splitter.finish() is None


@FUZZ
@given(data=hostile_bytes)
def test_seed_files_on_arbitrary_bytes(data: bytes) -> None:
    for path in _file(data, "seeds.jsonl"):
        valid, problems = validate_file(path, max_bytes=200)
        assert valid >= 0 and all(p.startswith(path + ":") and "\n" not in p for p in problems)
    for number, raw in enumerate(data.split(b"\n"), start=1):
        try:
            seed_from_obj(decode_line(raw, number, 200), number)
        except SeedError as err:  # the only error, always with a short reason
            assert err.reason and " " not in err.reason
