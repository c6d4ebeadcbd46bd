"""The hindsight filter: reverse-generated reasoning must read as if the code did not exist yet.

A model shown the code tends to narrate it ("the given code first checks..."), paste it (often
reformatted or with names changed), restate the task ("The function signature: `float`"), or
answer as an assistant about the prompt ("Here is the plan to write the function in the first
person... Your plan is a perfect example..."). None of these is reasoning toward the code: the
CoT leaks the answer or says nothing, and the round trip then checks the paste, not a plan. So
outputs that refer to the code as given, echo the prompt's instructions or talk about the plan as
an answer to someone, copy the code (``generators.code.copying`` measures that the same way for
code and text), or hold too little reasoning of their own are rejected, each with its reason
(see ``hindsight_reason``).
"""

from __future__ import annotations

import ast
import re
from dataclasses import dataclass
from functools import lru_cache

from generators.code.copying import code_tokens, measure_copy, spans
from generators.prompts import template

#: phrases that only make sense looking back at existing code. "code" and "implementation" alone
#: are ordinary words (a status code, "the implementation will use a dict"): they count only with a
#: hindsight qualifier or as the subject of narration ("the code first checks ...").
_NARRATES = (r"(?:first|then|now|also|simply|uses|used|checks|checked|returns|returned|does|did|iterates|loops|calls|"
             r"works|starts|defines|handles|implements)")
_HINDSIGHT = re.compile(
    r"\b(?:given|provided|original|existing|above|shown|following)\s+(?:code|snippet|implementation|solution)\b"
    r"|\b(?:code|snippet|implementation|function)\s+(?:above|below|provided|shown)\b"
    r"|\b(?:provided|original)\s+function\b"
    r"|\b(?:the|this)\s+(?:code|snippet|implementation)\s+" + _NARRATES + r"\b"
    r"|\blook(?:ing|ed)?\s+at\s+(?:the|this)\s+(?:code|snippet|implementation)\b"
    r"|\bas\s+(?:shown|written|implemented)\s+(?:above|below|in\s+the\s+code)\b"
    r"|\b(?:is|was|has\s+been)\s+already\s+implemented\b|\b(?:this|it)\s+(?:is|was)\s+implemented\b",
    re.IGNORECASE,
)
#: an assistant talking about its answer, its reader or the prompt's form, not reasoning about the problem.
#: "plan" and "function" alone are ordinary words ("my plan is to sort first", "I plan to write the
#: function iteratively"): they count only as the answer handed to someone ("here is the plan to
#: write the function", "your plan", "this plan is a perfect example").
_ECHO = re.compile(
    r"\bin\s+the\s+first\s+person\b|\b(?:future|present)\s+(?:or|and)\s+(?:future|present)\s+tense\b"
    r"|\bas\s+if\s+the\s+code\s+did\s+not\s+exist\b|\bfor\s+your\s+eyes\s+only\b"
    r"|\byour\s+(?:plan|steps|reasoning|outline|code|function|implementation|solution|request|task|question|prompt)\b"
    r"|\bhere(?:'s|\s+is|\s+are)\s+(?:the|my|a|an)\s+(?:\w+\s+)?(?:plan|steps|outline|reasoning)\s+(?:to|for)\s+"
    r"(?:write|writing|implement|implementing|create|creating|code|coding)\b"
    r"|\b(?:the|a|this)\s+plan\s+(?:to|for)\s+(?:write|writing|implement|implementing|create|creating|code|coding)\s+"
    r"(?:the|this|a|that)\s+function\b"
    r"|\b(?:this|that|the\s+above|the)\s+plan\s+(?:is|was)\s+(?:a\s+|an\s+)?(?:perfect|great|excellent|good|solid)\s+"
    r"(?:example|plan|approach|outline)\b"
    r"|\ba\s+(?:perfect|great|excellent|good)\s+example\s+of\s+how\s+to\s+(?:plan|write|implement|approach|reason)\b"
    r"|\bi\s+hope\s+this\s+helps\b|\blet\s+me\s+know\s+if\b|\bfeel\s+free\s+to\b|\bhappy\s+to\s+help\b|\bas\s+an\s+ai\b"
    r"|^\W*(?:sure|certainly|absolutely|of\s+course)\s*[!,.]\s*(?:here|i\s+can|i'?d|i\s+will|let\s+me|below)\b",
    re.IGNORECASE | re.MULTILINE,
)
ECHO_TEMPLATE = "code_reverse_cot"  # the prompt whose instructions a CoT must not restate
FILTER_VERSION = "hindsight/v3"  # recorded in each code-cot row's verifier_detail (v3: prompt_echo)


