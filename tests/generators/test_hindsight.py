"""The hindsight and copy filter against real failures (a pasted body that slipped through because
code and text were tokenised differently; a "CoT" that restates the signature) and against genuine
reasoning that mentions identifiers and short expressions, which must pass."""

from __future__ import annotations

import ast
from dataclasses import replace
from pathlib import Path

import pytest

from generators.code.copying import code_tokens, is_code_line, lex, measure_copy, spans, text_tokens
from generators.code.hindsight import (
    DEFAULT_SETTINGS,
    FILTER_VERSION,
    HindsightSettings,
    code_without_docstring,
    hindsight_reason,
    measure_reasoning,
    prompt_echo,
    task_text,
)

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "hindsight"
TINYTEXT = Path(__file__).resolve().parents[2] / "samples" / "code" / "tinytext" / "tinytext"
GOOD = sorted((FIXTURES / "good").glob("*.md"))


def code(name: str) -> str:
    return (FIXTURES / f"{name}.py").read_text(encoding="utf-8")


ADD = code("add")
ADD_BODY = code_without_docstring(ADD)
RENAMED = ADD_BODY.replace("carry", "c").replace("x", "first").replace("y", "second")


def pasted_add() -> dict[str, str]:
    """The body of ``add`` the way a model pasted it (three times), in each formatting."""
    lines = [line.strip() for line in ADD_BODY.splitlines()]
    return {
        "three_times": "\n".join([ADD_BODY] * 3),
        "three_fenced": "\n\n".join(f"Step {i}:\n```python\n{ADD_BODY}\n```" for i in (1, 2, 3)),
        "inline_backticks": " ".join(f"`{line}`" for line in lines) + "\n" + " ".join(f"``{line}``" for line in lines),
        "one_line": " ".join(ADD_BODY.split()),
        "no_spaces": "\n".join(line.replace(" ", "").replace("while", "while ").replace("return", "return ") for line in lines),
        "numbered_lines": "\n".join(f"{i}. {line}" for i, line in enumerate(lines, start=1)),
        "renamed": "\n".join([RENAMED] * 3),
        "renamed_one_line": "I will do this: " + " ".join(RENAMED.split()) + " and that is all.",
        "other_literals": ADD_BODY.replace("0", "0x0").replace("1", "1_0"),
    }


@pytest.mark.parametrize("name", sorted(pasted_add()))
def test_the_pasted_add_body_is_copied_code_however_it_is_formatted(name: str) -> None:
    text = pasted_add()[name]
    measure = measure_copy(text, ADD_BODY, DEFAULT_SETTINGS.share_run)
    assert measure.longest == measure.body_tokens == 20 and measure.share == 1.0, name
    assert hindsight_reason(text, ADD) == "copied_code", name


def test_a_line_by_line_walk_through_with_prose_between_is_a_copied_share() -> None:
    text = ("To begin, `while y != 0:` keeps going as long as something is left to add; inside it, "
            "`carry = x & y` finds the positions that overflow, `x ^= y` adds without them, and "
            "`y = carry << 1` moves the overflow one place up, until at the very end `return x` hands back the total.")
    measure = measure_copy(text, ADD_BODY, DEFAULT_SETTINGS.share_run)
    assert measure.longest < DEFAULT_SETTINGS.min_copied_run and measure.share >= DEFAULT_SETTINGS.max_copied_share
    assert hindsight_reason(text, ADD) == "copied_share"


@pytest.mark.parametrize("text", [
    "The function signature: `float`",
    "1. The function signature: `def circle_area(radius: float) -> float:`\n2. The parameter: `radius: float`\n"
    "3. The return type: `float`",
    "The function returns the area of a circle of the given radius. A negative radius is an error.",
    "```python\ndef circle_area(radius: float) -> float:\n```\nThe area of a circle of the given radius.",
])
def test_restating_the_signature_or_docstring_is_not_reasoning(text: str) -> None:
    assert hindsight_reason(text, code("circle_area")) == "restates_signature"


@pytest.mark.parametrize("text", [
    "I will think.",
    "Compute with pi, guard bad inputs, square it:\n```python\ndef circle_area(r):\n    if r < 0:\n"
    "        raise ValueError('no')\n    return 3.14159 * r * r\n```",
])
def test_code_or_a_few_words_are_not_reasoning(text: str) -> None:
    assert hindsight_reason(text, code("circle_area")) == "no_reasoning"


@pytest.mark.parametrize("path", GOOD, ids=[p.stem for p in GOOD])
def test_genuine_reasoning_that_mentions_identifiers_and_expressions_passes(path: Path) -> None:
    fn = code(path.stem.removesuffix("_plain"))
    text = path.read_text(encoding="utf-8")
    assert hindsight_reason(text, fn) is None, (measure_copy(text, code_without_docstring(fn), 4), measure_reasoning(text, fn))


