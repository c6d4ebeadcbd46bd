"""The docs say only what the CLI accepts.

Every ``reverse-o1 ...`` line in a fenced shell block of README.md and docs/*.md is parsed by the
real argument parser; flags it leaves over must look like Beam's pipeline options. README.md
stays short, says what is (no history), and links only to files that exist.
"""

from __future__ import annotations

import re
import shlex
from pathlib import Path

import pytest

from pipelines.cli import make_parser

ROOT = Path(__file__).resolve().parents[2]
DOC_FILES = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
SHELL_LANGS = {"", "bash", "sh", "shell", "console"}
FENCE = re.compile(r"^(\s*)(```+|~~~+)\s*([\w+-]*)")
COMMAND = re.compile(r"^(?:\$\s+)?(?:[\w./~-]*/)?(reverse-o1\s.*)$")
SHELL_OPERATORS = set("();<>|&")
# Beam's options are snake_case (`--temp_location`, `--flink_master`); these are the one-word ones.
BEAM_ONE_WORD = {"runner", "project", "region", "experiments", "subnetwork", "network", "zone",
                 "labels", "streaming", "profile_cpu", "dataflow_endpoint"}
BEAM_OPTION = re.compile(r"^--([a-z][a-z0-9]*(?:_[a-z0-9]+)+|[a-z]+)$")

README_MAX_LINES = 170
HISTORY = re.compile(r"\bround \d|\bissue \d|#\d{2}\b", re.IGNORECASE)


def _shell_blocks(path: Path) -> list[tuple[int, list[str]]]:
    """(first line number, lines) of every fenced block whose language is a shell or none."""
    blocks: list[tuple[int, list[str]]] = []
    fence, keep, start, current = "", False, 0, []
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        match = FENCE.match(line)
        if not fence:
            if match:
                fence, start, current = match.group(2), number + 1, []
                keep = match.group(3).lower() in SHELL_LANGS
        elif (match and not match.group(3) and match.group(2)[0] == fence[0]
              and len(match.group(2)) >= len(fence)):
            if keep:
                blocks.append((start, current))
            fence = ""
        elif keep:
            current.append(line)
    return blocks


def _commands(path: Path) -> list[tuple[str, int, str]]:
    """(file, line number, command text) of every reverse-o1 line, continuations joined."""
    found = []
    for start, lines in _shell_blocks(path):
        i = 0
        while i < len(lines):
            number, text = start + i, lines[i].strip()
            while text.endswith("\\") and i + 1 < len(lines):
                i += 1
                text = text[:-1].rstrip() + " " + lines[i].strip()
            i += 1
            match = COMMAND.match(text)
            if match:
                found.append((path.relative_to(ROOT).as_posix(), number, match.group(1)))
    return found


def _argv(command: str) -> list[str]:
    """The words of one command up to the first shell operator, comments dropped."""
    lexer = shlex.shlex(command, posix=True, punctuation_chars=True)
    lexer.whitespace_split = True
    argv = []
    for token in lexer:
        if token and set(token) <= SHELL_OPERATORS:
            break
        argv.append(token)
    return argv[1:]  # without the program name


ALL_COMMANDS = [c for path in DOC_FILES for c in _commands(path)]


def test_the_docs_hold_commands() -> None:
    files = {f for f, _, _ in ALL_COMMANDS}
    assert "README.md" in files and "docs/cli.md" in files, files
    assert len(ALL_COMMANDS) >= 20


@pytest.mark.parametrize(("where", "line", "command"), ALL_COMMANDS,
                         ids=[f"{f}:{n}" for f, n, _ in ALL_COMMANDS])
def test_documented_command_parses(where: str, line: int, command: str) -> None:
    argv = _argv(command)
    try:
        _, leftover = make_parser().parse_known_args(argv)
    except SystemExit as exc:
        pytest.fail(f"{where}:{line}: the CLI refuses (exit {exc.code}): {command}")
    previous_flag = False
    for arg in leftover:
        if arg.startswith("--"):
            name = arg.split("=", 1)[0]
            match = BEAM_OPTION.match(name)
            if not match or ("_" not in name[2:] and name[2:] not in BEAM_ONE_WORD):
                pytest.fail(f"{where}:{line}: {arg!r} is neither a reverse-o1 flag nor a Beam "
                            f"option: {command}")
            previous_flag = "=" not in arg
        elif previous_flag:  # the value of a Beam flag given as `--name VALUE`
            previous_flag = False
        else:
            pytest.fail(f"{where}:{line}: stray argument {arg!r}: {command}")


def test_argv_stops_at_shell_operators_and_comments() -> None:
    assert _argv("reverse-o1 export math-shepherd out -o - | head -3") == [
        "export", "math-shepherd", "out", "-o", "-"]
    assert _argv("reverse-o1 label --input a --out b   # same folder") == [
        "label", "--input", "a", "--out", "b"]
    assert _argv('reverse-o1 label --input a --out b --x="p;q" && ls > f') == [
        "label", "--input", "a", "--out", "b", "--x=p;q"]


def test_readme_is_short_and_says_what_is() -> None:
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    lines = text.splitlines()
    assert len(lines) <= README_MAX_LINES, f"README.md has {len(lines)} lines"
    for number, line in enumerate(lines, 1):
        assert not HISTORY.search(line), f"README.md:{number}: history words: {line}"


def _slug(heading: str) -> str:
    """GitHub's anchor for a heading."""
    text = re.sub(r"[^\w\- ]", "", heading.strip().lower())
    return text.replace(" ", "-")


def _anchors(path: Path) -> set[str]:
    text = re.sub(r"```.*?```", "", path.read_text(encoding="utf-8"), flags=re.S)
    return {_slug(h) for h in re.findall(r"^#{1,6}\s+(.*)$", text, flags=re.M)}


def _links(path: Path) -> list[tuple[str, str]]:
    """(target, anchor) of every relative link outside code blocks."""
    text = re.sub(r"```.*?```", "", path.read_text(encoding="utf-8"), flags=re.S)
    found = []
    for target in re.findall(r"\]\(([^)\s]+)\)", text):
        if re.match(r"^[a-z][a-z0-9+.-]*:", target):
            continue  # http:, mailto:
        file, _, anchor = target.partition("#")
        found.append((file, anchor))
    return found


def test_readme_links_exist() -> None:
    links = _links(ROOT / "README.md")
    assert any(file.startswith("docs/") for file, _ in links)
    missing = [file for file, _ in links if file and not (ROOT / file).exists()]
    assert not missing, f"README.md links to missing files: {missing}"


@pytest.mark.parametrize("path", DOC_FILES, ids=[p.relative_to(ROOT).as_posix() for p in DOC_FILES])
def test_links_and_anchors_resolve(path: Path) -> None:
    broken = []
    for file, anchor in _links(path):
        target = (path.parent / file) if file else path
        if not target.exists():
            broken.append(f"{file}: no such file")
        elif anchor and target.suffix == ".md" and anchor not in _anchors(target):
            broken.append(f"{file}#{anchor}: no such heading")
    assert not broken, f"{path.relative_to(ROOT)}: {broken}"
