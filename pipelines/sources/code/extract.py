"""Python functions out of source text, by ``ast`` and ``tokenize`` only (never import, never run).

``extract_functions`` takes one file and gives the candidate functions (top-level functions and
methods of top-level classes, SelfCodeAlign-style: a docstring, a ``return <value>`` in their own
body, at most ``max_lines`` lines, not async, no risky module or builtin of their own), the
per-reason counts of the rejected definitions, a file-level reason when the file could not be
parsed; for a test file, its tests as pytest collects them and the links from each to the
functions it calls (``suite.py``); for any other module, the names it binds (``reexports.py``:
a test's ``mi.chunked`` is followed from the package to the module defining ``chunked``).

Def-level reasons: ``async``, ``no_docstring``, ``no_return``, ``generator``, ``too_long``,
``function_too_large`` (over ``MAX_FUNCTION_CHARS`` of source or ``MAX_DOCSTRING_CHARS`` of
docstring), ``redefined`` (a later top-level def of the same name wins), ``in_test_file``,
``risky:<name>`` (a risky module reached through the module's own import aliases, or a risky builtin).

Sizes are capped here, before any prompt is built: 150 lines say nothing of a line's length, and
one function with an 800 KB docstring (or a 5 MB default argument) on a few lines would otherwise
reach dedup, the sandbox and a model prompt whole. The caps hold every real function we measured:
of 51,113 functions of at most 150 lines with a docstring (CPython 3.11's library and this
project's installed packages), the longest source is 8,379 characters (99.9th percentile 6,536)
and the longest docstring 6,422 (99.9th percentile 4,393; 3 over 6,000). ``MAX_FUNCTION_CHARS``
is 150 lines of 80 columns; ``MAX_DOCSTRING_CHARS`` bounds the docstring, which a code prompt
holds twice (as the task and inside the code). Together they keep the reverse-CoT prompt near
18,000 characters, about 5,000 tokens: within the embedded model's budget (8192 - max_new_tokens),
with ``prompt_too_long`` (``generators.backends.base``) the exact check behind them.
File-level reasons: ``syntax_error``, ``python2`` (a syntax error on code that looks like
Python 2), ``newer_python`` (valid code in syntax newer than this interpreter's, such as 3.14's
``except A, B:``; see ``newer_syntax``), ``recursion`` (nested too deeply to parse), and from ``decode_source``
``not_utf8`` / ``bad_encoding``.
"""

from __future__ import annotations

import ast
import doctest
import inspect
import io
import os
import re
import tokenize
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field

from pipelines.sources.code.reexports import ModuleNames, module_names
from pipelines.sources.code.suite import Link, links_from_tests
from pipelines.sources.code.syntax import imports
from schemas.code import CodeFunction, SourceFile, TestRef, source_lines

MAX_LINES = 150
MAX_FUNCTION_CHARS = 12_000  # source characters of one function, decorators included (150 lines x 80)
MAX_DOCSTRING_CHARS = 6_000  # characters of its docstring (cleaned, as prompts show it)
RISKY_MODULES = frozenset({
    "os", "sys", "subprocess", "socket", "shutil", "ctypes", "multiprocessing", "threading", "signal", "tempfile",
    "pathlib", "importlib", "pickle", "marshal", "shelve", "urllib", "http", "requests", "asyncio", "pty", "fcntl",
    "resource", "gc", "inspect", "builtins",
})
RISKY_BUILTINS = frozenset({"eval", "exec", "compile", "open", "input", "__import__", "breakpoint", "globals",
                            "__builtins__"})
