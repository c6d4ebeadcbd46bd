"""common.text_normal (the normal form, n-grams, their hashes, code tokens, MinHash) and the bundled
benchmark references built with it (common/decontamination, tools/build_decontamination_refs.py).

The fixtures are real benchmark items: tests/fixtures/decontamination/README.md says where from.
"""

from __future__ import annotations

import base64
import gzip
import importlib.util
import json
import random
import re
from pathlib import Path

import numpy as np
import pytest

from common import minhash
from common.text_normal import (
    code_tokens,
    gram_hash,
    ngrams,
    normalise,
    words,
)

ROOT = Path(__file__).resolve().parents[2]
FIXTURES = ROOT / "tests" / "fixtures" / "decontamination"
REFERENCES = ROOT / "common" / "decontamination"
BUNDLED = {"gsm8k": 1319, "math500": 500, "humaneval": 164, "mbpp": 500, "minif2f": 244}
HEX16 = re.compile(r"^[0-9a-f]{16}$")


def jsonl(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]


def reference(name: str) -> dict:
    with gzip.open(REFERENCES / f"{name}.json.gz", "rt", encoding="utf-8") as handle:
        return json.load(handle)


# --- normalise / words ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("left", "right"),
    [
        ("How MANY apples?", "how many apples"),
        ("a  b\t\nc", "a b c"),
        ("It costs 1,000 dollars", "It costs 1000 dollars"),
        ("12,345,678 people", "12345678 people"),
        ("It costs $5.", "It costs 5."),
        ("5.00 and 2.50 and 0.5", "5 and 2.5 and .5"),
        ("$1,250.00", "1250"),
        (r"$x \, y \; z \! w \quad v \qquad u$", "x y z w v u"),
        (r"\dfrac{1}{2} \left( x \right)", r"\frac{1}{2} (x)"),
        (r"\text{5 cm}", "5 cm"),
        ("5kg of flour", "5 kg of flour"),
        ("ＡＢＣ １２３", "abc 123"),  # NFKC: full-width forms
        ("she said: “don’t” — ok!", "she said don t ok"),
        ("48/2 = <<48/2=24>>24 clips", "48/2 = 24 clips"),  # GSM8K calculator annotations
        ("mathd_algebra_478", "mathd algebra 478"),
    ],
)
def test_normalise_makes_formatting_variants_alike(left: str, right: str) -> None:
    assert normalise(left) == normalise(right)


def test_normalise_output_and_words() -> None:
    assert normalise("Natalia sold 1,000 clips for $5.00 in April.") == "natalia sold 1000 clips for 5 in april"
    assert normalise("A decimal 3.14 stays, a sentence's point goes.") == "a decimal 3.14 stays a sentence s point goes"
    assert normalise("1,2,3 and (4, 5)") == "1 2 3 and 4 5"  # commas that are not thousands separators split
    assert words(" Two\n words ") == ["two", "words"]
    assert normalise("") == "" and words("  ?! ") == []


def reformat(text: str, i: int) -> str:
    """A re-uploaded copy: thousands separators, trailing zeros on money, other spacing, LaTeX spacing, case."""
    out = re.sub(r"\b(\d{4,})\b", lambda m: f"{int(m.group(1)):,}", text)
    out = re.sub(r"\$(\d+)(?![\d.,])", lambda m: f"${m.group(1)}.00", out)
    out = out.replace(", ", " ,\n  ").replace(". ", ".   ")
    if i % 3 == 0:
        out = re.sub(r"(\d) (\w)", r"\1\\,\2", out)  # 5\,apples
    return out.upper() if i % 4 == 0 else out


def test_reformatted_gsm8k_problems_normalise_alike() -> None:
    items = jsonl(FIXTURES / "gsm8k_test_20.jsonl")
    assert len(items) == 20
    changed = 0
    for i, item in enumerate(items):
        for text in (item["question"], item["answer"]):
            copy = reformat(text, i)
            changed += copy != text
            assert words(copy) == words(text), (i, copy)
    assert changed >= 30  # the copies really differ as text


def test_normalise_is_idempotent() -> None:
    for item in jsonl(FIXTURES / "gsm8k_test_20.jsonl") + jsonl(FIXTURES / "humaneval_10.jsonl"):
        for text in item.values():
            if isinstance(text, str):
                assert normalise(normalise(text)) == normalise(text)