def test_genuine_reasoning_still_quotes_code_some_of_the_time() -> None:
    """The good fixtures are not trivially code-free: the filter passes them with expressions in them."""
    shares = {p.stem: measure_copy(p.read_text(encoding="utf-8"), code_without_docstring(code(p.stem.removesuffix("_plain"))),
                                   DEFAULT_SETTINGS.share_run) for p in GOOD}
    assert shares["binary_search"].longest >= 9 and 0.3 < shares["binary_search"].share < DEFAULT_SETTINGS.max_copied_share
    assert shares["gcd"].covered >= 5


def test_a_short_body_copied_whole_is_copied_but_its_expression_in_a_sentence_is_not() -> None:
    mean = 'def mean(values):\n    """The arithmetic mean of a non-empty sequence."""\n    return sum(values) / len(values)\n'
    assert hindsight_reason("Plan: return sum(values) / len(values)", mean) == "copied_code"
    assert hindsight_reason("1. The mean is the total over the count, sum(values) / len(values), so I add everything up "
                            "once and divide by how many there are; an empty input would divide by zero.", mean) is None


def test_the_lexer_gives_the_tokens_tokenize_gives_on_valid_code() -> None:
    """One tokenisation: code found in prose (no ``tokenize``) matches code tokenised properly."""
    sources = [p.read_text(encoding="utf-8") for p in [*FIXTURES.glob("*.py"), *TINYTEXT.glob("*.py")]]
    functions = [ast.get_source_segment(src, node) or "" for src in sources for node in ast.parse(src).body
                 if isinstance(node, (ast.FunctionDef, ast.ClassDef))]
    assert len(functions) >= 10
    for fn in functions:
        assert lex(fn, code=True) == code_tokens(fn), fn.splitlines()[0]
    assert [t.shape for t in lex("so a != b, x ^= y and c << 1, don't stop")] == [
        "<id>", "<id>", "!=", "<id>", ",", "<id>", "^=", "<id>", "and", "<id>", "<<", "<num>", ",", "<id>", "'", "<id>", "<id>"]


def test_names_literals_and_whitespace_are_normalised() -> None:
    assert [t.shape for t in code_tokens("x.append(len('a') + 2.5)  # why")] == [
        "<id>", ".", "append", "(", "len", "(", "<str>", ")", "+", "<num>", ")"]
    assert code_tokens("f(a,\n  b)") == code_tokens("f( a , b )") == text_tokens("call `f(a, b)` here")[1:7]


def test_text_is_cut_into_code_like_spans_and_prose() -> None:
    text = "1. First think.\n2. `x = 1` then y.\n    while y != 0:\n```python\nz = 2\n```\nDone"
    assert [(s.text.strip(), s.code) for s in spans(text)] == [
        ("First think.", False), ("x = 1", True), ("then y.", False), ("while y != 0:", True), ("z = 2", True), ("Done", False)]
    for line in ("else:", "return x", "a, b = b, a % b", "except ValueError:"):
        assert is_code_line(line), line
    for line in ("Done", "I need to keep it and go.", "Plan:", "'quoted'", "Return the sum of a and b."):
        assert not is_code_line(line), line


def test_renaming_must_be_consistent_and_builtins_and_attributes_must_match() -> None:
    body = "total = 0\nfor item in items:\n    total += item.weight * len(item.parts)\nreturn total"
    whole = len(code_tokens(body))
    consistent = "s = 0 for i in xs : s += i . weight * len ( i . parts ) return s"
    assert measure_copy(consistent, body, 4).longest == whole
    inconsistent = "a = 0 for b in c : d += e . weight * len ( f . parts ) return g"  # same shape, a new name each time
    assert measure_copy(inconsistent, body, 4).longest <= whole // 2  # a window holds each identifier once at most
    renamed_attribute = "s = 0 for i in xs : s += i . mass * len ( i . parts ) return s"  # stops at `.mass`
    assert measure_copy(renamed_attribute, body, 4).longest == len(code_tokens("total = 0\nfor item in items: total += item."))


def test_the_task_text_is_the_header_and_docstring() -> None:
    assert task_text(ADD).startswith("def add(x: int, y: int) -> int:") and "bitwise" in task_text(ADD)
    assert "carry" not in task_text(ADD) and task_text("def broken(:") == ""


