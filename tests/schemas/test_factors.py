"""The thought-factor vocabulary: the built-in file, custom files, and every fault of a bad one."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from schemas.factors import FactorFileError, load_factors, parse_factors

SPEC_FACTORS = ("RephraseTarget", "Decompose", "Proposer", "Compute", "Verify", "Refute", "SelfCorrect", "Conclude")


def test_default_vocabulary_is_the_spec_table() -> None:
    vocabulary = load_factors()
    assert vocabulary.names == SPEC_FACTORS
    assert vocabulary.default == "Compute" and vocabulary.version == "v1"
    for factor in vocabulary.factors:
        assert factor.description and factor.cues and factor.examples
    assert vocabulary.get("Verify").start_tag == "<ACT_Verify-Start>"
    assert "Verify" in vocabulary and "verify" not in vocabulary and None not in vocabulary
    with pytest.raises(KeyError, match="unknown thought factor 'Guess'"):
        vocabulary.get("Guess")


def test_spec_cues_are_in_the_default_file() -> None:
    vocabulary = load_factors()
    for name, cue in [("RephraseTarget", "So the user wants"), ("Decompose", "First, ... then"), ("Proposer", "Alternatively"),
                      ("Verify", "Let's check"), ("Refute", "That doesn't work"), ("SelfCorrect", "I made a mistake"),
                      ("Conclude", "The answer is")]:
        assert cue in vocabulary.get(name).cues


def write(tmp_path: Path, data: object, name: str = "f.yaml") -> str:
    path = tmp_path / name
    path.write_text(data if isinstance(data, str) else yaml.safe_dump(data), encoding="utf-8")
    return str(path)


def test_custom_file(tmp_path: Path) -> None:
    data = {"version": "lab-2", "default": "Step", "factors": [
        {"name": "Step", "description": "Does something.", "cues": ["then"], "examples": ["Then x = 2."],
         "signals": ["arithmetic"]},
        {"name": "Check", "description": "Checks it.", "cues": ["re:^check\\b"]},
    ]}
    vocabulary = load_factors(write(tmp_path, data))
    assert vocabulary.names == ("Step", "Check") and vocabulary.default == "Step" and vocabulary.version == "lab-2"
    assert vocabulary.get("Check").examples == () and vocabulary.get("Step").signals == ("arithmetic",)
    assert vocabulary.fingerprint != load_factors().fingerprint


def test_every_fault_is_reported(tmp_path: Path) -> None:
    data = {"default": "Nope", "colour": "red", "factors": [
        {"name": "bad name", "description": "x"},
        {"name": "Good", "description": ""},
        {"name": "Twice", "description": "a", "cues": ["re:(unclosed"]},
        {"name": "Twice", "description": "b", "signals": ["telepathy"], "extra": 1},
        "not a mapping",
        {"name": "Cues", "description": "c", "cues": "not a list"},
    ]}
    with pytest.raises(FactorFileError) as info:
        load_factors(write(tmp_path, data))
    problems = "\n".join(info.value.problems)
    for expected in ["factors[0].name: 'bad name' is not a factor name", "factors[1].description: missing or empty",
                     "factors[2].cues[0]: bad regular expression '(unclosed'", "factors[3].signals: unknown signal 'telepathy'",
                     "factors[3]: unknown field 'extra'", "factors[4]: must be a mapping",
                     "factors[5].cues: must be a list of non-empty strings", "default: 'Nope' is not one of the factors",
                     "unknown top-level field 'colour'"]:
        assert expected in problems
    assert str(info.value).startswith(str(tmp_path / "f.yaml") + ": ")


def test_duplicate_names(tmp_path: Path) -> None:
    data = {"factors": [{"name": "A", "description": "a"}, {"name": "A", "description": "b"}]}
    with pytest.raises(FactorFileError, match=r"factors\[1\].name: duplicate factor 'A' \(first at factors\[0\]\)"):
        load_factors(write(tmp_path, data))


@pytest.mark.parametrize("content, message", [
    ("factors: [\n  {name: A,\n", "not valid YAML (line"),
    ("- just\n- a list\n", "expected a mapping with 'factors:'"),
    ("factors: []\n", "factors: missing or not a non-empty list"),
    ("", "expected a mapping"),
])
def test_bad_yaml(tmp_path: Path, content: str, message: str) -> None:
    with pytest.raises(FactorFileError, match=message.replace("(", r"\(").replace("[", r"\[")):
        load_factors(write(tmp_path, content))


def test_unreadable_files(tmp_path: Path) -> None:
    with pytest.raises(FactorFileError, match="cannot read the file"):
        load_factors(str(tmp_path / "missing.yaml"))
    binary = tmp_path / "b.yaml"
    binary.write_bytes(b"factors:\n  - name: \xff\xfe\n")
    with pytest.raises(FactorFileError, match=r"not UTF-8 \(byte"):
        load_factors(str(binary))
    with pytest.raises(FactorFileError, match="is a directory|cannot read"):
        load_factors(str(tmp_path))


def test_parse_factors_from_data() -> None:
    vocabulary = parse_factors({"factors": [{"name": "Only", "description": "d"}]})
    assert vocabulary.names == ("Only",) and vocabulary.default == "Only" and len(vocabulary) == 1
    with pytest.raises(FactorFileError):
        parse_factors(["not", "a", "mapping"])
