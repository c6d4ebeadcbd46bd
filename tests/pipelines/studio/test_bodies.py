"""The studio's request bodies (pipelines/studio/bodies.py), validated by FastAPI: a wrong, missing or
unknown field, a value too long, a body that is not UTF-8 or not JSON, each answered with the status
and message the studio gave when its routes checked plain dicts by hand."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from fastapi.testclient import TestClient

from pipelines.studio.app import StudioSettings, create_app
from pipelines.studio.bodies import LabelsBody
from schemas.arrow import PRM_SCHEMA

GOOD = {"id": "n1", "problem": "What is 2 + 2?", "answer": "4", "steps": [{"text": "2 + 2 = 4.", "factor": "Compute"}]}
EMPTY = hashlib.sha256(b"").hexdigest()  # the version of an empty seed file
EDIT = {"version": EMPTY, "op": "append", "line": None, "seed": GOOD}
IMPORT = {"version": EMPTY, "format": "gsm8k", "text": json.dumps({"question": "Is this fine?", "answer": "yes\n#### 1"})}
LABELS = {"data": 0, "row_id": "r1", "annotator": "ann", "labels": {"0": "correct"}}
BODIES = {"/api/seeds/validate": EDIT, "/api/seeds/save": EDIT, "/api/seeds/save-as": EDIT, "/api/seeds/import": IMPORT,
          "/api/labels": LABELS}
NEEDS_IMPORT = "import needs format (gsm8k, prm800k), text and version"
NEEDS_ANNOTATOR = "say who you are: an annotator name is required"
NEEDS_LABELS = "labels must map step indexes to correct, wrong or unsure"
MISSING = object()


def not_a_step(key: str, verdict: Any) -> str:
    return f"step {key!r}: not a step of this row, or {verdict!r} not one of ('correct', 'wrong', 'unsure')"


@pytest.fixture
def studio(tmp_path: Path) -> TestClient:
    return client(tmp_path)


def client(tmp_path: Path, seeds: bool = True, **extra: Any) -> TestClient:
    (tmp_path / "data" / "prm").mkdir(parents=True, exist_ok=True)
    (tmp_path / "seeds.jsonl").write_bytes(b"")
    row = {"prompt": "P?", "completions": ["a", "b"], "labels": [True, False], "soft_labels": [1.0, 0.0], "rollouts": [1, 1],
           "correct_rollouts": [1, 0], "method": "shepherd", "answer_correct": False, "id": "r1", "source_kind": "seed",
           "source": {"uri": "x", "symbol": "s0"}, "generator": {"model": "m"}}
    pq.write_table(pa.Table.from_pylist([row], schema=PRM_SCHEMA), tmp_path / "data" / "prm" / "x.parquet")
    settings = StudioSettings(seeds=str(tmp_path / "seeds.jsonl") if seeds else None, data=[str(tmp_path / "data")],
                              labels=str(tmp_path / "labels.jsonl"), port=8765, **extra)
    c = TestClient(create_app(settings), base_url="http://127.0.0.1:8765")
    if seeds:
        assert c.get("/api/seeds").json()["version"] == EMPTY  # opened, as the page does: save-as knows the version
    return c


def body(route: str, **changes: Any) -> dict[str, Any]:
    out = {**BODIES[route], **changes}
    return {k: v for k, v in out.items() if v is not MISSING}


def nothing_written(tmp_path: Path) -> bool:
    return (tmp_path / "seeds.jsonl").read_bytes() == b"" and not (tmp_path / "labels.jsonl").exists() \
        and not list(tmp_path.glob("seeds.studio-*.jsonl"))


@pytest.mark.parametrize(("route", "changes", "status", "detail"), [
    ("/api/seeds/save", {"version": 3}, 400, "an edit needs the file's version"),
    ("/api/seeds/save-as", {"version": None}, 400, "an edit needs the file's version"),
    ("/api/seeds/validate", {"raw": 5}, 400, "raw must be a string"),
    ("/api/seeds/save", {"op": 5}, 400, "unknown operation '5' (known: replace, insert_after, append, delete)"),
    ("/api/seeds/save", {"op": "replace", "line": "1"}, 400, "line '1' is not a line of the file (it has 0)"),
    ("/api/seeds/save", {"seed": [GOOD]}, 400, "an edit needs a seed (a JSON object) or the line's raw text"),
    ("/api/seeds/import", {"text": 5}, 400, NEEDS_IMPORT),
    ("/api/seeds/import", {"format": "csv"}, 400, NEEDS_IMPORT),
    ("/api/seeds/import", {"format": ["gsm8k"]}, 400, NEEDS_IMPORT),  # was a 500 (an unhashable format)
    ("/api/labels", {"data": 1}, 404, "no such data folder"),
    ("/api/labels", {"data": "x"}, 404, "no such data folder"),  # was a 500 (int("x"))
    ("/api/labels", {"data": None}, 404, "no such data folder"),  # was a 500
    ("/api/labels", {"row_id": 5}, 404, "no such row"),
    ("/api/labels", {"row_id": "nope"}, 404, "no such row"),
    ("/api/labels", {"annotator": 5}, 400, NEEDS_ANNOTATOR),
    ("/api/labels", {"annotator": "  "}, 400, NEEDS_ANNOTATOR),
    ("/api/labels", {"labels": ["0"]}, 400, NEEDS_LABELS),
    ("/api/labels", {"labels": {}}, 400, NEEDS_LABELS),
    ("/api/labels", {"labels": {"0": 5}}, 400, not_a_step("0", 5)),
    ("/api/labels", {"labels": {"0": "maybe"}}, 400, not_a_step("0", "maybe")),
    ("/api/labels", {"labels": {"2": "wrong"}}, 400, not_a_step("2", "wrong")),
    ("/api/labels", {"labels": {"x": "wrong"}}, 400, not_a_step("x", "wrong")),
    ("/api/labels", {"labels": {"\u00b2": "wrong"}}, 400, not_a_step("\u00b2", "wrong")),  # a digit int() refuses: was a 500
    ("/api/labels", {"labels": {"9" * 5000: "wrong"}}, 400, not_a_step("9" * 5000, "wrong")),  # past int()'s limit: was a 500
    ("/api/labels", {"labels": {"1": "wrong", "0": "maybe"}}, 400, not_a_step("0", "maybe")),  # the first in step order
    ("/api/labels", {"labels": {"0": "{status}"}}, 400, not_a_step("0", "{status}")),  # the client's braces stay as sent
])
def test_a_wrong_typed_or_wrong_valued_field_gets_its_status_and_one_line(tmp_path: Path, studio: TestClient, route: str,
                                                                         changes: dict, status: int, detail: str) -> None:
    response = studio.post(route, json=body(route, **changes))
    assert (response.status_code, response.json()) == (status, {"detail": detail})
    assert nothing_written(tmp_path)


@pytest.mark.parametrize(("route", "field", "status", "detail"), [
    ("/api/seeds/validate", "version", 400, "an edit needs the file's version"),
    ("/api/seeds/save", "version", 400, "an edit needs the file's version"),
    ("/api/seeds/save", "op", 400, "unknown operation '' (known: replace, insert_after, append, delete)"),
    ("/api/seeds/save-as", "seed", 400, "an edit needs a seed (a JSON object) or the line's raw text"),
    ("/api/seeds/import", "format", 400, NEEDS_IMPORT),
    ("/api/seeds/import", "text", 400, NEEDS_IMPORT),
    ("/api/seeds/import", "version", 400, NEEDS_IMPORT),
    ("/api/labels", "row_id", 404, "no such row"),
    ("/api/labels", "annotator", 400, NEEDS_ANNOTATOR),
    ("/api/labels", "labels", 400, NEEDS_LABELS),
])
def test_a_missing_field_gets_its_status_and_one_line(tmp_path: Path, studio: TestClient, route: str, field: str, status: int,
                                                      detail: str) -> None:
    response = studio.post(route, json=body(route, **{field: MISSING}))
    assert (response.status_code, response.json()) == (status, {"detail": detail})
    assert nothing_written(tmp_path)


def test_optional_fields_may_be_left_out(tmp_path: Path, studio: TestClient) -> None:
    assert studio.post("/api/labels", json=body("/api/labels", data=MISSING)).status_code == 200  # the first data folder
    saved = studio.post("/api/seeds/save", json={"version": EMPTY, "op": "append", "raw": json.dumps(GOOD)})  # no line, no seed
    assert saved.status_code == 200 and (tmp_path / "seeds.jsonl").read_bytes() == json.dumps(GOOD).encode() + b"\n"


@pytest.mark.parametrize("route", BODIES)
def test_an_unknown_field_is_ignored(tmp_path: Path, studio: TestClient, route: str) -> None:
    response = studio.post(route, json=body(route, comment="not a field", labels_extra={"0": "maybe"}))
    assert response.status_code == 200, response.text
    if route == "/api/seeds/save":
        assert (tmp_path / "seeds.jsonl").read_bytes() == json.dumps(GOOD).encode() + b"\n"
    if route == "/api/labels":
        assert [json.loads(line)["label"] for line in response.json()["written"]] == ["correct"]


def test_a_value_too_long_is_refused_as_seeds_validate_refuses_it(tmp_path: Path, studio: TestClient) -> None:
    long = json.dumps({**GOOD, "notes": "x" * 1_000_000})  # one seed line over MAX_LINE_BYTES
    problems = [{"line": 1, "field": "line", "message": "too large: over 1000000 bytes"}]
    validated = studio.post("/api/seeds/validate", json=body("/api/seeds/validate", raw=long))
    assert (validated.status_code, validated.json()) == (200, {"problems": problems})
    saved = studio.post("/api/seeds/save", json=body("/api/seeds/save", raw=long))
    assert saved.status_code == 422
    assert saved.json() == {"detail": "the seed has problems: fix them, then save", "problems": problems}
    imported = studio.post("/api/seeds/import", json=body("/api/seeds/import", text=long)).json()
    assert imported["added"] == 0 and imported["skipped"] == [{"line": 1, "reason": "line: too large: over 1000000 bytes"}]
    assert nothing_written(tmp_path)
    small = client(tmp_path / "small", max_body=1000)
    too_big = small.post("/api/labels", json=body("/api/labels", annotator="a" * 2000))
    assert (too_big.status_code, too_big.json()) == (413, {"detail": "request body over 1000 bytes"})


def _json_invalid(at: int, error: str) -> dict:
    return {"detail": [{"type": "json_invalid", "loc": ["body", at], "msg": "JSON decode error", "input": {},
                        "ctx": {"error": error}}]}


def _not_an_object(value: Any) -> dict:
    return {"detail": [{"type": "dict_type", "loc": ["body"], "msg": "Input should be a valid dictionary", "input": value}]}


@pytest.mark.parametrize(("content", "status", "expected"), [
    (b"\xff", 400, {"detail": "There was an error parsing the body"}),  # not UTF-8
    (b'{"version": "\xff"}', 400, {"detail": "There was an error parsing the body"}),
    (b"[", 422, _json_invalid(1, "Expecting value")),  # not JSON: FastAPI's own 422, as before
    (b'{"version": "v",}', 422, _json_invalid(16, "Expecting property name enclosed in double quotes")),
    (b'{"a": 1}{}', 422, _json_invalid(8, "Extra data")),
    (b"", 422, {"detail": [{"type": "missing", "loc": ["body"], "msg": "Field required", "input": None}]}),
    (b'"just a string"', 422, _not_an_object("just a string")),  # not an object: FastAPI's 422 for a dict, word for word
    (b"[1, 2]", 422, _not_an_object([1, 2])),
    (b"null", 422, _not_an_object(None)),
])
@pytest.mark.parametrize("route", BODIES)
def test_a_body_that_is_not_utf8_or_not_a_json_object_keeps_fastapis_answer(tmp_path: Path, studio: TestClient, route: str,
                                                                           content: bytes, status: int, expected: dict) -> None:
    response = studio.post(route, content=content, headers={"Content-Type": "application/json"})
    assert (response.status_code, response.json()) == (status, expected)
    assert nothing_written(tmp_path)


@pytest.mark.parametrize(("route", "changes", "status", "detail"), [
    ("/api/seeds/save", {"version": 3, "raw": 5}, 400, "an edit needs the file's version"),
    ("/api/labels", {"data": 7, "row_id": 5}, 404, "no such row"),  # was: no such data folder (checked first by hand)
    ("/api/labels", {"row_id": 5, "annotator": "", "labels": 5}, 404, "no such row"),
    ("/api/labels", {"annotator": "", "labels": 5}, 400, NEEDS_ANNOTATOR),
])
def test_the_first_wrong_field_answers(tmp_path: Path, studio: TestClient, route: str, changes: dict, status: int,
                                       detail: str) -> None:
    response = studio.post(route, json=body(route, **changes))
    assert (response.status_code, response.json()) == (status, {"detail": detail})


@pytest.mark.parametrize("route", ["/api/seeds/save", "/api/seeds/save-as"])
def test_a_stale_edit_is_a_conflict_before_anything_else_in_it(tmp_path: Path, studio: TestClient, route: str) -> None:
    # the page's Save button has sent its click event as `op`: the conflict must still be what it hears
    response = studio.post(route, json=body(route, version="0" * 64, op={"isTrusted": True}))
    assert response.status_code == (409 if route.endswith("save") else 400)
    assert ("changed on disk" if route.endswith("save") else "no longer known") in response.json()["detail"]


def test_without_a_seed_file_its_routes_say_so_whatever_the_body(tmp_path: Path) -> None:
    c = client(tmp_path, seeds=False)
    no_seeds = {"detail": "no seed file: start the studio with --seeds FILE.jsonl"}
    for route in ("/api/seeds/validate", "/api/seeds/save", "/api/seeds/save-as", "/api/seeds/import"):
        response = c.post(route, json={"version": 3, "format": 5})
        assert (response.status_code, response.json()) == (404, no_seeds)


def test_labels_are_read_in_step_order_by_the_annotator_named() -> None:
    steps = {"10": "wrong", "2": "unsure", "x": "correct"}
    labels = LabelsBody.model_validate({"row_id": "r", "annotator": "  ann ", "labels": steps})
    assert (labels.data, labels.annotator, list(labels.labels)) == (0, "ann", ["x", "2", "10"])
    assert LabelsBody.model_validate(labels) is labels