ATTR_BUILTINS = frozenset({"getattr", "setattr", "delattr"})
PY2_PATTERNS = [
    re.compile(r"^\s*print\s+(?![\s(=,.)\[]|$)\S", re.MULTILINE),  # print "x" / print x
    re.compile(r"^\s*except\s+[\w.]+\s*,\s*\w+\s*:", re.MULTILINE),  # except X, e:
    re.compile(r"^\s*exec\s+['\"]", re.MULTILINE),
    re.compile(r"^\s*raise\s+\w+\s*,", re.MULTILINE),
    re.compile(r"`[^`\n]+`"),  # backticks
    re.compile(r"(?<![\w.'\"])0[0-7]+\b(?![.eEjJ])"),  # 0777
    re.compile(r"\bur['\"]"),
    re.compile(r"[\w)\]]\s*<>\s*[\w(\[]"),
]


class SourceDecodeError(ValueError):
    def __init__(self, reason: str, message: str):
        super().__init__(message)
        self.reason = reason


def decode_source(raw: bytes) -> str:
    """Source text, honouring a BOM or a PEP 263 coding cookie (default UTF-8).

    Raises ``SourceDecodeError`` with ``reason`` ``not_utf8`` (undecodable as UTF-8) or
    ``bad_encoding`` (an unknown cookie, or bytes invalid in the declared encoding).
    """
    try:
        encoding, _ = tokenize.detect_encoding(io.BytesIO(raw).readline)
    except SyntaxError as exc:
        reason = "not_utf8" if "invalid or missing encoding" in str(exc) or "utf-8" in str(exc).lower() else "bad_encoding"
        raise SourceDecodeError(reason, str(exc).splitlines()[0]) from exc
    try:
        text = raw.decode(encoding)
    except (UnicodeDecodeError, LookupError) as exc:
        reason = "not_utf8" if encoding.startswith("utf-8") else "bad_encoding"
        raise SourceDecodeError(reason, f"{type(exc).__name__}: {exc}") from exc
    return text[1:] if text.startswith("\ufeff") else text


def looks_like_python2(text: str) -> bool:
    return any(p.search(text) for p in PY2_PATTERNS)


#: syntax this interpreter (3.11) cannot parse, found on the line of the error: (pattern, what it is)
NEWER_SYNTAX = [
    # 3.14's `except A, B:` names exception classes; Python 2's `except X, e:` binds a lowercase name
    (re.compile(r"^\s*except\s*\*?\s*[\w.]+\s*,\s*(?:[A-Z][\w]*|[\w]+\.[\w.]+)(?:\s*,\s*[\w.]+)*\s*:"),
     "Python 3.14: except without parentheses (PEP 758)"),
    (re.compile(r"^\s*type\s+[A-Za-z_]\w*\s*(?:\[.*\])?\s*="), "Python 3.12: a type alias statement (PEP 695)"),
    (re.compile(r"^\s*(?:async\s+)?(?:def|class)\s+[A-Za-z_]\w*\s*\["), "Python 3.12: type parameters (PEP 695)"),
]


def newer_syntax(exc: SyntaxError) -> str | None:
    """What newer Python a syntax error points at (``except A, B:``, ``type X = ...``, ``def f[T]``,
    PEP 701 f-strings), or None: such a file is valid code this interpreter cannot read, not a broken one."""
    if str(exc.msg).startswith("f-string"):
        return "Python 3.12: f-string syntax (PEP 701)"
    line = exc.text or ""
    return next((what for pattern, what in NEWER_SYNTAX if pattern.match(line)), None)


def is_test_file(path: str) -> bool:
    parts = path.split("/")
    name = parts[-1]
    return name.endswith(".py") and (name.startswith("test_") or name.endswith("_test.py")
                                     or any(p in ("tests", "test") for p in parts[:-1]))


def module_name(path: str, has_init: Callable[[str], bool]) -> tuple[str, str]:
    """``(module, import_root)`` of a file: the dotted name from the first directory above its
    chain of packages (directories with ``__init__.py``; ``has_init(dir)`` says which)."""
    parts = path[:-3].split("/") if path.endswith(".py") else path.split("/")
    dirs = parts[:-1]
    chain: list[str] = []
    while dirs and has_init("/".join(dirs)):
        chain.insert(0, dirs.pop())
    names = chain + ([] if parts[-1] == "__init__" else [parts[-1]])
    if not names:  # a bare __init__.py at the root
        names = ["__init__"]
    return ".".join(names), "/".join(dirs)


