"""Reverse code CoT pieces: the hindsight filter, step splitting, the round-trip code parser,
the task text, the writers against a scripted test double (not a model), the code_cot stage's
filter reason when every sample is rejected, and generations cut at the token cap (the scripted
backend with ``length_cap``)."""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Sequence

from generators.backends import BackendConfig, create_backend
from generators.backends.base import Completion, GenRequest, LLMBackend
from generators.code import (
    CodeCoTSettings,
    ReverseCoTWriter,
    RoundTripWriter,
    answer_of,
    function_from_reply,
    hindsight_reason,
    problem_of,
)
from generators.code.hindsight import code_without_docstring, longest_copied_run
from generators.code.reverse_cot import split_steps
from generators.code.truncation import TruncationPolicy
from generators.engine.program import drive
from pipelines.code_cot import CodeCoTFn, CodeSettings, no_cot_reason
from pipelines.settings import ModelSettings, SandboxSettings
from pipelines.stage.kernel import Filtered
from schemas.code import CheckedFunction, CodeFunction, RepoSnapshot, TestRef

CLAMP = '''def clamp(value, low, high):
    """Limit ``value`` to the closed range [low, high]."""
    if low > high:
        raise ValueError("low must not exceed high")
    return max(low, min(value, high))'''


def clamp_fn(symbol: str = "clamp", code: str = CLAMP) -> CodeFunction:
    return CodeFunction(
        repo=RepoSnapshot("https://example.org/tinytext.git", "a" * 40, "/nonexistent"), path="tinytext/numbers.py",
        module="tinytext.numbers", import_root="", symbol=symbol, signature="def clamp(value, low, high):",
        docstring="Limit ``value`` to the closed range [low, high].", code=code, start_line=6, end_line=10, indent="",
        tests=(TestRef("doctest", "tinytext/numbers.py", symbol),))


class ListBackend(LLMBackend):
    """A scripted test double: replies by a substring of the last message; logs requests."""

    def __init__(self, rules: list[tuple[str, list[str]]]):
        self.rules = rules
        self.requests: list[GenRequest] = []

    @property
    def model_name(self) -> str:
        return "list"

    def generate(self, requests: Sequence[GenRequest]) -> list[list[Completion]]:
        self.requests.extend(requests)
        out = []
        for r in requests:
            texts = next(v for k, v in self.rules if k in r.messages[-1][1])
            out.append([Completion(t, len(t.split())) for t in (texts * r.params.n)[: r.params.n]])
        return out


CLAMP_REPLY = "```python\ndef clamp(value, low, high):\n    return max(low, min(value, high))\n```"
FORWARD = ("1. I need to keep a number inside a range given by two bounds.\n"
           "2. First I should reject a range whose lower bound is above the upper one.\n"
           "3. Then the result is the larger of the lower bound and the smaller of the value and the upper bound.")


def test_forward_reasoning_passes_the_filter() -> None:
    assert hindsight_reason(FORWARD, CLAMP) is None


def test_reasoning_about_the_given_code_is_rejected() -> None:
    for text in ("1. The given code first checks the bounds.", "Looking at the code above, it clamps.",
                 "2. The provided implementation returns max(low, ...).", "This was implemented with min and max."):
        assert hindsight_reason(text, CLAMP) == "refers_to_code", text


def test_ordinary_forward_words_are_not_hindsight() -> None:
    """"code", "implementation" and "given function" are ordinary words in a plan (these one-liners
    may fail the filter for other reasons: they are too short to be reasoning)."""
    typed = "def merge(left: list[int], right: list[int]) -> list[int]:\n    \"\"\"Merge.\"\"\"\n    return left + right\n"
    for text in ("I will apply the given function to each element.", "I look up the code in the table.",
                 "If this code is a valid HTTP status, return it.", "The implementation will use a dict.",
                 "The existing function `normalize` helps here.", "The code first loops over items",
                 "merge(left: list[int], right: list[int]) -> list[int] takes two sorted lists."):
        narrates = text.startswith("The code first")  # narration of existing code
        assert (hindsight_reason(text, typed) == "refers_to_code") == narrates, text
    assert hindsight_reason("merge(left: list[int], right: list[int]) -> list[int] takes two sorted lists and walks "
                            "both with an index each, always taking the smaller head, then appends the leftovers.",
                            typed) is None


def test_copying_the_code_is_rejected_but_restating_the_docstring_is_not_copying() -> None:
    pasted = "1. Write: if low > high: raise ValueError(\"low must not exceed high\") return max(low, min(value, high))"
    assert hindsight_reason(pasted, CLAMP) == "copied_code"
    assert hindsight_reason("1. Limit ``value`` to the closed range [low, high] as the task says.", CLAMP) == "restates_signature"
    assert hindsight_reason("   ", CLAMP) == "empty"
    assert longest_copied_run("max(low, min(value, high))", CLAMP) >= 10
    assert '"""' not in code_without_docstring(CLAMP)
    assert code_without_docstring("def broken(:") == "def broken(:"


