"""An output folder for the studio tests: a scripted ``expand`` (a test double as the policy), one of
whose human steps is hostile HTML, so every page that shows rows must show it as text."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.pipelines.helpers import run, scripted, seed, write_jsonl

XSS = '<img src=x onerror="document.body.dataset.pwned=1"><script>document.body.dataset.pwned=2</script>'
POLICY = scripted(
    [("BAD", "So it is 7.\nThe answer is 7."), ("Write the", ["Add the two numbers.", "BAD guess: multiply them."])],
    default="So 40 + 2 = 42.\nThe answer is 42.",
)


@pytest.fixture(scope="session")
def expanded_folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    base = tmp_path_factory.mktemp("studio-data")
    seeds = write_jsonl(base / "seeds.jsonl", [
        seed(0, [f"Start with 40. {XSS}", "The answer is 42."], problem="What is 40 plus 2?"),
        seed(1, ["Start with 39.", "The answer is 42."], problem="What is 39 plus 3?"),
    ])
    out = base / "out"
    assert run(["expand", "--seeds", seeds, "--out", out, "--backend", "scripted", "--model", POLICY,
                "--simulations", "3", "--branching", "2", "--max-depth", "4"]) == 0
    return out