def fs_has_init(root: str) -> Callable[[str], bool]:
    cache: dict[str, bool] = {}

    def has_init(rel_dir: str) -> bool:
        if rel_dir not in cache:
            cache[rel_dir] = os.path.isfile(os.path.join(root, rel_dir, "__init__.py"))
        return cache[rel_dir]

    return has_init


@dataclass
class Extraction:
    """What one file gives: candidates (doctests attached), rejected defs; for a test file the
    links out of its tests (as its imports name them: ``reexports.py`` finds the defining module),
    how many tests it holds and the tests not linked by reason (``suite.py``); for any other
    module the names it binds (``names``, for re-exports)."""

    reason: str | None = None  # file-level reason; nothing else is set then
    functions: list[CodeFunction] = field(default_factory=list)
    rejected: Counter = field(default_factory=Counter)
    links: list[Link] = field(default_factory=list)  # (module, symbol, test)
    suite_tests: int = 0
    unlinked: Counter = field(default_factory=Counter)
    names: ModuleNames | None = None

    @property
    def defs_seen(self) -> int:
        return len(self.functions) + sum(self.rejected.values())


# --- scope helpers ------------------------------------------------------------------------------

SCOPES = (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda, ast.ClassDef)


def own_nodes(node: ast.AST) -> Iterator[ast.AST]:
    """Nodes of a function's own body, not descending into nested defs, lambdas and classes."""
    stack = list(ast.iter_child_nodes(node))
    while stack:
        current = stack.pop()
        yield current
        if not isinstance(current, SCOPES):
            stack.extend(ast.iter_child_nodes(current))


def import_aliases(tree: ast.Module) -> dict[str, str]:
    """Every name the module binds by an import (anywhere in it) → the top-level module it comes from."""
    aliases: dict[str, str] = {}
    for node in imports(tree):
        if isinstance(node, ast.Import):
            for a in node.names:
                aliases[a.asname or a.name.split(".")[0]] = a.name.split(".")[0]
        elif node.module and not node.level:
            for a in node.names:
                if a.name != "*":
                    aliases[a.asname or a.name] = node.module.split(".")[0]
    return aliases


def risky_name(fn: ast.FunctionDef, aliases: dict[str, str]) -> str | None:
    """The first risky module or builtin the function uses itself (its own names), else None.

    A name the function binds itself (a parameter, an assignment target), unless declared
    ``global``, is local and not the module of the same name."""
    local: set[str] = set()
    declared_global: set[str] = set()
    found: list[tuple[int, int, str]] = []
    loads: list[ast.Name] = []
    attr_calls: list[ast.Call] = []
    for n in ast.walk(fn):
        if isinstance(n, ast.Name):
            if isinstance(n.ctx, ast.Load):
                if n.id in RISKY_BUILTINS or n.id in aliases:
                    loads.append(n)
            else:
                local.add(n.id)
        elif isinstance(n, ast.arg):
            local.add(n.arg)
        elif isinstance(n, ast.Call):
            if isinstance(n.func, ast.Name) and n.func.id in ATTR_BUILTINS and n.args and isinstance(n.args[0], ast.Name):
                attr_calls.append(n)
        elif isinstance(n, ast.Global | ast.Nonlocal):
            declared_global.update(n.names)
        elif isinstance(n, ast.Import):
            found += [(n.lineno, n.col_offset, a.name.split(".")[0]) for a in n.names
                      if a.name.split(".")[0] in RISKY_MODULES]
        elif isinstance(n, ast.ImportFrom) and n.module and not n.level and n.module.split(".")[0] in RISKY_MODULES:
            found.append((n.lineno, n.col_offset, n.module.split(".")[0]))
    local -= declared_global
    local.discard(fn.name)
    for n in loads:
        if n.id in local:
            continue
        if n.id in RISKY_BUILTINS and n.id not in aliases:
            found.append((n.lineno, n.col_offset, n.id.strip("_") if n.id == "__builtins__" else n.id))
        elif aliases.get(n.id) in RISKY_MODULES:
            found.append((n.lineno, n.col_offset, aliases[n.id]))
    for n in attr_calls:
        if n.args[0].id in aliases and n.args[0].id not in local:
            found.append((n.lineno, n.col_offset, n.func.id))
    return min(found)[2] if found else None


