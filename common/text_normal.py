"""Text normalisation for decontamination and near-duplicate checks: one normal form, word n-grams, their hashes.

Two texts that differ only in case, whitespace, number formatting ("1,000" / "1000", "5.00" / "5",
"$5" / "5"), LaTeX spacing (``\\,`` ``\\;`` ``\\!`` ``\\quad``, ``$``), Unicode compatibility forms or
punctuation normalise to the same string, so their word n-grams hash alike. The bundled benchmark
references (``common/decontamination/*.json.gz``, built by ``tools/build_decontamination_refs.py``)
hold ``gram_hash`` values of ``ngrams(words(text), n)``; a checker computes the same for its input
and intersects. Code is compared by ``code_tokens`` instead (comments, docstrings and layout dropped).

Pure standard library: this module sits in the bottom layer and is imported by the build tool too.
"""

from __future__ import annotations

import ast
import hashlib
import io
import re
import tokenize
import unicodedata
import warnings
from collections.abc import Iterable, Sequence

# --- natural text ------------------------------------------------------------------------------------

# GSM8K's calculator annotations (``<<48/2=24>>``): a duplicate of the text around them.
_CALC = re.compile(r"<<[^<>]*>>")
# LaTeX spacing and sizing that carries no content: removed (replaced by a space).
_LATEX_SPACING = re.compile(r"\\(?:[,;:!> ]|q?quad\b|enspace\b|thinspace\b|medspace\b|thickspace\b|negthinspace\b)")
# Formatting commands whose argument is the content: the command name goes, the braces' text stays.
_LATEX_FORMAT = re.compile(
    r"\\(?:left|right|big|Big|bigg|Bigg|bigl|bigr|Bigl|Bigr|displaystyle|textstyle|scriptstyle|"
    r"text|textbf|textit|textrm|texttt|mathrm|mathbf|mathit|mathsf|mathtt|mbox|hbox|operatorname)(?![A-Za-z])"
)
_LATEX_FRAC = re.compile(r"\\[dt]frac(?![A-Za-z])")
# A thousands separator: a comma between a digit and exactly three digits (1,000 and 12,345,678).
_THOUSANDS = re.compile(r"(?<=\d),(?=\d{3}(?!\d))")
# A bare leading decimal point: ".5" is "0.5".
_LEADING_POINT = re.compile(r"(?<![\w.])\.(?=\d)")
# A decimal number: trailing zeros of the fraction dropped, and the point if nothing is left ("5.00" -> "5").
_DECIMAL = re.compile(r"(\d+)\.(\d+)")
# What stays: runs of letters/digits, and a point inside a number. Everything else is a separator.
_WORD = re.compile(r"\d+(?:\.\d+)*|[^\W\d_]+", re.UNICODE)


def _decimal(match: re.Match[str]) -> str:
    whole, frac = match.group(1), match.group(2).rstrip("0")
    return f"{whole}.{frac}" if frac else whole


def normalise(text: str) -> str:
    """The normal form: NFKC, lowercase, LaTeX spacing and ``$`` stripped, numbers in one format,
    punctuation as spaces (a decimal point inside a number stays), single spaces between words.

    Letters and digits are split where they meet ("5kg" -> "5 kg"), so units written with or without
    a space normalise alike. GSM8K calculator annotations (``<<6*4=24>>``) are dropped.
    """
    if not text:
        return ""
    if not text.isascii():
        text = unicodedata.normalize("NFKC", text)
    if "<<" in text:  # each pass only where its pattern can match: the same result, for a fraction of the time
        text = _CALC.sub(" ", text)
    if "\\" in text:
        text = _LATEX_SPACING.sub(" ", text)
        text = _LATEX_FORMAT.sub(" ", text)
        text = _LATEX_FRAC.sub(r"\\frac", text)
    text = text.replace("$", " ")
    if "," in text:
        text = _THOUSANDS.sub("", text)
    if "." in text:
        text = _LEADING_POINT.sub("0.", text)
        text = _DECIMAL.sub(_decimal, text)
    text = text.lower()
    return " ".join(_WORD.findall(text))


def words(text: str) -> list[str]:
    """The normalised text's words (``normalise(text).split()``)."""
    return normalise(text).split()


def ngrams(words: Sequence[str], n: int) -> list[str]:
    """Word n-grams, each the words joined by single spaces, in order (repeats kept).

    Fewer words than ``n`` (but at least one): the whole text is the one gram, so a short item is
    still matched, and only by a text that normalises to exactly the same words. No words: none.
    """
    if n < 1:
        raise ValueError(f"n must be at least 1, got {n}")
    if not words:
        return []
    if len(words) < n:
        return [" ".join(words)]
    return [" ".join(words[i : i + n]) for i in range(len(words) - n + 1)]


def gram_hash(gram: str) -> str:
    """A gram's fingerprint: 16 hex characters of blake2b (digest_size=8) of its UTF-8 text."""
    return hashlib.blake2b(gram.encode("utf-8"), digest_size=8).hexdigest()


