"""The tag format: render and parse are exact inverses; tag-like text is escaped or refused; errors say where."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from schemas.factors import load_factors
from schemas.records import Step
from schemas.tags import TagError, escape, find_tag_like, parse_think, render_think, unescape

VOCABULARY = load_factors()
TRICKY = ["<Think_Start>", "<Think_End>", "<ACT_Compute-Start>", "<ACT_Verify-End>", "<ACT_Unknown-Start>", "<\\Think_End>",
          "<\\\\ACT_Compute-End>", "<ACT_-Start>", "<ACT_a b-End>", "<", ">", "\\", "-Start>", "<ACT_", " ", "\n", "\r\n", "\t",
          "\x00", "\u2028", "é", "😀", "$x^2$", "```code```"]
texts = st.lists(st.one_of(st.text(max_size=30), st.sampled_from(TRICKY)), max_size=6).map("".join)
steps = st.lists(st.builds(Step, texts, st.sampled_from(VOCABULARY.names)), max_size=8)


@settings(max_examples=400, deadline=None)
@given(steps, texts)
def test_render_then_parse_gives_back_the_steps_and_answer(items: list[Step], answer: str) -> None:
    rendered = render_think(items, answer)
    assert parse_think(rendered, VOCABULARY) == (items, answer)
    assert parse_think(rendered) == (items, answer)  # without a vocabulary too


@settings(max_examples=300, deadline=None)
@given(texts)
def test_escape_is_exact_and_leaves_no_tag(text: str) -> None:
    escaped = escape(text)
    assert unescape(escaped) == text
    for tag in ("<Think_Start>", "<Think_End>"):
        assert tag not in escaped


def test_rendering_layout() -> None:
    rendered = render_think([Step("Find x.", "RephraseTarget"), Step("x = 2", "Compute")], "2")
    assert rendered == ("<Think_Start>\n<ACT_RephraseTarget-Start> Find x. <ACT_RephraseTarget-End>\n"
                        "<ACT_Compute-Start> x = 2 <ACT_Compute-End>\n<Think_End>\n2")


def test_tag_like_text_is_escaped_or_refused() -> None:
    item = Step("see <Think_End> and <ACT_Compute-Start>", "Compute")
    rendered = render_think([item], "done <Think_Start>")
    assert rendered.count("<Think_End>") == 1 and "<\\Think_End>" in rendered
    assert parse_think(rendered, VOCABULARY) == ([item], "done <Think_Start>")
    with pytest.raises(TagError) as info:
        render_think([Step("ok", "Compute"), item], "1", on_tag="reject")
    assert info.value.reason == "tag_in_text" and info.value.step == 1 and info.value.position == 4
    assert "'<Think_End>'" in str(info.value)
    with pytest.raises(TagError, match="tag_in_text"):
        render_think([], "<ACT_Verify-End>", on_tag="reject")
    assert find_tag_like("plain < text > here") is None


def test_untagged_or_bad_factor_is_refused() -> None:
    with pytest.raises(TagError, match="untagged_step at step 1"):
        render_think([Step("a", "Compute"), Step("b")], "")
    with pytest.raises(TagError, match="bad_factor"):
        render_think([Step("a", "Bad-Name>")], "")


GOOD = "<Think_Start>\n<ACT_Compute-Start> a <ACT_Compute-End>\n<Think_End>\n1"


@pytest.mark.parametrize("text, reason, line, column", [
    ("", "missing_think_start", 1, 1),
    ("<ACT_Compute-Start> a <ACT_Compute-End>\n<Think_End>\n1", "missing_think_start", 1, 1),
    ("hello\n" + GOOD, "text_outside_step", 1, 1),
    ("<Think_Start>\n<ACT_Compute-Start> a <ACT_Verify-End>\n<Think_End>\n1", "mismatched_tag", 2, 23),
    ("<Think_Start>\n<ACT_Compute-Start> a <ACT_Verify-Start> b <ACT_Verify-End>\n<Think_End>\n", "nested_tag", 2, 23),
    ("<Think_Start>\n<ACT_Compute-Start> a\n<Think_End>\n1", "unbalanced", 2, 1),
    ("<Think_Start>\n<ACT_Compute-End>\n<Think_End>\n1", "unbalanced", 2, 1),
    ("<Think_Start>\n<ACT_Guess-Start> a <ACT_Guess-End>\n<Think_End>\n1", "unknown_factor", 2, 1),
    ("<Think_Start>\n<ACT_Compute-Start> a <ACT_Compute-End>\n", "missing_think_end", 3, 1),
    ("<Think_Start>\nloose text\n<Think_End>\n", "text_outside_step", 1, 14),
    ("<Think_Start>\n<Think_Start>\n<Think_End>\n", "nested_tag", 2, 1),
    (GOOD + " <ACT_Compute-Start>", "tag_after_think_end", 4, 3),
    ("<Think_Start>\n<ACT_Compute-Start>a<ACT_Compute-End>\n<Think_End>\n", "text_outside_step", 2, 20),
])
def test_parse_errors_say_what_and_where(text: str, reason: str, line: int, column: int) -> None:
    with pytest.raises(TagError) as info:
        parse_think(text, VOCABULARY)
    assert (info.value.reason, info.value.line, info.value.column) == (reason, line, column), str(info.value)
    assert f"line {line}, column {column}" in str(info.value)


def test_lenient_parse_of_model_output() -> None:
    text = ("  <Think_Start>\n\n  <ACT_Compute-Start>\n x = 2\n<ACT_Compute-End>  <ACT_Conclude-Start>So 2.<ACT_Conclude-End>\n"
            "<Think_End>\n\n 2 \n")
    assert parse_think(text, VOCABULARY, strict=False) == ([Step("x = 2", "Compute"), Step("So 2.", "Conclude")], "2")
    with pytest.raises(TagError, match="text_outside_step"):
        parse_think(text, VOCABULARY)


def test_huge_text_round_trips() -> None:
    big = ("word <Think_End> " * 300_000)[:5_000_000]
    items = [Step(big, "Compute"), Step("end", "Conclude")]
    assert parse_think(render_think(items, "1"), VOCABULARY) == (items, "1")