def test_split_steps_reads_numbered_items_and_drops_code_fences() -> None:
    text = "Plan:\n1. First idea.\n2) Second,\n   continued.\nStep 3: Third.\n```python\nx = 1\n```"
    assert split_steps(text) == ["Plan:", "First idea.", "Second, continued.", "Third."]
    assert split_steps("One paragraph only.") == ["One paragraph only."]
    lead_in = "1. Handle the edge cases. Here's how you can implement this function in Python:\n2. Here is the code:"
    assert split_steps(lead_in) == ["Handle the edge cases."]


def test_function_from_reply_takes_the_named_def_from_a_code_block() -> None:
    reply = "Here it is:\n```python\nimport math\n\n@staticmethod\ndef clamp(v, lo, hi):\n    return max(lo, min(v, hi))\n```"
    code, reason = function_from_reply(reply, "clamp")
    assert reason is None and code.startswith("@staticmethod\ndef clamp(") and "import math" not in code
    method = "```python\nclass Counter:\n    def add(self, text):\n        return 1\n```"
    assert function_from_reply(method, "add")[0] == "def add(self, text):\n    return 1"
    assert function_from_reply("```python\ndef other():\n    return 1\n```", "clamp") == (None, "no_function")
    assert function_from_reply("```python\ndef clamp(:\n```", "clamp") == (None, "syntax_error")
    assert function_from_reply("def clamp(a, b, c):\n    return a", "clamp")[0] is not None  # no fence at all


def test_problem_shows_signature_and_docstring_never_the_body() -> None:
    text = problem_of(clamp_fn())
    assert "def clamp(value, low, high):" in text and "closed range" in text and "tinytext.numbers" in text
    assert "max(low" not in text
    assert "method `add` of class `Counter`" in problem_of(clamp_fn(symbol="Counter.add"))
    assert answer_of(CLAMP + "\n\n") == f"```python\n{CLAMP}\n```"


def test_reverse_cot_keeps_the_first_sample_without_hindsight() -> None:
    backend = ListBackend([("For your eyes only", ["The given code clamps.", FORWARD])])
    cot = ReverseCoTWriter(backend, CodeCoTSettings(samples=2)).write(clamp_fn())
    assert cot.steps[0].startswith("I need to keep") and len(cot.steps) == 3
    assert dict(cot.rejected) == {"refers_to_code": 1}
    (request,) = backend.requests
    assert request.params.n == 2 and CLAMP.splitlines()[-1].strip() in request.messages[-1][1]


def test_reverse_cot_with_every_sample_rejected_has_no_steps() -> None:
    backend = ListBackend([("For your eyes only", ["The code above clamps."])])
    cot = ReverseCoTWriter(backend, CodeCoTSettings(samples=3)).write(clamp_fn())
    assert cot.steps == [] and cot.rejected["refers_to_code"] == 3


def test_round_trip_prompt_never_contains_the_original_body() -> None:
    backend = ListBackend([("Plan:", ["```python\ndef clamp(value, low, high):\n    return value\n```"])])
    out = RoundTripWriter(backend).write(clamp_fn(), ["Keep the value in range."])
    assert out.code == "def clamp(value, low, high):\n    return value" and out.reason is None
    prompt = backend.requests[0].messages[-1][1]
    assert "1. Keep the value in range." in prompt and "max(low" not in prompt and "raise ValueError" not in prompt


def test_a_function_with_every_sample_rejected_is_filtered_by_the_commonest_reason() -> None:
    body = "if low > high:\n    raise ValueError('low must not exceed high')\nreturn max(low, min(value, high))"
    backend = ListBackend([("For your eyes only", [body, "The function signature: `value`", body])])
    settings = CodeSettings(ModelSettings("scripted", "list"), CodeCoTSettings(samples=3), SandboxSettings(None, False, 4.0, 256),
                            None, False)
    stage = CodeCoTFn(None, settings)  # type: ignore[arg-type]  # its program, run alone: no engine, no handle
    written = drive(stage._write(backend, clamp_fn()), backend)
    assert stage.finish(CheckedFunction(clamp_fn(), "passed", "id"), written) == Filtered("no_forward_cot:copied_code")
    assert no_cot_reason(Counter({"restates_signature": 1, "copied_code": 1})) == "no_forward_cot:restates_signature"
    assert no_cot_reason(Counter()) == "no_forward_cot"


# --- cut at the token cap (the scripted backend with "length_cap": a test double, not a model) --------

def capped(rules: list[tuple[str, str]]) -> LLMBackend:
    """The scripted backend cutting each reply at the request's max_new_tokens words (finish_reason "length")."""
    return create_backend(BackendConfig(backend="scripted", model=json.dumps({"rules": rules, "length_cap": True})))