# --- code ------------------------------------------------------------------------------------------

_SKIP = {tokenize.COMMENT, tokenize.NL, tokenize.NEWLINE, tokenize.INDENT, tokenize.DEDENT, tokenize.ENCODING, tokenize.ENDMARKER}
_STATEMENT_START = {tokenize.NEWLINE, tokenize.NL, tokenize.INDENT, tokenize.DEDENT, tokenize.ENCODING}

_FALLBACK = re.compile(
    r"""
    (?P<comment>\#[^\r\n]*|\\\r?\n)
  | (?P<string>(?:[rRbBuUfF]{1,2})?
        (?:\"\"\"[\s\S]*?(?:\"\"\"|$)|'''[\s\S]*?(?:'''|$)|"(?:\\.|[^"\\\r\n])*"|'(?:\\.|[^'\\\r\n])*'))
  | (?P<name>[^\W\d]\w*)
  | (?P<number>(?:\d[\w.]*|\.\d[\w.]*)(?:(?<=[eE])[-+]\d[\w.]*)?)
  | (?P<op>\*\*=|//=|>>=|<<=|\.\.\.|->|:=|==|!=|<=|>=|\*\*|//|<<|>>|[-+*/%&|^@]=|\S)
    """,
    re.VERBOSE,
)


def _literal(token: str) -> str:
    """A string literal in one spelling (``'a'`` and ``"a"`` alike); unparseable ones as written."""
    try:
        with warnings.catch_warnings():  # "invalid escape sequence" in the literal: not ours to report
            warnings.simplefilter("ignore")
            value = ast.literal_eval(token)
    except (ValueError, SyntaxError, MemoryError, RecursionError):
        return token
    return repr(value) if isinstance(value, str | bytes) else token


def _tokenize(source: str) -> list[str]:
    tokens: list[str] = []
    pending: str | None = None  # a string that opened a statement: dropped if the statement ends with it
    previous = tokenize.NEWLINE  # the last token that is not a comment or a blank line's NL
    for tok in tokenize.generate_tokens(io.StringIO(source).readline):
        kind = tok.type
        if kind in (tokenize.COMMENT, tokenize.NL):
            continue
        if pending is not None:
            if kind not in (tokenize.NEWLINE, tokenize.ENDMARKER):
                tokens.append(_literal(pending))  # the string was part of an expression ("-".join(x))
            pending = None  # else: a docstring or bare string statement, dropped
        if kind == tokenize.STRING and previous in _STATEMENT_START:
            pending = tok.string
        elif kind not in _SKIP and tok.string.strip():
            tokens.append(_literal(tok.string) if kind == tokenize.STRING else tok.string)
        previous = kind
    return tokens


def _fallback_tokens(source: str) -> list[str]:
    """A regex tokenizer for source Python's tokenizer rejects: the same tokens for the common cases
    (names, numbers, strings, operators), comments dropped, a string alone on its lines dropped."""
    tokens: list[str] = []
    depth = 0  # open brackets: a string alone on its line inside them is part of an expression
    for match in _FALLBACK.finditer(source):
        kind = match.lastgroup
        if kind == "comment":
            continue
        text = match.group()
        if kind == "string":
            line_start = source.rfind("\n", 0, match.start()) + 1
            line_end = source.find("\n", match.end())
            before = source[line_start : match.start()]
            after = source[match.end() : len(source) if line_end < 0 else line_end]
            if depth == 0 and not before.strip() and (not after.strip() or after.lstrip().startswith("#")):
                continue  # a docstring / bare string statement
            tokens.append(_literal(text))
        else:
            if text in {"(", "[", "{"}:
                depth += 1
            elif text in {")", "]", "}"}:
                depth = max(0, depth - 1)
            tokens.append(text)
    return tokens


def code_tokens(source: str) -> list[str]:
    """Python source as a list of tokens: identifiers, keywords, operators and literals as written
    (string literals in one quoting style), with comments, docstrings (and other bare string
    statements), indentation and line breaks dropped. Reformatting, re-indenting or re-commenting a
    function leaves its tokens unchanged. Source ``tokenize`` rejects (syntax errors, mixed tabs,
    unterminated strings, other languages) goes through a regex tokenizer instead; never raises.
    """
    if not source:
        return []
    source = unicodedata.normalize("NFKC", source)
    try:
        return _tokenize(source)
    except (tokenize.TokenError, SyntaxError, ValueError):  # IndentationError/TabError are SyntaxErrors
        return _fallback_tokens(source)


def code_hashes(sources: Iterable[str], n: int) -> set[str]:
    """The ``gram_hash`` set of the ``n``-grams of each source's ``code_tokens`` (a convenience for
    building and checking code references the same way)."""
    return {gram_hash(g) for source in sources for g in ngrams(code_tokens(source), n)}
