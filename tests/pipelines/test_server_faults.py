"""``reverse-o1 label --backend openai`` through the real CLI and DirectRunner against a real local
HTTP server that misbehaves (``FaultServer`` from tests/generators/test_openai_faults.py).

The bar: a server that fails about 30% of the requests in every way (500, 503 and 429 with
``Retry-After``, a 200 with broken JSON, a cut-short body, wrong shapes, a reset connection) still
gives every solution its labels, the same labels as a server without faults, or a dead letter
with the server's own error; and a server that fails every input (down, model missing) makes the
command exit 2 with that error in one line, manifest and dead letters written.

The backoff is made instant and ``Retry-After`` capped to a hundredth of a second (module
defaults of the backend, which runs in this process); attempts are still counted.
"""

from __future__ import annotations

import hashlib
from collections import Counter
from pathlib import Path

import pytest
from tenacity import wait_none

from generators.backends import openai_backend
from tests.generators.test_openai_faults import Action, FaultServer, Status, closed_port, request_key
from tests.pipelines.helpers import assert_balanced, dead_letters, prm_rows, run, seed, write_jsonl

N = 2
FAULTS: list[Action] = [
    Status(500, "internal error"),
    Status(503, "overloaded, come back later", {"Retry-After": "1"}),
    Status(429, "rate limited", {"Retry-After": "Thu, 01 Jan 2099 00:00:00 GMT"}),  # a date: capped
    "broken_json", "truncated", "no_choices", "wrong_types", "choices_not_list", "reset",
]
POISON = "POISON"  # a problem the server always fails with its own message