def test_every_threshold_comes_from_the_settings() -> None:
    text = pasted_add()["three_times"]
    lenient = replace(DEFAULT_SETTINGS, min_copied_run=100, min_whole_body=100, max_copied_share=1.1)
    assert hindsight_reason(text, ADD, lenient) == "restates_signature"  # all that is left: no words of its own
    assert hindsight_reason(text, ADD, replace(lenient, min_novel_words=0)) == "no_reasoning"
    good = (FIXTURES / "good" / "gcd.md").read_text(encoding="utf-8")
    assert hindsight_reason(good, code("gcd"), HindsightSettings(min_share_body=1, max_copied_share=0.3)) == "copied_share"
    assert FILTER_VERSION.startswith("hindsight/")


# An assistant answering about the prompt instead of reasoning: the kept "CoT" of the issue
# (TheAlgorithms' arc_length), and the ways of it the filter names ``prompt_echo``.
ECHOES = {
    "the_issue": "Here is the plan to write the function in the first person, as if the code did not exist yet:\n"
                 "1. I understand the task: compute the length of an arc of a circle.\n"
                 "2. I pick the approach: multiply the radius by the angle converted to radians.\n"
                 "3. I handle the edge cases.\n4. I decide what to return: the length as a float.\n"
                 "Your plan is a perfect example of how to plan a function before writing it.",
    "restates_the_instructions": "1. Understand the task, pick the approach, handle the edge cases, decide what to return.\n"
                                 "2. The area grows with the square of the radius, and a negative radius is refused.",
    "the_form_of_the_answer": "1. I will write this in the future or present tense, with numbered steps.\n"
                              "2. The area is pi times the squared radius; a negative radius raises an error.",
    "addresses_the_reader": "1. The area is pi times the radius squared, computed in floating point.\n"
                            "2. A negative radius is not a circle, so it raises ValueError.\nI hope this helps!",
    "praises_the_plan": "1. Square the radius and multiply by pi; refuse a negative radius with ValueError.\n"
                        "This plan is a solid approach that covers every edge case of the area computation.",
    "sure_here_are": "Sure! Here are the steps:\n1. Refuse a negative radius with ValueError since no circle has one.\n"
                     "2. Multiply pi by the square of the radius and hand that back as a float.",
    "the_plan_to_write_the_function": "The plan to write the function is simple: the area depends on the radius only, "
                                      "squared and scaled by pi, after refusing negative values.",
    "the_step_list_request": "Write the numbered steps of reasoning that lead to this function: the area is pi r "
                             "squared, a negative radius is refused first.",
}
# Near misses: "plan", "function", "your", "here's", "first" in ordinary reasoning.
NEAR_MISSES = {
    "my_plan_is": "My plan is to use Euclid's rule: the common divisors of a and b are those of b and a % b, so I keep "
                  "replacing the pair until the second number is zero, and then the first one is the answer.",
    "i_plan_to_write": "I plan to write the function iteratively: recursion would add a stack frame per remainder step "
                       "for no gain. Each round swaps in the remainder, which shrinks, so the loop must end.",
    "the_plan_has_a_weak_spot": "The plan has one weak spot: negative inputs. Remainders in Python take the divisor's "
                                "sign, so I rely on the non-negative numbers the docstring promises and keep the loop simple.",
    "heres_the_idea": "Here's the idea: any number dividing both a and b also divides their difference, and repeated "
                      "subtraction is just the remainder; once the remainder vanishes, the last divisor is the greatest one.",
    "the_function_must": "The function must stop when the second number reaches zero: every number divides zero, so at "
                         "that point the first number is itself the largest divisor shared by both inputs.",
    "a_good_example": "Euclid's method is a good example of shrinking a problem: each remainder is smaller than the "
                      "divisor, so the pair strictly decreases and reaches zero after few rounds.",
}


@pytest.mark.parametrize("name", sorted(ECHOES))
def test_echoing_the_prompt_or_talking_about_the_plan_is_a_prompt_echo(name: str) -> None:
    assert hindsight_reason(ECHOES[name], code("circle_area")) == "prompt_echo", name


@pytest.mark.parametrize("name", sorted(NEAR_MISSES))
def test_plans_functions_and_examples_in_ordinary_reasoning_pass(name: str) -> None:
    assert hindsight_reason(NEAR_MISSES[name], code("gcd")) is None, name


def test_the_good_fixtures_share_no_run_of_the_instructions() -> None:
    """The fixtures of genuine reasoning keep passing: none restates ``min_echo_run`` words of the prompt."""
    for path in GOOD:
        assert not prompt_echo(path.read_text(encoding="utf-8")), path.stem
    assert prompt_echo("as if the code did not exist yet, I reason") and not prompt_echo("as if nothing existed yet")
    assert FILTER_VERSION == "hindsight/v3"
