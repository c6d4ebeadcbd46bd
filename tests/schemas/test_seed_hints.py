"""Lines that are not seeds but a dataset's raw lines say how to convert them; odd encodings and
control characters are named."""

from __future__ import annotations

import json

import pytest

from schemas.seeds import SeedError, check_seed, decode_line, foreign_shape, seed_from_obj, sniff_encoding

GSM8K = {"question": "Two plus two?", "answer": "2 + 2 = <<2+2=4>>4\n#### 4"}
PRM800K = {"question": {"problem": "1+1?", "ground_truth_answer": "2"}, "label": {"steps": []}}


@pytest.mark.parametrize(("line", "shape"), [(GSM8K, "gsm8k"), (PRM800K, "prm800k"),
                                             ({**GSM8K, "id": "x"}, None), ({"question": 3, "answer": "1"}, None)])
def test_foreign_shapes(line: dict, shape: str | None) -> None:
    assert foreign_shape(line) == shape


def test_a_gsm8k_line_is_one_problem_with_the_import_command() -> None:
    [problem] = check_seed(GSM8K, 3)
    assert problem.format("raw.jsonl") == ("raw.jsonl:3: line: looks like a raw GSM8K line, not a seed: convert it with: "
                                           "reverse-o1 seeds import --format gsm8k FILE -o seeds.jsonl")
    with pytest.raises(SeedError) as caught:
        seed_from_obj(PRM800K, 1)
    assert caught.value.reason == "raw_prm800k" and "--format prm800k" in str(caught.value)


@pytest.mark.parametrize("char", ["\x00", "\x1b", "\n", "\x7f", "\x85"])
def test_ids_with_control_characters_are_refused(char: str) -> None:
    obj = {"id": f"a{char}b", "problem": "P?", "answer": "1", "steps": [{"text": "s"}]}
    with pytest.raises(SeedError) as caught:
        seed_from_obj(obj, 1)
    assert caught.value.reason == "id" and f"U+{ord(char):04X}" in str(caught.value)


@pytest.mark.parametrize("codec", ["utf-16", "utf-16-le", "utf-16-be", "utf-32", "utf-32-le", "utf-32-be"])
def test_utf16_and_utf32_are_named(codec: str) -> None:
    raw = json.dumps(GSM8K).encode(codec)
    encoding = sniff_encoding(raw)
    assert encoding is not None and encoding.replace("-", "").lower().startswith(codec.replace("-", "")[:5])
    with pytest.raises(SeedError, match=f"file is {encoding}, not UTF-8") as caught:
        decode_line(raw, 1)
    assert caught.value.reason == "wrong_encoding"


@pytest.mark.parametrize("raw", [b"", b"{}", b"\xef\xbb\xbf{}", "{\"é\": 1}".encode(), b"\x00", b"[1, 2, 3]"])
def test_utf8_is_not_taken_for_utf16(raw: bytes) -> None:
    assert sniff_encoding(raw) is None


def test_a_utf8_byte_order_mark_is_accepted_on_the_first_line() -> None:
    assert decode_line(b"\xef\xbb\xbf{}", 1) == {}