# --- source positions ---------------------------------------------------------------------------

def _segment(lines: list[str], start: tuple[int, int], end: tuple[int, int]) -> str:
    (l1, c1), (l2, c2) = start, end
    if l1 == l2:
        return lines[l1 - 1][c1:c2]
    return "".join([lines[l1 - 1][c1:], *lines[l1:l2 - 1], lines[l2 - 1][:c2]])


def signature_of(fn: ast.FunctionDef, lines: list[str]) -> str:
    """The ``def`` line(s) up to the header's colon (from ast positions, the colon found by tokenize)."""
    body = fn.body[0]
    head = _segment(lines, (fn.lineno, fn.col_offset), (body.lineno, body.col_offset))
    depth, end = 0, None
    try:
        for tok in tokenize.generate_tokens(io.StringIO(head).readline):
            if tok.type == tokenize.OP:
                if tok.string in "([{":
                    depth += 1
                elif tok.string in ")]}":
                    depth -= 1
                elif tok.string == ":" and depth == 0:
                    end = tok.end
    except (tokenize.TokenError, IndentationError, SyntaxError):
        pass
    if end is None:
        return head.split("\n", 1)[0].rstrip()
    head_lines = source_lines(head)
    text = "".join(head_lines[:end[0] - 1]) + head_lines[end[0] - 1][:end[1]]
    prefix = lines[fn.lineno - 1][:fn.col_offset]
    return "\n".join(ln[len(prefix):] if ln.startswith(prefix) else ln for ln in text.split("\n"))


def _dedent(block: list[str], indent: str) -> str:
    out = []
    for ln in block:
        if ln.startswith(indent):
            out.append(ln[len(indent):])
        elif not ln.strip():
            out.append(ln.lstrip(" \t"))
        else:
            out.append(ln)
    return "".join(out)


def has_doctest(docstring: str) -> bool:
    try:
        return bool(doctest.DocTestParser().get_examples(docstring))
    except ValueError:
        return False


# --- extraction ---------------------------------------------------------------------------------

def parse(text: str, path: str) -> tuple[ast.Module | None, str | None]:
    try:
        return ast.parse(text, filename=path), None
    except (RecursionError, MemoryError):
        return None, "recursion"
    except (SyntaxError, ValueError) as exc:
        if "too many nested" in str(exc) or "too complex" in str(exc):
            return None, "recursion"
        if isinstance(exc, SyntaxError) and newer_syntax(exc):
            return None, "newer_python"
        return None, "python2" if looks_like_python2(text) else "syntax_error"


def candidates(tree: ast.Module) -> Iterator[tuple[str, ast.AST]]:
    """``(symbol, def)`` for top-level functions and methods of top-level classes, in source order."""
    for node in tree.body:
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
            yield node.name, node
        elif isinstance(node, ast.ClassDef):
            for item in node.body:
                if isinstance(item, ast.FunctionDef | ast.AsyncFunctionDef):
                    yield f"{node.name}.{item.name}", item


@dataclass(frozen=True)
class SizeCaps:
    """How big a candidate may be: lines, source characters, docstring characters."""

    lines: int = MAX_LINES
    chars: int = MAX_FUNCTION_CHARS
    docstring_chars: int = MAX_DOCSTRING_CHARS