@dataclass(frozen=True)
class HindsightSettings:
    """Every threshold of the filter, in one place. Token counts are of normalised tokens
    (``generators.code.copying``); the body is the code without its ``def`` header and docstring."""

    min_copied_run: int = 12  # this many body tokens in a row (identifiers renamed or not) is pasting, not planning
    min_whole_body: int = 8  # a body shorter than min_copied_run but at least this long: copied whole is copied
    min_copied_line: int = 40  # a body line this long appearing whole in the text
    share_run: int = 4  # runs this long count toward the copied share; shorter ones are incidental (`a % b`)
    max_copied_share: float = 0.6  # at most this fraction of the body may lie in such runs...
    min_share_body: int = 20  # ...judged only for bodies this long: a one-liner's expression is its whole body
    min_novel_words: int = 5  # distinct prose words beyond the task (signature, docstring) and filler
    min_prose_words: int = 8  # words of prose outside code-like spans
    min_prose_share: float = 0.3  # prose words / (prose words + tokens of code-like spans)
    min_echo_run: int = 7  # this many words in a row of the prompt's own instructions is restating them


DEFAULT_SETTINGS = HindsightSettings()


def _stem(word: str) -> str:
    """Lower case, a plural ``s`` dropped: "lists" restates "list"."""
    word = word.lower()
    return word[:-1] if len(word) > 3 and word.endswith("s") and not word.endswith("ss") else word


#: words that carry no reasoning of their own: function words, and words about the task's form (stemmed)
_FILLER = frozenset(_stem(w) for w in """
a an the this that these those it its it's is are was were be been being am do does did done has have had having
and or but not no nor so if then else than as of to in on at by for from with without into onto over under about
i we you he she they me us my our your their them one ones some any all each every both either neither same such
will would can could should shall may might must need needs let lets just also only very really here there when
where which who whom whose what why how first next finally now after before step steps
function functions signature signatures parameter parameters argument arguments arg args docstring docstrings
type types typed annotation annotations hint hints def define defines defined named name called call takes take
accepts accept returns return returned returning python method methods class input inputs output outputs
write writes writing written code implement implementation body given following example examples
""".split())
_WORD = re.compile(r"[^\W\d_]+")


@dataclass(frozen=True)
class ReasoningMeasure:
    """How much of the text is reasoning: its prose words, the tokens of its code-like spans, its
    distinct prose words found neither in the task (signature, docstring) nor among filler, and its
    distinct words (code-like spans included) that the task already holds."""

    prose_words: int
    code_tokens: int
    novel_words: int
    task_words: int

    @property
    def prose_share(self) -> float:
        total = self.prose_words + self.code_tokens
        return self.prose_words / total if total else 0.0


def _task_lines(code: str) -> set[int] | None:
    """Indices of the lines the task itself shows: ``def`` headers (decorators, signature) and
    docstrings, of the function and anything nested. Parsed, never run; None when it does not parse."""
    try:
        tree = ast.parse(code)
    except (SyntaxError, ValueError, RecursionError):
        return None
    shown: set[int] = set()
    for node in ast.walk(tree):
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)) and node.body:
            first = node.body[0]
            header = min([node.lineno, *(d.lineno for d in node.decorator_list)])
            if first.lineno > node.lineno:  # a body on its own lines: the header lines are shown
                shown.update(range(header - 1, first.lineno - 1))
            if isinstance(first, ast.Expr) and isinstance(first.value, ast.Constant) and isinstance(first.value.value, str):
                shown.update(range(first.lineno - 1, (first.end_lineno or first.lineno)))
    return shown


def code_without_docstring(code: str) -> str:
    """``code`` without what the task itself shows (the docstring and the ``def`` header); ``code``
    when it does not parse. A plan may restate the task (a typed signature is many tokens) without
    copying the body."""
    shown = _task_lines(code)
    if shown is None:
        return code
    return "\n".join(line for i, line in enumerate(code.splitlines()) if i not in shown)


def task_text(code: str) -> str:
    """What the task shows of ``code``: its headers and docstrings; ``""`` when it does not parse."""
    shown = _task_lines(code) or set()
    return "\n".join(line for i, line in enumerate(code.splitlines()) if i in shown)


def _words(text: str) -> list[str]:
    """Words, identifiers cut at underscores (``first_number`` restates "first number")."""
    return [_stem(w) for w in _WORD.findall(text.replace("_", " "))]


