"""The studio in a real browser: Debian's Chromium driven by Playwright, against ``reverse-o1 studio``
started as its own process (uvicorn on a free port). Screenshots of each page go to ``out/studio/``.

Skipped, with the reason, where Chromium or Playwright is missing (``make test`` installs both as root).
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.pipelines.conftest import DemoOutput
from tests.pipelines.helpers import prm_rows
from tests.pipelines.studio.conftest import XSS

ROOT = Path(__file__).resolve().parents[3]
CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
SHOTS = ROOT / "out" / "studio"
SAMPLE_SEEDS = ROOT / "samples" / "gsm8k" / "gsm8k_demo_seeds.jsonl"
TOKEN = "browser-test-token-0123456789"
playwright_api = pytest.importorskip("playwright.sync_api", reason="playwright is not installed (make test installs it)")
pytestmark = [pytest.mark.browser,
              pytest.mark.skipif(not os.path.exists(CHROMIUM), reason="Debian's chromium is not installed (make test "
                                 "installs it as root: apt-get install chromium chromium-driver)")]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Studio:
    """``reverse-o1 studio`` in a process of its own, stopped at the end."""

    def __init__(self, tmp: Path, seeds: Path | None, data: list[Path], token: str | None = None):
        self.port = _free_port()
        self.labels = tmp / "human_labels.jsonl"
        cmd = [sys.executable, "-m", "pipelines", "studio", "--port", str(self.port), "--labels", str(self.labels)]
        cmd += ["--seeds", str(seeds)] if seeds else []
        for folder in data:
            cmd += ["--data", str(folder)]
        cmd += ["--token", token] if token else []
        self.url = f"http://127.0.0.1:{self.port}/" + (f"?token={token}" if token else "")
        self.log = tmp / f"studio-{self.port}.log"
        with open(self.log, "wb") as log:
            self.proc = subprocess.Popen(cmd, cwd=ROOT, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
        deadline = time.monotonic() + 60
        while True:
            if self.proc.poll() is not None:
                pytest.fail(f"studio exited {self.proc.returncode}: {self.log.read_text()[-2000:]}")
            try:
                probe = urllib.request.Request(f"http://127.0.0.1:{self.port}/api/info",
                                               headers={"Authorization": f"Bearer {token}"} if token else {})
                with urllib.request.urlopen(probe, timeout=2):
                    return
            except OSError:
                if time.monotonic() > deadline:
                    pytest.fail(f"studio did not start: {self.log.read_text()[-2000:]}")
                time.sleep(0.3)

    def stop(self) -> None:
        os.killpg(self.proc.pid, signal.SIGTERM)
        self.proc.wait(timeout=20)


@pytest.fixture(scope="module")
def browser() -> Iterator[object]:
    with playwright_api.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=[
            "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking",
            "--disable-component-update", "--disable-sync"])
        yield browser
        browser.close()


@pytest.fixture
def page(browser):
    context = browser.new_context(viewport={"width": 1400, "height": 900})
    page = context.new_page()
    page.on("dialog", lambda dialog: dialog.accept())
    yield page
    context.close()


def shot(page, name: str) -> None:
    SHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SHOTS / f"{name}.png"), full_page=True)


def focus_step(page, index: int) -> None:
    """Press ``j`` until step ``index`` (0-based) has the focus: a re-render after the annotator's change
    event can land after a keypress on a loaded machine and put the focus back on the first step."""
    for _ in range(20):
        if page.locator(f"#row-steps li:nth-child({index + 1}).focus").count():
            return
        page.keyboard.press("j")
        page.wait_for_timeout(100)
    raise AssertionError(f"step {index} never took the focus")


def open_studio(page, studio: Studio, hash_: str = "") -> None:
    page.goto(studio.url + hash_)
    page.wait_for_selector("body[data-ready='1']")


def test_an_annotator_writes_a_seed_fixes_an_error_saves_and_reloads(tmp_path: Path, page) -> None:
    seeds = tmp_path / "seeds.jsonl"
    shutil.copy(SAMPLE_SEEDS, seeds)
    original = seeds.read_bytes()
    studio = Studio(tmp_path, seeds, [])
    try:
        open_studio(page, studio, "#seeds")
        assert page.locator("#seed-list li").count() == len(original.splitlines())
        page.click("#seed-new")
        page.fill("#f-id", "apples-001")
        page.fill("#f-problem", "Tom has 3 apples and buys 2 more. How many apples does he have?")
        page.locator("#f-steps textarea").first.fill("He has 3 + 2 = 5 apples.")
        page.locator("#f-steps select").first.select_option("Compute")
        page.keyboard.press("Control+Enter")  # a second step, from the keyboard
        page.locator("#f-steps textarea").nth(1).fill("The answer is 5.")
        page.locator("#f-steps select").nth(1).select_option("Conclude")
        # the answer is still empty: the same check as `seeds validate`, shown as they type
        page.wait_for_selector("#seed-problems li:has-text('answer: must not be empty')")
        assert page.locator("#f-answer.bad").count() == 1
        page.keyboard.press("Control+s")
        page.wait_for_selector("#seed-status.error")
        assert seeds.read_bytes() == original  # refused: nothing written
        page.fill("#f-answer", "5")
        playwright_api.expect(page.locator("#seed-problems li")).to_have_count(0)
        page.keyboard.press("Control+s")
        page.wait_for_selector("#seed-status:has-text('saved')")
        expected = {"id": "apples-001", "problem": "Tom has 3 apples and buys 2 more. How many apples does he have?",
                    "answer": "5", "steps": [{"text": "He has 3 + 2 = 5 apples.", "factor": "Compute"},
                                             {"text": "The answer is 5.", "factor": "Conclude"}], "domain": "math"}
        assert seeds.read_bytes() == original + json.dumps(expected, ensure_ascii=False).encode() + b"\n"
        page.reload()
        page.wait_for_selector("body[data-ready='1']")
        page.fill("#seed-search", "apples-001")
        assert page.locator("#seed-list li").count() == 1
        page.click("#seed-list li")
        assert page.input_value("#f-answer") == "5" and page.locator("#f-steps li").count() == 2
        page.fill("#f-notes", "saved with the button")  # the Save button saves too (not only Ctrl+S)
        page.click("#seed-save")
        page.wait_for_function("document.querySelector('#seed-status').textContent.includes('saved')")
        for _ in range(50):
            if json.loads(seeds.read_bytes().splitlines()[-1]).get("notes") == "saved with the button":
                break
            time.sleep(0.1)
        assert json.loads(seeds.read_bytes().splitlines()[-1])["notes"] == "saved with the button"
        shot(page, "seeds")
    finally:
        studio.stop()


def test_a_file_edited_behind_the_studio_is_never_overwritten(tmp_path: Path, page) -> None:
    seeds = tmp_path / "seeds.jsonl"
    shutil.copy(SAMPLE_SEEDS, seeds)
    studio = Studio(tmp_path, seeds, [])
    try:
        open_studio(page, studio, "#seeds")
        page.locator("#seed-list li").first.click()
        page.fill("#f-notes", "checked by the browser test")
        outside = seeds.read_bytes() + b'{"id": "outside", "problem": "Q?", "answer": "1", "steps": [{"text": "s"}]}\n'
        seeds.write_bytes(outside)  # another editor saves meanwhile
        page.click("#seed-save")
        page.wait_for_selector("#conflict:not([hidden])")
        assert "changed on disk" in page.inner_text("#conflict-message")
        shot(page, "conflict")
        assert seeds.read_bytes() == outside
        page.click("#conflict-save-as")
        page.wait_for_selector("#seed-status:has-text('saved as')")
        [kept] = [p for p in tmp_path.glob("seeds.studio-*.jsonl")]
        mine = kept.read_bytes().splitlines(keepends=True)
        assert json.loads(mine[0])["notes"] == "checked by the browser test"
        assert mine[1:] == SAMPLE_SEEDS.read_bytes().splitlines(keepends=True)[1:]
        assert seeds.read_bytes() == outside  # the outside edit is kept too
    finally:
        studio.stop()


def review_and_tree(page, studio: Studio, folder: Path, name: str, row: dict) -> list[dict]:
    """Open ``row``, mark its first step correct and the last wrong from the keyboard, save; then its tree."""
    open_studio(page, studio, "#review")
    page.fill("#annotator", "browser")
    page.dispatch_event("#annotator", "change")
    page.click(f"#row-list li[data-id='{row['id']}']")
    page.wait_for_selector(f"#row-meta:has-text('{row['id']}')")
    page.click("#row-problem")
    page.keyboard.press("1")
    for _ in range(len(row["completions"]) - 1):
        page.keyboard.press("j")
    page.keyboard.press("2")
    page.keyboard.press("Control+s")
    page.wait_for_selector("#labels-status:has-text('saved 2 label(s)')")
    shot(page, f"review-{name}")
    lines = [json.loads(line) for line in studio.labels.read_text().splitlines()]
    assert [(x["row_id"], x["step"], x["label"], x["annotator"]) for x in lines[-2:]] == [
        (row["id"], 0, "correct", "browser"), (row["id"], len(row["completions"]) - 1, "wrong", "browser")]
    assert [x["step_text"] for x in lines[-2:]] == [row["completions"][0], row["completions"][-1]]
    if any(row["nodes"] or []):
        page.click("#row-tree-link")
        page.wait_for_selector("#tree-box svg g.node")
        assert page.locator("#tree-trajectories li").count() >= 1
        with_trees = (folder / "trees").is_dir()  # every node from trees/; else pieced from the PRM rows
        assert ("every node of the search" if with_trees else "pieced together") in page.inner_text("#tree-source")
        page.click("#tree-box svg g.node >> nth=-1")  # a node's step, numbers and answer, as text
        page.wait_for_selector("#tree-node dl dt:has-text('visits')")
        assert page.locator("#tree-node img, #tree-node script").count() == 0
        shot(page, f"tree-{name}")
    return lines


def test_review_a_hostile_row_save_labels_and_open_the_tree_and_the_report(tmp_path: Path, page,
                                                                           expanded_folder: Path) -> None:
    rows = prm_rows(expanded_folder)
    hostile = next(r for r in rows if r["method"] == "mcts" and XSS in r["completions"][0])
    studio = Studio(tmp_path, None, [expanded_folder])
    try:
        review_and_tree(page, studio, expanded_folder, "scripted", hostile)
        open_studio(page, studio, f"#review/{hostile['id']}")
        page.wait_for_selector("#row-steps li")
        assert XSS in page.inner_text("#row-steps li >> nth=0")  # shown as text
        assert page.locator("#row-steps img, #row-steps script").count() == 0
        assert page.get_attribute("body", "data-pwned") is None
        open_studio(page, studio, "#agreement")
        page.wait_for_selector("#agreement-table tr >> nth=1")
        shot(page, "agreement")
        page.goto(f"http://127.0.0.1:{studio.port}/report/0")
        page.wait_for_selector("svg")
        assert page.get_attribute("body", "data-pwned") is None
        shot(page, "report-scripted")
    finally:
        studio.stop()


def test_the_studio_on_the_demos_output_with_a_token(tmp_path: Path, page, demo_output: DemoOutput) -> None:
    assert demo_output.code == 0
    seeds = tmp_path / "seeds.jsonl"
    shutil.copy(demo_output.out / "seeds.jsonl", seeds)
    studio = Studio(tmp_path, seeds, [demo_output.out], token=TOKEN)
    try:
        page.goto(f"http://127.0.0.1:{studio.port}/")  # without the token: refused
        assert "needs its token" in page.inner_text("body")
        open_studio(page, studio)  # the printed address: the token moves into a cookie, out of the address bar
        assert "token" not in page.url
        rows = prm_rows(demo_output.out)
        shepherd = next(r for r in rows if r["method"] == "shepherd")
        review_and_tree(page, studio, demo_output.out, "demo", shepherd)
        # the tiny demo's trajectories often state no final answer (filtered): a tree when there is one
        for mcts in [r for r in rows if r["method"] == "mcts"][:1]:
            review_and_tree(page, studio, demo_output.out, "demo-mcts", mcts)
        page.goto(f"http://127.0.0.1:{studio.port}/report/0")
        page.wait_for_selector("svg")
        shot(page, "report-demo")
        open_studio(page, studio, "#seeds")
        assert page.locator("#seed-list li").count() == len(seeds.read_bytes().splitlines())
    finally:
        studio.stop()


def test_a_consensus_row_shows_mc_and_judge_side_by_side_and_saves_labels_as_before(tmp_path: Path, page) -> None:
    from tests.pipelines.studio.test_verdicts import STEPS, consensus_row, write_folder

    folder = write_folder(tmp_path / "consensus", [consensus_row("c1")])
    studio = Studio(tmp_path, None, [folder])
    try:
        open_studio(page, studio, "#review/c1")
        page.wait_for_selector("#row-meta:has-text('c1')")
        assert f"judge judge-{XSS}" in page.inner_text("#row-meta")  # the judge's model, as text
        assert page.get_attribute("body", "data-pwned") is None and page.locator("#row-meta img").count() == 0
        sides = [[b.inner_text() for b in page.locator(f"#row-steps li >> nth={i} >> .badge.side").all()] for i in range(3)]
        assert sides == [["MC ✓", "Judge ✓"], ["MC ✓", "Judge ✗"], ["MC ✗", "Judge ?"]]
        assert page.eval_on_selector_all("#row-steps li", "lis => lis.map((li) => li.classList.contains('disagree'))") == [
            False, True, False]
        assert page.locator("#row-steps li.disagree .badge.side.disagree").count() == 2
        shot(page, "review-consensus")
        page.fill("#annotator", "browser")
        page.dispatch_event("#annotator", "change")
        page.click("#row-problem")
        focus_step(page, 1)
        page.keyboard.press("2")
        page.keyboard.press("Control+s")
        page.wait_for_selector("#labels-status:has-text('saved 1 label(s)')")
        [line] = [json.loads(x) for x in studio.labels.read_text().splitlines()]
        assert {k: v for k, v in line.items() if k != "time"} == {"row_id": "c1", "problem_id": "s7", "step": 1,
                                                                 "label": "wrong", "annotator": "browser",
                                                                 "step_text": STEPS[1]}
    finally:
        studio.stop()


def test_a_value_model_node_shows_its_score_and_best_of_candidates(tmp_path: Path, page) -> None:
    from pipelines.io.shards import write_rows
    from tests.pipelines.studio.test_trees import node

    pool = [{"text": f"<img src=x onerror=\"document.body.dataset.pwned=1\"> {XSS}", "score": 0.2, "kept": False},
            {"text": "Add 3 and 4.", "score": 0.9, "kept": True}]
    extra = {"value_model": "prm:prm1@abc", "value_mix": 0.0}
    rows = [node("root", None, 0, None, None, 1, 0.8, expanded=True, problem="What is 3 + 4?", gold_answer="7", checked=0,
                 prefix=[{"text": "Read it.", "factor": None}], **extra),
            node("a", "root", 1, "Add 3 and 4.", "Compute", 1, 0.8, value=0.8, score=0.9, candidates=pool, checked=0, **extra)]
    folder = tmp_path / "valued"
    write_rows(rows, "trees", str(folder / "trees" / "expand-a-0.parquet"))
    studio = Studio(tmp_path, None, [folder])
    try:
        open_studio(page, studio, "#tree/T1")
        page.wait_for_selector("#tree-box svg g.node")
        page.click("#tree-box svg g.node >> nth=0")  # the child (the root is drawn last)
        page.wait_for_selector("#tree-node dl dt:has-text('best of 2')")
        detail = page.inner_text("#tree-node")
        assert "prm:prm1@abc: P(correct) 0.900" in detail and "✓ kept · 0.900 · Add 3 and 4." in detail
        assert "onerror" in detail  # the hostile candidate shown as text, never as markup
        assert page.get_attribute("body", "data-pwned") is None and page.locator("#tree-node img").count() == 0
    finally:
        studio.stop()
