"""The annotators' seed format: validation of lines and files (schemas/seeds.py)."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from schemas import seeds
from schemas.records import Seed, Step
from schemas.seeds import (
    MAX_LINE_BYTES,
    TEMPLATE,
    SeedError,
    check_seed,
    decode_line,
    iter_lines,
    seed_from_obj,
    validate_file,
)

VALID = {
    "id": "t-1",
    "problem": "What is 2 + 3?",
    "answer": "5",
    "steps": [{"text": "2 + 3 = 5.", "factor": "Compute"}, {"text": "The answer is 5."}],
    "domain": "math",
    "annotator": "ann",
    "notes": "hand-written",
}
# FILE:LINE: field: message, where a field is a name, a path like steps[2].text, or a quoted key
MESSAGE = re.compile(r'^(?P<file>.+):(?P<line>\d+): (?P<field>(?:[\w\[\].]|"(?:[^"\\]|\\.)*")+): (?P<message>.+)$')


def with_(**changes):
    """VALID with some fields replaced; a value of ... removes the field."""
    obj = json.loads(json.dumps(VALID))
    for key, value in changes.items():
        if value is ...:
            obj.pop(key)
        else:
            obj[key] = value
    return obj


def write(tmp_path: Path, *lines: str | bytes | dict, name: str = "seeds.jsonl") -> str:
    """A seed file of the given lines (dicts as JSON), each ending in a newline."""
    data = b""
    for line in lines:
        if isinstance(line, dict):
            line = json.dumps(line)
        data += (line.encode("utf-8") if isinstance(line, str) else line) + b"\n"
    path = tmp_path / name
    path.write_bytes(data)
    return str(path)


def problems_of(tmp_path: Path, *lines) -> tuple[str, int, list[str]]:
    path = write(tmp_path, *lines)
    valid, messages = validate_file(path)
    for message in messages:
        assert MESSAGE.match(message), message
        assert message.startswith(f"{path}:")
    return path, valid, messages


# --- valid seeds ------------------------------------------------------------------------------


def test_valid_seed_becomes_a_seed():
    assert check_seed(VALID, 1) == []
    seed = seed_from_obj(VALID, 4, ref="f.jsonl:4")
    assert seed == Seed(
        id="t-1",
        problem="What is 2 + 3?",
        answer="5",
        steps=(Step("2 + 3 = 5.", "Compute"), Step("The answer is 5.", None)),
        domain="math",
        annotator="ann",
        notes="hand-written",
        ref="f.jsonl:4",
    )
    assert seed.to_dict() == {**VALID, "steps": [{"text": "2 + 3 = 5.", "factor": "Compute"},
                                                 {"text": "The answer is 5.", "factor": None}]}


def test_optional_fields_may_be_left_out_and_numbers_are_answers():
    obj = with_(domain=..., annotator=..., notes=..., answer=12)
    seed = seed_from_obj(obj, 1)
    assert (seed.answer, seed.domain, seed.annotator, seed.notes) == ("12", "math", None, None)
    assert seed_from_obj(with_(answer=0.5), 1).answer == "0.5"
    assert seed_from_obj(with_(answer=10**400), 1).answer == "1" + "0" * 400  # beyond float range


def test_valid_file(tmp_path):
    _, valid, messages = problems_of(tmp_path, VALID, with_(id="t-2"))
    assert (valid, messages) == (2, [])


def test_template_example_line_validates(tmp_path):
    lines = [line for line in TEMPLATE.splitlines() if line.strip()]
    example = [line for line in lines if not line.startswith("#")]
    assert len(example) == 1
    assert len(lines) > 1  # the template does explain itself
    seed = seed_from_obj(decode_line(example[0].encode(), 1), 1)
    assert seed.steps and seed.answer
    _, valid, messages = problems_of(tmp_path, example[0])
    assert (valid, messages) == (1, [])


def test_template_comment_lines_get_a_hint(tmp_path):
    path, valid, messages = problems_of(tmp_path, *TEMPLATE.splitlines())
    assert valid == 1
    comments = sum(line.startswith("#") for line in TEMPLATE.splitlines())
    assert len(messages) == comments
    assert all("comment lines are not allowed" in m for m in messages)


# --- every problem, exactly formatted ---------------------------------------------------------


def test_every_problem_of_a_line_is_reported(tmp_path):
    path, valid, messages = problems_of(tmp_path, with_(answer=..., problem=5))
    assert valid == 0
    assert sorted(messages) == sorted([
        f"{path}:1: answer: missing",
        f"{path}:1: problem: must be a string, got number",
    ])


def test_problems_of_several_lines_each_carry_their_line(tmp_path):
    path, valid, messages = problems_of(tmp_path, with_(id=1), VALID, with_(steps=[]))
    assert valid == 1
    assert messages == [
        f"{path}:1: id: must be a string, got number",
        f"{path}:3: steps: must have at least one step",
    ]


def test_many_problems_in_one_line_all_reported():
    obj = {"id": "", "problem": None, "steps": [1, {"text": ""}, {"factor": "x y"}], "colour": "red"}
    fields = [p.field for p in check_seed(obj, 7)]
    assert fields == ["id", "problem", "answer", "steps[0]", "steps[1].text", "steps[2].text",
                      "steps[2].factor", "colour"]
    assert {p.line for p in check_seed(obj, 7)} == {7}


@pytest.mark.parametrize(
    "line, expected",
    [
        ('{"id": "a",, "problem": "p"}', "line: malformed JSON: Expecting property name"),
        (json.dumps(VALID)[:-8], "line: malformed JSON: Unterminated string"),  # truncated
        (json.dumps(VALID)[:-1], "line: malformed JSON:"),  # truncated at the last brace
        ("[1, 2]", "line: expected a JSON object, got array"),
        ('"a seed"', "line: expected a JSON object, got string"),
        ("null", "line: expected a JSON object, got null"),
    ],
    ids=["malformed", "truncated-in-string", "truncated-brace", "array", "string", "null"],
)
def test_line_level_problems(tmp_path, line, expected):
    path, valid, messages = problems_of(tmp_path, line)
    assert valid == 0
    assert len(messages) == 1
    assert messages[0].startswith(f"{path}:1: {expected}")


@pytest.mark.parametrize(
    "changes, expected",
    [
        ({"steps": "first add, then stop"}, "steps: must be a list, got string"),
        ({"steps": {"text": "x"}}, "steps: must be a list, got object"),
        ({"steps": ["add them"]}, "steps[0]: must be an object, got string"),
        ({"steps": [{"text": "ok"}, {"text": 3}]}, "steps[1].text: must be a string, got number"),
        ({"steps": [{"text": None}]}, "steps[0].text: must be a string, got null"),
        ({"steps": [{"factor": "Compute"}]}, "steps[0].text: missing"),
        ({"steps": [{"text": "x", "factor": 3}]}, "steps[0].factor: must be a factor name (letters, digits, _)"),
        ({"id": 17}, "id: must be a string, got number"),
        ({"id": True}, "id: must be a string, got boolean"),
        ({"problem": ["a"]}, "problem: must be a string, got array"),
        ({"answer": True}, "answer: must be a string, got boolean"),
        ({"answer": {"value": 5}}, "answer: must be a string, got object"),
        ({"annotator": 3}, "annotator: must be a string, got number"),
        ({"domain": "chemistry"}, "domain: unknown domain 'chemistry' (known: math)"),
    ],
)
def test_wrong_typed_fields(tmp_path, changes, expected):
    path, valid, messages = problems_of(tmp_path, with_(**changes))
    assert (valid, messages) == (0, [f"{path}:1: {expected}"])


@pytest.mark.parametrize(
    "changes, expected",
    [
        ({"steps": []}, "steps: must have at least one step"),
        ({"steps": [{"text": "ok"}, {"text": "   "}]}, "steps[1].text: must not be empty"),
        ({"id": ""}, "id: must not be empty"),
        ({"problem": " \t"}, "problem: must not be empty"),
        ({"answer": ""}, "answer: must not be empty"),
        ({"id": ...}, "id: missing"),
        ({"steps": ...}, "steps: missing"),
    ],
)
def test_empty_and_missing_fields(tmp_path, changes, expected):
    path, valid, messages = problems_of(tmp_path, with_(**changes))
    assert (valid, messages) == (0, [f"{path}:1: {expected}"])


def test_unknown_fields_are_reported_at_both_levels(tmp_path):
    obj = with_(source="gsm8k", steps=[{"text": "2 + 3 = 5.", "label": "+"}])
    path, valid, messages = problems_of(tmp_path, obj)
    assert valid == 0
    assert messages == [f"{path}:1: steps[0].label: unknown field", f"{path}:1: source: unknown field"]


def test_odd_unknown_field_names_are_quoted(tmp_path):
    path, valid, messages = problems_of(tmp_path, with_(**{"": 1, "my field": 2, "a:b\n": 3}))
    assert valid == 0
    assert messages == [
        f'{path}:1: "": unknown field',
        f'{path}:1: "a:b\\n": unknown field',
        f'{path}:1: "my field": unknown field',
    ]


@pytest.mark.parametrize("answer", [float("nan"), float("inf"), float("-inf")])
def test_non_finite_number_is_no_answer(answer):
    with pytest.raises(SeedError) as err:
        seed_from_obj(with_(answer=answer), 1)
    assert err.value.problems[0].field == "answer"


def test_lone_surrogate_text_is_rejected():
    obj = decode_line(json.dumps(with_(problem="bad \ud800 text")).encode(), 1)
    with pytest.raises(SeedError) as err:
        seed_from_obj(obj, 1)
    assert [(p.field, p.message) for p in err.value.problems] == [
        ("problem", "contains a lone surrogate escape (not valid Unicode text)")
    ]


def test_seed_error_lists_problems_and_has_a_short_reason():
    with pytest.raises(SeedError) as err:
        seed_from_obj(with_(steps=[{"text": "a"}, {"text": ""}], answer=...), 1)
    assert str(err.value) == "answer: missing; steps[1].text: must not be empty"
    assert err.value.reason == "answer"
    with pytest.raises(SeedError) as err:
        seed_from_obj(with_(steps=[{"text": "a"}, {"text": ""}]), 1)
    assert err.value.reason == "steps[].text"
    with pytest.raises(SeedError) as err:
        seed_from_obj(with_(**{"Problem ": "typo"}), 1)
    assert err.value.reason == "unknown_field"


# --- bytes: encoding, size, blank lines, duplicates ------------------------------------------


def test_non_utf8_bytes(tmp_path):
    raw = json.dumps(VALID).encode().replace(b"What", b"Wh\xe4t")
    path, valid, messages = problems_of(tmp_path, raw)
    assert valid == 0
    byte = raw.index(b"\xe4") + 1
    assert messages == [f"{path}:1: line: not UTF-8 (byte {byte})"]


def test_utf8_byte_order_mark_on_the_first_line_is_accepted(tmp_path):
    path, valid, messages = problems_of(tmp_path, b"\xef\xbb\xbf" + json.dumps(VALID).encode())
    assert (valid, messages) == (1, [])


def test_ten_megabyte_line_is_too_large_and_never_decoded(tmp_path, monkeypatch):
    big = b'{"id": "big", "problem": "' + b"x" * 10_000_000 + b'"}'
    path = write(tmp_path, big, with_(id="after"))

    def no_decoding(*args, **kwargs):
        raise AssertionError("an oversized line must not be JSON-decoded")

    monkeypatch.setattr(seeds.json, "loads", no_decoding)
    with pytest.raises(SeedError) as err:
        decode_line(big, 1)
    assert err.value.problems[0].message == f"too large: over {MAX_LINE_BYTES} bytes"

    monkeypatch.undo()
    valid, messages = validate_file(path)
    assert valid == 1  # the line after it is still read
    assert messages == [f"{path}:1: line: too large: over {MAX_LINE_BYTES} bytes"]


def test_iter_lines_bounds_long_lines_and_keeps_numbering(tmp_path):
    path = tmp_path / "lines.jsonl"
    path.write_bytes(b"x" * 10 + b"\n" + b"y" * 11 + b"\r\n" + b"z" * 12 + b"\n" + b"w" * 30 + b"\nlast")
    lines = list(iter_lines(str(path), max_bytes=10))
    assert [n for n, _ in lines] == [1, 2, 3, 4, 5]
    assert lines[0][1] == b"x" * 10  # exactly at the limit: whole
    assert all(len(raw) == 11 for _, raw in lines[1:4])  # over it: cut to limit + 1
    assert lines[4][1] == b"last"
    assert [len(raw) for _, raw in iter_lines(str(path))] == [10, 11, 12, 30, 4]


def test_blank_lines_are_ignored_but_counted(tmp_path):
    path, valid, messages = problems_of(tmp_path, "", VALID, "   ", b"\r", "\t", with_(id=5))
    assert valid == 1
    assert messages == [f"{path}:6: id: must be a string, got number"]


def test_duplicate_ids_across_lines(tmp_path):
    path, valid, messages = problems_of(tmp_path, VALID, with_(id="t-2"), with_(id=" t-1 "), with_(id="t-2"))
    assert valid == 2
    assert messages == [
        f"{path}:3: id: duplicate id 't-1' (first on line 1)",
        f"{path}:4: id: duplicate id 't-2' (first on line 2)",
    ]


@pytest.mark.parametrize(
    "raw, start",
    [
        (b"[" * 200_000 + b"]" * 200_000, "malformed JSON: nested too deeply"),
        (b'{"id": ' + b"9" * 5000 + b"}", "malformed JSON:"),
    ],
    ids=["deep-nesting", "huge-integer"],
)
def test_pathological_json_is_a_seed_error(raw, start):
    with pytest.raises(SeedError) as err:
        decode_line(raw, 3)
    assert err.value.problems[0].line == 3
    assert err.value.problems[0].message.startswith(start)


# --- properties -------------------------------------------------------------------------------

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.integers(min_value=10**300) | st.floats() | st.text(),
    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=8), children, max_size=4),
    max_leaves=20,
)
seed_like = st.fixed_dictionaries(
    {},
    optional={
        "id": json_values,
        "problem": json_values,
        "answer": json_values,
        "steps": json_values | st.lists(st.dictionaries(st.sampled_from(["text", "factor", "x"]), json_values)),
        "domain": json_values,
        "annotator": json_values,
        "notes": json_values,
    },
)


@settings(max_examples=300, deadline=None)
@given(json_values | seed_like)
def test_seed_from_obj_raises_only_seed_errors(obj):
    try:
        seed = seed_from_obj(obj, 1)
    except SeedError as err:
        assert err.problems
        for problem in err.problems:
            assert problem.line == 1
            assert MESSAGE.match(problem.format("seeds.jsonl")), problem
    else:
        assert isinstance(seed, Seed)
        assert seed.id and seed.problem and seed.answer and seed.steps


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=200) | json_values.map(lambda v: json.dumps(v).encode()))
def test_decode_line_raises_only_seed_errors(raw):
    try:
        decode_line(raw, 2)
    except SeedError as err:
        assert [p.field for p in err.problems] == ["line"]