def measure_reasoning(reasoning: str, code: str) -> ReasoningMeasure:
    """Prose words, code-span tokens and novel words of ``reasoning`` written for ``code``."""
    pieces = spans(reasoning)
    prose = [w for span in pieces if not span.code for w in _words(span.text)]
    code_spans = sum(len(code_tokens(span.text)) for span in pieces if span.code)
    task = set(_words(task_text(code))) - _FILLER
    novel = {w for w in prose if w not in task and w not in _FILLER and len(w) > 1}
    restated = {w for span in pieces for w in _words(span.text) if w in task}
    return ReasoningMeasure(len(prose), code_spans, len(novel), len(restated))


def copied_line(reasoning: str, body: str, settings: HindsightSettings = DEFAULT_SETTINGS) -> bool:
    """A long body line (``raise ValueError("a long message")``) found whole, whitespace aside."""
    text = " ".join(reasoning.split())
    return any(len(line.strip()) >= settings.min_copied_line and " ".join(line.split()) in text for line in body.splitlines())


def longest_copied_run(reasoning: str, code: str) -> int:
    """The longest run of ``code``'s tokens in ``reasoning`` (see ``generators.code.copying``)."""
    return measure_copy(reasoning, code, DEFAULT_SETTINGS.share_run).longest


_ECHO_WORD = re.compile(r"[a-z0-9]+(?:'[a-z]+)?")


def _echo_words(text: str) -> list[str]:
    return _ECHO_WORD.findall(text.lower())


@lru_cache(maxsize=8)
def instruction_runs(run: int, name: str = ECHO_TEMPLATE) -> frozenset[tuple[str, ...]]:
    """Every ``run`` words in a row of the template's fixed text (its system text and the user
    part's text between fields), lower case: what a CoT restating the instructions shares with them."""
    prompt = template(name)
    pieces = [prompt.system, *(p for part in prompt.parts.values() for p in re.split(r"\{\w+\}", part))]
    out: set[tuple[str, ...]] = set()
    for piece in pieces:
        words = _echo_words(piece)
        out.update(tuple(words[i: i + run]) for i in range(len(words) - run + 1))
    return frozenset(out)


def prompt_echo(reasoning: str, settings: HindsightSettings = DEFAULT_SETTINGS) -> bool:
    """Whether ``reasoning`` talks as an assistant about its answer or the prompt (``_ECHO``), or
    restates ``min_echo_run`` words in a row of the reverse-CoT prompt's instructions."""
    if _ECHO.search(reasoning):
        return True
    runs, n = instruction_runs(settings.min_echo_run), settings.min_echo_run
    words = _echo_words(reasoning)
    return any(tuple(words[i: i + n]) in runs for i in range(len(words) - n + 1))


def hindsight_reason(reasoning: str, code: str, settings: HindsightSettings = DEFAULT_SETTINGS) -> str | None:
    """Why ``reasoning`` is not usable as forward reasoning toward ``code``, or None when it is.

    Reasons, in the order checked: ``empty``; ``prompt_echo`` (restates the prompt's instructions
    or talks about the plan as an assistant); ``refers_to_code`` (talks about the code as given);
    ``copied_code`` (a run of ``min_copied_run`` body tokens, a short body whole, or a long line);
    ``copied_share`` (runs of ``share_run`` tokens or more cover ``max_copied_share`` of the body);
    ``restates_signature`` (fewer than ``min_novel_words`` words beyond the task and filler, and
    some of the task's own); ``no_reasoning`` (as few new words and none of the task's, too few
    prose words, or prose under ``min_prose_share`` of the text).
    """
    text = reasoning.strip()
    if not text:
        return "empty"
    if prompt_echo(text, settings):
        return "prompt_echo"
    if _HINDSIGHT.search(text):
        return "refers_to_code"
    body = code_without_docstring(code)
    copy = measure_copy(text, body, settings.share_run)
    whole = min(settings.min_copied_run, copy.body_tokens) if copy.body_tokens >= settings.min_whole_body else None
    if copied_line(text, body, settings) or copy.longest >= settings.min_copied_run or copy.longest == whole:
        return "copied_code"
    if copy.body_tokens >= settings.min_share_body and copy.share >= settings.max_copied_share:
        return "copied_share"
    measure = measure_reasoning(text, code)
    if measure.novel_words < settings.min_novel_words:
        return "restates_signature" if measure.task_words else "no_reasoning"
    if measure.prose_words < settings.min_prose_words or measure.prose_share < settings.min_prose_share:
        return "no_reasoning"
    return None