def stage_with(truncation: TruncationPolicy, samples: int = 1) -> CodeCoTFn:
    settings = CodeSettings(ModelSettings("scripted", "scripted"), CodeCoTSettings(samples=samples, max_new_tokens=12),
                            SandboxSettings(None, False, 4.0, 256), None, False, truncation)
    return CodeCoTFn(None, settings)  # type: ignore[arg-type]  # its program, run alone: no engine, no handle


def test_a_cot_cut_at_the_cap_is_never_kept_as_complete() -> None:
    backend = capped([("For your eyes only", FORWARD)])  # 40 words; the cap is 12
    cot = ReverseCoTWriter(backend, CodeCoTSettings(samples=2, max_new_tokens=12)).write(clamp_fn())
    assert cot.steps == [] and dict(cot.rejected) == {"truncated_cot": 2} and not cot.truncated
    stage = stage_with(TruncationPolicy())
    written = drive(stage._write(backend, clamp_fn()), backend)
    assert written.back is None
    assert stage.finish(CheckedFunction(clamp_fn(), "passed", "id"), written) == Filtered("truncated_cot")
    assert no_cot_reason(Counter({"copied_code": 3, "truncated_cot": 1})) == "truncated_cot"  # truncation is why


def test_a_cut_cot_is_kept_marked_or_retried_once_with_the_larger_cap() -> None:
    backend = capped([("For your eyes only", FORWARD)])
    kept = ReverseCoTWriter(backend, CodeCoTSettings(samples=1, max_new_tokens=33), TruncationPolicy(keep=True)).write(clamp_fn())
    assert kept.truncated and kept.steps[0].startswith("I need to keep") and kept.steps[-1] == "Then the result"
    short = ReverseCoTWriter(backend, CodeCoTSettings(samples=1, max_new_tokens=12),
                             TruncationPolicy(keep=True)).write(clamp_fn())
    assert short.steps == [] and dict(short.rejected) == {"truncated_cot": 1}  # cut too short to be reasoning: not kept
    calls = []
    original = backend.generate
    backend.generate = lambda requests: calls.append([r.params.max_new_tokens for r in requests]) or original(requests)
    retried = ReverseCoTWriter(backend, CodeCoTSettings(samples=1, max_new_tokens=12),
                               TruncationPolicy(retry_tokens=100)).write(clamp_fn())
    assert calls == [[12], [100]] and retried.retried and not retried.truncated and len(retried.steps) == 3
    assert dict(retried.rejected) == {"truncated_cot": 1}  # the cut sample of the first try, counted
    calls.clear()
    not_larger = ReverseCoTWriter(backend, CodeCoTSettings(samples=1, max_new_tokens=12), TruncationPolicy(retry_tokens=12))
    assert not_larger.write(clamp_fn()).steps == [] and calls == [[12]]  # a retry cap not above the first: no retry


def test_a_cut_sample_that_copies_the_code_is_rejected_for_copying() -> None:
    body = ("1. if low > high: raise ValueError(\"low must not exceed high\") return max(low, min(value, high)) "
            + "and more " * 20)
    backend = capped([("For your eyes only", body)])
    cot = ReverseCoTWriter(backend, CodeCoTSettings(samples=1, max_new_tokens=33), TruncationPolicy(keep=True)).write(clamp_fn())
    assert cot.steps == [] and dict(cot.rejected) == {"copied_code": 1}
    assert no_cot_reason(cot.rejected) == "no_forward_cot:copied_code"


def test_a_round_trip_cut_at_the_cap_counts_only_a_function_it_closed() -> None:
    unclosed = "```python\ndef clamp(value, low, high):\n    if low > high:\n        raise ValueError('bad')"
    assert function_from_reply(unclosed, "clamp")[0] is not None  # parses: a cut function can look whole
    assert function_from_reply(unclosed, "clamp", cut=True) == (None, "truncated")
    closed = "```python\ndef clamp(value, low, high):\n    return max(low, min(value, high))\n```\nThis keeps the value in"
    whole = "def clamp(value, low, high):\n    return max(low, min(value, high))"
    assert function_from_reply(closed, "clamp", cut=True) == (whole, None)
    assert function_from_reply("no code at all, cut", "clamp", cut=True) == (None, "truncated")
    long_reply = CLAMP_REPLY + "\n" + "word " * 400  # closed, then prose cut at the cap
    back = RoundTripWriter(capped([("Plan:", long_reply)])).write(clamp_fn(), ["Keep the value in range."])
    assert back.code is not None and back.reason is None and not back.retried
    cut_early = RoundTripWriter(capped([("Plan:", "```python\n" + "x = 1\n" * 400)]),
                                truncation=TruncationPolicy(retry_tokens=2000))
    back = cut_early.write(clamp_fn(), ["Keep the value in range."])
    assert back.retried and back.reason == "no_function"  # retried with the larger cap: whole, and still no clamp