def extract_functions(file: SourceFile, text: str, max_lines: int = MAX_LINES,
                      has_init: Callable[[str], bool] | None = None, max_chars: int | None = None,
                      max_docstring_chars: int | None = None) -> Extraction:
    """Candidates, rejected defs by reason, and test links of one file (see the module docstring).

    ``has_init`` says which directories (relative to the snapshot root) hold ``__init__.py``;
    by default the snapshot's directory is looked at. ``max_chars`` and ``max_docstring_chars``
    default to the module's ``MAX_FUNCTION_CHARS`` and ``MAX_DOCSTRING_CHARS`` (read at each call).
    """
    caps = SizeCaps(max_lines, MAX_FUNCTION_CHARS if max_chars is None else max_chars,
                    MAX_DOCSTRING_CHARS if max_docstring_chars is None else max_docstring_chars)
    try:
        return _extract(file, text, caps, has_init or fs_has_init(file.repo.root))
    except RecursionError:
        return Extraction(reason="recursion")


def _extract(file: SourceFile, text: str, caps: SizeCaps, has_init: Callable[[str], bool]) -> Extraction:
    tree, reason = parse(text, file.path)
    if tree is None:
        return Extraction(reason=reason)
    module, import_root = module_name(file.path, has_init)
    out = Extraction()
    defs = list(candidates(tree))
    last: dict[str, int] = {symbol: i for i, (symbol, _) in enumerate(defs)}
    if is_test_file(file.path):
        out.rejected["in_test_file"] += len(defs)
        out.links, found = links_from_tests(tree, file.path, module)
        out.suite_tests, out.unlinked = len(found.tests), found.unlinked
        return out
    out.names = module_names(tree, module, file.path.endswith("__init__.py"))
    aliases = import_aliases(tree)
    lines = source_lines(text)
    for i, (symbol, fn) in enumerate(defs):
        why = _reject(fn, aliases, caps, lines) if last[symbol] == i else "redefined"
        if why:
            out.rejected[why] += 1
            continue
        start = min([fn.lineno, *(d.lineno for d in fn.decorator_list)])
        indent = re.match(r"[ \t]*", lines[start - 1]).group(0)
        docstring = inspect.cleandoc(ast.get_docstring(fn, clean=False) or "")
        tests = (TestRef("doctest", file.path, symbol),) if has_doctest(docstring) else ()
        out.functions.append(CodeFunction(
            repo=file.repo, path=file.path, module=module, import_root=import_root, symbol=symbol,
            signature=signature_of(fn, lines), docstring=docstring, code=_dedent(lines[start - 1:fn.end_lineno], indent),
            start_line=start, end_line=fn.end_lineno, indent=indent, tests=tests))
    return out


def _reject(fn: ast.AST, aliases: dict[str, str], caps: SizeCaps, lines: list[str]) -> str | None:
    if isinstance(fn, ast.AsyncFunctionDef):
        return "async"
    docstring = ast.get_docstring(fn, clean=False)
    if not docstring:
        return "no_docstring"
    start = min([fn.lineno, *(d.lineno for d in fn.decorator_list)])
    if fn.end_lineno - start + 1 <= caps.lines and too_large(docstring, caps, lines[start - 1:fn.end_lineno]):
        return "function_too_large"  # before anything walks it (more lines: too_long, below)
    returns = False
    for n in own_nodes(fn):
        if isinstance(n, ast.Yield | ast.YieldFrom):
            return "generator"
        if (isinstance(n, ast.Return) and n.value is not None
                and not (isinstance(n.value, ast.Constant) and n.value.value is None)):
            returns = True
    if not returns:
        return "no_return"
    if fn.end_lineno - start + 1 > caps.lines:
        return "too_long"
    risky = risky_name(fn, aliases)
    return f"risky:{risky}" if risky else None


def too_large(docstring: str, caps: SizeCaps, source: list[str]) -> bool:
    """Whether a function's source lines (decorators included) or its cleaned docstring are over their caps."""
    if len(docstring) > caps.docstring_chars and len(inspect.cleandoc(docstring)) > caps.docstring_chars:
        return True
    size = 0
    for line in source:
        size += len(line)
        if size > caps.chars:
            return True
    return False