# --- ngrams / gram_hash ---------------------------------------------------------------------------


def test_ngrams_and_the_short_item_rule() -> None:
    tokens = "a b c d e".split()
    assert ngrams(tokens, 3) == ["a b c", "b c d", "c d e"]
    assert ngrams(tokens, 5) == ["a b c d e"]
    assert ngrams(tokens, 8) == ["a b c d e"]  # fewer words than n: the whole text, one gram
    assert ngrams([], 8) == []
    with pytest.raises(ValueError):
        ngrams(tokens, 0)


def test_gram_hash_is_16_hex_of_blake2b_8() -> None:
    value = gram_hash("natalia sold clips to 48 of her friends")
    assert HEX16.match(value)
    assert value == gram_hash("natalia sold clips to 48 of her friends")
    assert value != gram_hash("natalia sold clips to 49 of her friends")
    # pinned: every bundled reference depends on this exact function
    assert gram_hash("a b c d e f g h") == "81ae5d454afff159"


# --- code_tokens --------------------------------------------------------------------------------------

ORIGINAL = '''def add(a, b):
    """Add two numbers."""
    # the sum
    return a + b  # done
'''
REFORMATTED = """def add( a,b ):
        '''Adds them up.

        Longer docstring.
        '''
        return (a
                + b)
"""


def test_code_tokens_drop_comments_docstrings_and_layout() -> None:
    assert code_tokens(ORIGINAL) == ["def", "add", "(", "a", ",", "b", ")", ":", "return", "a", "+", "b"]
    assert [t for t in code_tokens(REFORMATTED) if t not in "()"] == [t for t in code_tokens(ORIGINAL) if t not in "()"]
    assert code_tokens("x = 'abc'") == code_tokens('x = "abc"')  # one quoting style
    assert code_tokens('"""Module doc."""\nimport os\n') == ["import", "os"]
    assert code_tokens('s = "-".join(x)\n') == ["s", "=", "'-'", ".", "join", "(", "x", ")"]  # a string in an expression stays
    assert code_tokens("y = 1e-10 ** 2") == ["y", "=", "1e-10", "**", "2"]


def test_code_tokens_survive_broken_source() -> None:
    # unbalanced indentation and an unterminated bracket: tokenize rejects them; the regex tokenizer takes over
    broken = "def f(x):\n  if x:\n\treturn [1,\n        2\n"
    assert code_tokens(broken) == ["def", "f", "(", "x", ")", ":", "if", "x", ":", "return", "[", "1", ",", "2"]
    assert code_tokens("def g(:\n    # note\n    s = 'unterminated\n") == ["def", "g", "(", ":", "s", "=", "'", "unterminated"]
    lean = "theorem t (x : ℝ) (h₀ : 0 < x) : x ^ 2 > 0 := by"
    assert code_tokens(lean)[:8] == ["theorem", "t", "(", "x", ":", "R", ")", "("]
    rng = random.Random(0)
    for _ in range(200):  # never raises
        junk = "".join(rng.choice("def (x):\n\t'\"#\\ ]}{[=+1ab\r") for _ in range(rng.randint(0, 60)))
        assert isinstance(code_tokens(junk), list)
    assert code_tokens("") == []


# --- MinHash ----------------------------------------------------------------------------------------------


# --- the bundled references -----------------------------------------------------------------------------


@pytest.mark.parametrize("name", sorted(BUNDLED))
def test_bundled_reference_format_and_provenance(name: str) -> None:
    ref = reference(name)
    assert ref["name"] == name and ref["items"] == BUNDLED[name]
    assert ref["domain"] in {"math", "code", "lean"} and ref["license"] and ref["split"].startswith("test")
    assert {"repo", "path", "commit", "sha256"} <= set(ref["source"]) and ref["source"]["commit"]
    assert ref["n_values"] == [8, 13]
    for key in ("ngrams", "code_ngrams"):
        for n in ("8", "13"):
            values = ref.get(key, {}).get(n, [])
            assert values == sorted(set(values)) and all(HEX16.match(v) for v in values[:1000])
    assert ref["ngrams"]["13"] and ref["ngrams"]["8"]
    assert ref["minhash_params"]["encoding"] == "base64" and ref["minhash_params"]["num_perm"] == minhash.PERMUTATIONS
    assert len(base64.b64decode(ref["minhash"])) == 4 * minhash.PERMUTATIONS * len(ref["minhash_items"]) == 512 * ref["items"]
    assert ref["domain"] == "math" or ref["code_ngrams"]["13"]