@pytest.fixture(autouse=True)
def _fast_backoff(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(openai_backend, "RETRY_WAIT", wait_none())
    monkeypatch.setattr(openai_backend, "RETRY_AFTER_MAX", 0.01)


class FlakyPlan:
    """About 30% of all requests fail: each request fails its first 0, 1 or 2 attempts (70/20/10%,
    fixed by its content, so the run is reproducible), the faults taking every kind in turn; a
    request of the poison problem fails every time."""

    def __init__(self) -> None:
        self.faults = 0

    def __call__(self, body: dict, attempt: int) -> Action:
        if POISON in body["messages"][-1]["content"]:
            return Status(500, f"scripted overload on {POISON}")
        failures = [0] * 7 + [1] * 2 + [2]
        if attempt >= failures[hashlib.sha256(request_key(body).encode()).digest()[0] % 10]:
            return "ok"
        self.faults += 1
        return FAULTS[self.faults % len(FAULTS)]


def seeds(tmp_path: Path, count: int, poison: bool = False) -> Path:
    rows = [seed(i, [f"Start {i}.", f"Then step {i}.", "So the answer is 42."]) for i in range(count)]
    if poison:
        rows.append(seed("p", ["A step.", "Another.", "So 42."], problem=f"{POISON} problem?"))
    return write_jsonl(tmp_path / "seeds.jsonl", rows)


def label(tmp_path: Path, inputs: Path, url: str, out: str, *extra: str) -> tuple[int, Path]:
    out_dir = tmp_path / out
    code = run(["label", "--input", inputs, "--out", out_dir, "--n", N, "--backend", "openai", "--base-url", url,
                "--model", "fake-model", "--max-retries", "4", "--max-concurrency", "4", *extra])
    return code, out_dir


def by_id(rows: list[dict]) -> dict[str, tuple]:
    return {r["id"]: (r["labels"], r["soft_labels"], r["rollouts"], r["correct_rollouts"]) for r in rows}


def test_30_percent_of_requests_failing_every_way_still_labels_every_solution(tmp_path: Path) -> None:
    inputs = seeds(tmp_path, 16, poison=True)
    plan = FlakyPlan()
    flaky = FaultServer(plan)
    clean = FaultServer()
    try:
        code, out = label(tmp_path, inputs, flaky.url, "flaky")
        clean_code, clean_out = label(tmp_path, inputs, clean.url, "clean")
    finally:
        flaky.stop()
        clean.stop()
    assert code == 0 and clean_code == 0  # one solution lost, not all: the run succeeded
    failed = sum(n for action, n in flaky.actions.items() if action != "ok")
    assert set(flaky.actions) == {"ok", *(f if isinstance(f, str) else str(f.code) for f in FAULTS)}
    poisoned = sum(1 for b in flaky.bodies if POISON in b["messages"][-1]["content"])
    assert 0.25 <= (failed - poisoned) / (len(flaky.bodies) - poisoned) <= 0.45, flaky.actions

    data = assert_balanced(out)
    stage = data["stages"]["label/label"]
    assert (stage["read"], stage["written"], stage["dead_lettered"]) == (17, 16, 1)
    assert stage["stats"]["completions"] == 16 * N * 2  # two probed prefixes a solution, nothing spent twice
    # the retries change nothing: the same rows as against a server without faults
    assert len(prm_rows(clean_out)) == 17 and len(prm_rows(out)) == 16
    assert by_id(prm_rows(out)) == by_id([r for r in prm_rows(clean_out) if POISON not in r["prompt"]])
    [letter] = dead_letters(out)
    assert (letter["reason"], letter["input"].strip('"')) == ("backend_error", "sp")
    assert f"HTTP 500 after 5 attempts: scripted overload on {POISON}" in letter["error"]
    assert poisoned <= 2 * 5  # two requests, five attempts each at most: none after the solution was lost


def test_a_server_that_is_down_fails_the_command_in_one_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    url = f"http://127.0.0.1:{closed_port()}/v1"
    code, out = label(tmp_path, seeds(tmp_path, 4), url, "out")
    assert code == 2
    err = [line for line in capsys.readouterr().err.splitlines() if "reverse-o1" in line]
    assert err == [f"reverse-o1 label: error: all 4 inputs of stage 'label' failed on the backend: cannot reach the "
                   f"server at {url}: [Errno 111] Connection refused; dead letters in {out / 'dead_letter'}"]
    data = assert_balanced(out)  # the manifest and the dead letters are written all the same
    assert (data["stages"]["label/label"]["read"], data["stages"]["label/label"]["dead_lettered"]) == (4, 4)
    assert data["runs"]["label"]["failure"] in err[0]
    letters = dead_letters(out)
    assert len(letters) == 4 and {d["reason"] for d in letters} == {"backend_error"}
    attempts = Counter("after 5 attempts" in d["error"] for d in letters)
    # once known down, later requests try once (which element's request spent the five attempts
    # depends on the engine's timing: that element may have failed on another request first)
    assert attempts[False] >= 1 and all("attempt" in d["error"] for d in letters)


def test_a_missing_model_fails_the_command_with_the_servers_message(tmp_path: Path,
                                                                    capsys: pytest.CaptureFixture[str]) -> None:
    server = FaultServer(lambda body, attempt: Status(404, f"The model `{body['model']}` does not exist."))
    try:
        code, out = label(tmp_path, seeds(tmp_path, 3), server.url, "out")
    finally:
        server.stop()
    assert code == 2
    [line] = [line for line in capsys.readouterr().err.splitlines() if "reverse-o1" in line]
    assert f"{server.url}: HTTP 404: The model `fake-model` does not exist." in line
    assert len(server.bodies) == 3 * 2  # a 4xx is not retried: one call per probed prefix
    assert len(dead_letters(out)) == 3


def test_a_run_with_some_failures_exits_0(tmp_path: Path) -> None:
    inputs = write_jsonl(tmp_path / "s.jsonl", [seed(1, ["a", "b"]), seed("p", ["c", "d"], problem=f"{POISON}?")])
    server = FaultServer(FlakyPlan())
    try:
        code, out = label(tmp_path, inputs, server.url, "out")
    finally:
        server.stop()
    assert code == 0 and len(prm_rows(out)) == 1 and len(dead_letters(out)) == 1
