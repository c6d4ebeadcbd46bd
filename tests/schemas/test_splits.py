"""``schemas.splits``: whole problems to one split, by a hash of the problem alone."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from schemas.splits import SplitSettings, problem_key, shard_split


def test_no_fraction_is_all_train() -> None:
    assert not SplitSettings().enabled
    assert {SplitSettings().split_of({"problem": f"p{i}"}) for i in range(100)} == {"train"}


def test_the_fraction_is_about_right_and_the_seed_changes_which() -> None:
    settings = SplitSettings(0.2, seed=1)
    splits = [settings.split_of({"problem": f"problem {i}"}) for i in range(5000)]
    assert 0.17 < splits.count("test") / len(splits) < 0.23
    other = [SplitSettings(0.2, seed=2).split_of({"problem": f"problem {i}"}) for i in range(5000)]
    assert splits != other


@given(st.text(max_size=200), st.sampled_from(["seed", "lean", None]))
def test_rows_of_one_problem_share_a_split(problem: str, kind: str | None) -> None:
    settings = SplitSettings(0.5, seed=7)
    sft = {"problem": problem, "source_kind": kind, "source": {"uri": "a"}}
    prm = {"prompt": "  " + problem.replace(" ", "\n") + "\t", "source_kind": kind, "source": {"uri": "b"}}
    assert settings.split_of(sft) == settings.split_of(prm)  # whitespace and the source file do not matter


def test_code_rows_split_by_function_not_by_the_model_written_problem() -> None:
    settings = SplitSettings(0.5)
    source = {"uri": "https://example.org/r.git", "path": "m.py", "symbol": "f", "commit": "abc"}
    first = settings.split_of({"problem": "Write f.", "source_kind": "code", "source": source})
    later = settings.split_of({"problem": "Implement f, please.", "source_kind": "code", "source": {**source, "commit": "def"}})
    assert first == later
    assert problem_key("code", source, "x") != problem_key("code", {**source, "symbol": "g"}, "x")


def test_shard_names_say_their_split() -> None:
    assert shard_split("run-abc.test.parquet") == "test"
    assert shard_split("run-abc.train.parquet") == shard_split("run-abc.parquet") == "train"


def test_code_rows_read_from_a_file_split_by_their_problem() -> None:
    """``tag`` calls a row with a code fence ``code`` and names it FILE:LINE: samples of one problem
    on several lines must not be split apart."""
    settings = SplitSettings(0.5)
    rows = [{"problem": "Write f.", "source_kind": "code", "source": {"uri": "file:///d.jsonl", "path": f"/d.jsonl:{i}",
                                                                     "symbol": f"task-{i}"}} for i in range(1, 40)]
    assert len({settings.split_of(r) for r in rows}) == 1
