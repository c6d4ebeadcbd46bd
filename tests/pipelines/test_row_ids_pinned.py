"""Row ids of all five pipelines on bundled inputs, pinned: a refactor must not change them.

Inputs live on ``memfs://pinned/`` and the repository at a fixed local path, so every source URI
(part of the ids) is the same on every machine. To re-pin after a deliberate change of ids, run
``REVERSE_O1_REPIN=1 pytest tests/pipelines/test_row_ids_pinned.py`` and say why in the commit.
"""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import pytest

from tests.cluster import cases
from tests.pipelines.helpers import FIXTURES, run
from tests.pipelines.io import memfs
from tests.pipelines.io.test_filesystem_guard import git_repo

PINNED = FIXTURES / "pinned_row_ids.json"
REPO = Path("/tmp/reverse-o1-pinned-ids/tinytext")


@pytest.fixture(scope="module")
def repo() -> str:
    shutil.rmtree(REPO.parent, ignore_errors=True)
    REPO.parent.mkdir(parents=True)
    yield git_repo(REPO)
    shutil.rmtree(REPO.parent, ignore_errors=True)


@pytest.mark.parametrize("name", cases.PIPELINES)
def test_row_ids_are_unchanged(name: str, repo: str, tmp_path: Path) -> None:
    for key in list(memfs.under(f"memfs://pinned/{name}")):
        memfs.STORE.pop(key, None)
    inputs = cases.upload_inputs(f"memfs://pinned/{name}/in")
    out = f"memfs://pinned/{name}/out"
    extra = ["--repo-cache", str(tmp_path / "cache")] if name == "code-cot" else []
    assert run(cases.argv(name, inputs, out, repo) + extra) == 0
    got = cases.ids(out)
    pinned = json.loads(PINNED.read_text()) if PINNED.exists() else {}
    if os.environ.get("REVERSE_O1_REPIN"):
        PINNED.write_text(json.dumps(pinned | {name: got}, indent=1, sort_keys=True) + "\n")
        pytest.skip("re-pinned")
    assert sum(map(len, got.values())) > 0
    assert got == pinned[name]