def test_references_stay_small() -> None:
    total = sum(path.stat().st_size for path in REFERENCES.glob("*.json.gz"))
    assert total < 8_000_000, total


def test_gsm8k_reference_holds_the_fixture_problems_and_not_train_ones() -> None:
    ref = reference("gsm8k")
    grams = {n: set(ref["ngrams"][n]) for n in ("8", "13")}
    items = jsonl(FIXTURES / "gsm8k_test_20.jsonl")  # lines 1-20 of GSM8K test.jsonl
    for i, item in enumerate(items):
        for n in (8, 13):
            assert {gram_hash(g) for g in ngrams(words(item["question"]), n)} <= grams[str(n)]
            assert {gram_hash(g) for g in ngrams(words(item["answer"]), n)} <= grams[str(n)]
        at = ref["minhash_items"].index(f"test-{i}")
        stored = np.frombuffer(base64.b64decode(ref["minhash"]), dtype="<u4").reshape(-1, minhash.PERMUTATIONS)[at]
        assert (stored == minhash.signature(minhash.shingles(words(item["question"]), 3))).all()
        planted = reformat(item["question"], i)
        assert {gram_hash(g) for g in ngrams(words(planted), 13)} <= grams["13"]  # a reformatted copy matches whole
    for item in jsonl(ROOT / "tests" / "fixtures" / "gsm8k_sample.jsonl"):  # GSM8K *train*: shares no 13-gram
        assert not {gram_hash(g) for g in ngrams(words(item["question"]), 13)} & grams["13"], item["question"][:60]


def test_humaneval_reference_holds_prompts_and_solutions() -> None:
    ref = reference("humaneval")
    words13, code13 = set(ref["ngrams"]["13"]), set(ref["code_ngrams"]["13"])
    for item in jsonl(FIXTURES / "humaneval_10.jsonl"):
        assert {gram_hash(g) for g in ngrams(words(item["prompt"]), 13)} <= words13
        function = item["prompt"] + item["canonical_solution"]
        assert {gram_hash(g) for g in ngrams(code_tokens(function), 13)} <= code13
        docstring = re.search(r'"""(.*?)"""', item["prompt"], re.S)
        assert docstring and {gram_hash(g) for g in ngrams(words(docstring.group(1)), 13)} & words13


# --- the build tool --------------------------------------------------------------------------------------


def load_tool():
    spec = importlib.util.spec_from_file_location("build_decontamination_refs", ROOT / "tools" / "build_decontamination_refs.py")
    module = importlib.util.module_from_spec(spec)
    assert spec.loader is not None
    spec.loader.exec_module(module)
    return module


def test_build_tool_is_deterministic_and_records_other_bytes(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    tool = load_tool()
    args = ["--gsm8k", str(FIXTURES / "gsm8k_test_20.jsonl"), "--humaneval", str(FIXTURES / "humaneval_10.jsonl")]
    assert tool.main(["--out", str(tmp_path / "a"), *args]) == 0
    assert tool.main(["--out", str(tmp_path / "b"), *args]) == 0
    for name in ("gsm8k", "humaneval"):
        first, second = (tmp_path / d / f"{name}.json.gz" for d in ("a", "b"))
        assert first.read_bytes() == second.read_bytes()
    assert "differs from the recorded" in capsys.readouterr().err  # 20 lines are not the fetched file
    built = json.loads(gzip.decompress((tmp_path / "a" / "gsm8k.json.gz").read_bytes()))
    assert built["items"] == 20 and "rebuilt from other bytes" in built["source"]["note"]
    bundled = reference("gsm8k")
    assert set(built["ngrams"]["13"]) <= set(bundled["ngrams"]["13"])
    assert base64.b64decode(built["minhash"]) == base64.b64decode(bundled["minhash"])[: 20 * 4 * minhash.PERMUTATIONS]
