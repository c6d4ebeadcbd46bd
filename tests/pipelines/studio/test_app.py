"""The studio's HTTP surface through FastAPI's TestClient: seeds, review, labels, trees, and its front door
(token, Host, body size, content type, paths that are not the files given)."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pyarrow.parquet as pq
import pytest
from fastapi.testclient import TestClient

from pipelines.studio.app import StudioSettings, create_app
from pipelines.studio.data_view import root_of
from tests.pipelines.helpers import prm_rows
from tests.pipelines.studio.conftest import XSS

GOOD = {"id": "n1", "problem": "What is 2 + 2?", "answer": "4", "steps": [{"text": "2 + 2 = 4.", "factor": "Compute"}]}
TOKEN = "t" * 24


def client(tmp_path: Path, data: list[Path] = (), token: str | None = None, seeds: bytes = b"", **extra) -> TestClient:
    path = tmp_path / "seeds.jsonl"
    path.write_bytes(seeds)
    settings = StudioSettings(seeds=str(path), data=[str(d) for d in data], labels=str(tmp_path / "labels.jsonl"),
                              port=8765, token=token, **extra)
    return TestClient(create_app(settings), base_url="http://127.0.0.1:8765")


def test_a_seed_is_created_refused_while_invalid_and_saved_once_fixed(tmp_path: Path) -> None:
    c = client(tmp_path)
    version = c.get("/api/seeds").json()["version"]
    bad = {**GOOD, "answer": ""}
    problems = c.post("/api/seeds/validate", json={"version": version, "op": "append", "line": None, "seed": bad}).json()
    assert problems["problems"] == [{"line": 1, "field": "answer", "message": "must not be empty"}]
    refused = c.post("/api/seeds/save", json={"version": version, "op": "append", "line": None, "seed": bad})
    assert refused.status_code == 422 and (tmp_path / "seeds.jsonl").read_bytes() == b""
    saved = c.post("/api/seeds/save", json={"version": version, "op": "append", "line": None, "seed": GOOD})
    assert saved.status_code == 200 and saved.json()["line"] == 1
    assert (tmp_path / "seeds.jsonl").read_bytes() == json.dumps(GOOD).encode() + b"\n"
    entries = c.get("/api/seeds").json()["entries"]
    assert entries == [{"line": 1, "problems": [], "seed": GOOD}]


def test_a_save_after_an_outside_change_is_refused_with_the_choice(tmp_path: Path) -> None:
    c = client(tmp_path, seeds=json.dumps(GOOD).encode() + b"\n")
    version = c.get("/api/seeds").json()["version"]
    (tmp_path / "seeds.jsonl").write_bytes(b"changed behind the studio's back\n")
    edit = {"version": version, "op": "replace", "line": 1, "seed": {**GOOD, "answer": "5"}}
    refused = c.post("/api/seeds/save", json=edit)
    assert refused.status_code == 409 and refused.json()["conflict"] is True and "reload" in refused.json()["detail"]
    assert (tmp_path / "seeds.jsonl").read_bytes() == b"changed behind the studio's back\n"
    kept = c.post("/api/seeds/save-as", json=edit).json()
    assert json.loads(Path(kept["path"]).read_bytes()) == {**GOOD, "answer": "5"}
    assert c.get("/api/seeds").json()["name"] == kept["name"]  # the studio goes on with the new file


def test_import_goes_through_the_seed_importers(tmp_path: Path) -> None:
    c = client(tmp_path)
    version = c.get("/api/seeds").json()["version"]
    gsm8k = [json.dumps({"question": "Tom has 3 apples and buys 2. How many?", "answer": "3 + 2 = <<3+2=5>>5\n#### 5"}),
             "not json", json.dumps({"question": "no answer"})]
    result = c.post("/api/seeds/import", json={"version": version, "format": "gsm8k", "text": "\n".join(gsm8k)}).json()
    assert result["added"] == 1 and [s["line"] for s in result["skipped"]] == [2, 3]
    [entry] = c.get("/api/seeds").json()["entries"]
    assert entry["problems"] == [] and entry["seed"]["answer"] == "5"


def test_review_rows_and_labels_are_saved_as_their_own_jsonl(tmp_path: Path, expanded_folder: Path) -> None:
    c = client(tmp_path, [expanded_folder])
    rows = c.get("/api/data/0/rows?limit=500").json()["rows"]
    assert len(rows) == len(prm_rows(expanded_folder))
    hostile = next(r for r in rows if "40 plus 2" in r["problem"])
    row = c.get(f"/api/data/0/rows/{hostile['id']}").json()
    assert row["steps"][0]["text"].endswith(XSS)  # the text as it is: the page puts it in as text
    missing = c.post("/api/labels", json={"data": 0, "row_id": row["id"], "labels": {"0": "wrong"}})
    assert missing.status_code == 400 and "annotator" in missing.json()["detail"]
    bad = c.post("/api/labels", json={"data": 0, "row_id": row["id"], "annotator": "ann", "labels": {"99": "wrong"}})
    assert bad.status_code == 400
    written = c.post("/api/labels", json={"data": 0, "row_id": row["id"], "annotator": "ann",
                                          "labels": {"0": "correct", "1": "wrong"}}).json()["written"]
    text = (tmp_path / "labels.jsonl").read_text()
    assert text == "".join(line + "\n" for line in written)
    first = json.loads(written[0])
    assert first["row_id"] == row["id"] and first["step"] == 0 and first["label"] == "correct"
    assert first["problem_id"] == "s0" and first["step_text"] == row["steps"][0]["text"] and first["time"].endswith("Z")
    assert c.get(f"/api/data/0/rows/{row['id']}").json()["human"] == {"0": {"ann": "correct"}, "1": {"ann": "wrong"}}


def test_without_trees_a_tree_joins_every_trajectory_of_one_root(tmp_path: Path, expanded_folder: Path) -> None:
    """A folder written before 0.3 (no ``trees/``): the tree is pieced together from the PRM rows' ``nodes``."""
    old = tmp_path / "old"
    shutil.copytree(expanded_folder, old, ignore=shutil.ignore_patterns("trees"))
    c = client(tmp_path, [old])
    mcts = [r for r in prm_rows(old) if r["method"] == "mcts"]
    row = mcts[0]
    tree = c.get(f"/api/data/0/tree/{row['id']}").json()
    assert tree["source"] == "prm"
    same_root = [r for r in mcts if root_of(r) == tree["root"]]
    assert {t["id"] for t in tree["trajectories"]} == {r["id"] for r in same_root}
    nodes = {n["id"]: n for n in tree["nodes"]}
    assert tree["root"] in nodes and all(n["parent"] in nodes for n in nodes.values() if n["parent"])
    children = [n for n in nodes.values() if n["parent"]]
    assert children and all(0 < n["prior"] <= 1 and n["visits"] >= 1 for n in children)
    terminal = [n for n in children if n["terminal"]]
    for node in terminal:  # a trajectory ends on it; verified when one of those was accepted
        ends = [r for r in same_root if r["nodes"][-1] and r["nodes"][-1]["id"] == node["id"]]
        assert ends and node["verified"] == any(r["answer_correct"] for r in ends)
    assert c.get("/api/data/0/tree/nope").status_code == 404


@pytest.mark.parametrize("path", ["/static/../../../../etc/passwd", "/static/..%2f..%2fapp.py", "/static/%2e%2e/seed_file.py",
                                  "/static/index.html/../../cli.py", "/api/data/1/rows", "/api/data/-1/rows",
                                  "/api/data/0/rows/..%2f..%2fmanifest.json", "/report/5", "/api/data/0/tree/%2e%2e",
                                  "/../../etc/passwd", "/static/app.py"])
def test_no_path_outside_the_files_given_can_be_read(tmp_path: Path, expanded_folder: Path, path: str) -> None:
    (tmp_path / "secret.txt").write_text("SECRET")
    response = client(tmp_path, [expanded_folder]).get(path)
    assert response.status_code in (400, 404, 405, 422)
    assert b"SECRET" not in response.content and b"root:" not in response.content and b"import" not in response.content


def test_a_token_is_needed_on_every_request_when_set(tmp_path: Path) -> None:
    c = client(tmp_path, token=TOKEN)
    assert c.get("/").status_code == 401 and c.get("/api/seeds").status_code == 401
    assert c.get("/api/seeds", headers={"Authorization": "Bearer wrong"}).status_code == 401
    assert c.get("/api/seeds", headers={"Authorization": f"Bearer {TOKEN}"}).status_code == 200
    page = c.get(f"/?token={TOKEN}", follow_redirects=False)  # the printed address: a cookie, and the token leaves the URL
    assert page.status_code == 303 and page.headers["location"] == "/"
    assert page.headers["set-cookie"].startswith("reverse_o1_studio_8765=") and "HttpOnly" in page.headers["set-cookie"]
    assert c.get("/api/seeds").status_code == 200
    c.cookies.clear()
    assert c.post(f"/api/seeds/save?token={TOKEN}", json={}).status_code == 401  # a token in a POST's URL is not enough


def test_the_front_door_refuses_other_hosts_big_bodies_and_cross_site_posts(tmp_path: Path) -> None:
    c = client(tmp_path, max_body=1000)
    assert c.get("/api/seeds", headers={"Host": "evil.example:8765"}).status_code == 421
    big = c.post("/api/seeds/validate", content=b"{" + b" " * 5000 + b"}", headers={"Content-Type": "application/json"})
    assert big.status_code == 413
    form = c.post("/api/seeds/save", content=b"a=1", headers={"Content-Type": "application/x-www-form-urlencoded"})
    assert form.status_code == 415
    cross = c.post("/api/seeds/save", json={}, headers={"Origin": "http://evil.example"})
    assert cross.status_code == 403
    fired = c.get("/report/0", headers={"Sec-Fetch-Site": "cross-site", "Sec-Fetch-Mode": "no-cors"})
    assert fired.status_code == 403  # another site's page firing requests here
    linked = c.get("/", headers={"Sec-Fetch-Site": "cross-site", "Sec-Fetch-Mode": "navigate"})
    assert linked.status_code == 200  # following a link to the studio is fine
    same = c.post("/api/seeds/validate", json={}, headers={"Origin": "http://127.0.0.1:8765"})
    assert same.status_code == 400  # past the door: the body is what is wrong
    page = c.get("/")
    assert "script-src 'self'" in page.headers["content-security-policy"] and page.headers["x-frame-options"] == "DENY"


def test_bound_elsewhere_any_host_name_works_but_only_with_the_token(tmp_path: Path) -> None:
    c = client(tmp_path, token=TOKEN, host="0.0.0.0")
    auth = {"Authorization": f"Bearer {TOKEN}", "Host": "annotate.lab.internal:8765"}
    assert c.get("/api/seeds", headers=auth).status_code == 200
    assert c.get("/api/seeds", headers={"Host": "annotate.lab.internal:8765"}).status_code == 401
    cross = c.post("/api/seeds/validate", json={}, headers={**auth, "Origin": "http://evil.example"})
    assert cross.status_code == 403


@pytest.mark.parametrize("body", [b"[", b"\xff\xfe", b'"just a string"', b"[1, 2]", b'{"version": 3}',
                                  b'{"version": "v", "op": "explode", "line": 1, "seed": {}}',
                                  b'{"version": "v", "op": "replace", "line": 1, "raw": 5}'])
def test_malformed_bodies_get_a_clear_error_and_change_nothing(tmp_path: Path, body: bytes) -> None:
    c = client(tmp_path, seeds=json.dumps(GOOD).encode() + b"\n")
    for route in ("/api/seeds/save", "/api/seeds/validate", "/api/labels"):
        response = c.post(route, content=body, headers={"Content-Type": "application/json"})
        assert 400 <= response.status_code < 500 and response.json()["detail"]
    assert (tmp_path / "seeds.jsonl").read_bytes() == json.dumps(GOOD).encode() + b"\n"


def test_import_checks_each_seed_as_seeds_validate_does(tmp_path: Path) -> None:
    c = client(tmp_path)
    version = c.get("/api/seeds").json()["version"]
    control = json.dumps({"question": "Is this fine?", "answer": "yes\n#### 1"})
    result = c.post("/api/seeds/import", json={"version": version, "format": "gsm8k", "text": control}).json()
    assert result["added"] == 1
    [entry] = c.get("/api/seeds").json()["entries"]
    assert entry["problems"] == []


def test_non_finite_numbers_in_a_shard_reach_the_page_as_null(tmp_path: Path) -> None:
    import pyarrow as pa
    import pyarrow.parquet as pq

    from schemas.arrow import PRM_SCHEMA

    (tmp_path / "data" / "prm").mkdir(parents=True)
    row = {"prompt": "P?", "completions": ["a", "b"], "labels": [True, False], "soft_labels": [float("nan"), float("inf")],
           "rollouts": [1, 1], "correct_rollouts": [1, 0], "method": "shepherd", "answer_correct": False, "id": "r1",
           "source_kind": "seed", "source": {"uri": "x"}, "generator": {"model": "m", "temperature": float("nan")}}
    pq.write_table(pa.Table.from_pylist([row], schema=PRM_SCHEMA), tmp_path / "data" / "prm" / "x.parquet")
    c = client(tmp_path, [tmp_path / "data"])
    assert c.get("/api/data/0/rows").json()["rows"][0]["mean_soft"] is None
    steps = c.get("/api/data/0/rows/r1").json()["steps"]
    assert [s["soft"] for s in steps] == [None, None]


def test_a_seed_with_a_lone_surrogate_is_refused_not_a_crash(tmp_path: Path) -> None:
    c = client(tmp_path)
    version = c.get("/api/seeds").json()["version"]
    body = b'{"version": "%s", "op": "append", "line": null, "seed": {"id": "a", "problem": "\\ud800", "answer": "1", ' \
           b'"steps": [{"text": "s"}]}}' % version.encode()
    response = c.post("/api/seeds/save", content=body, headers={"Content-Type": "application/json"})
    assert response.status_code in (400, 422) and (tmp_path / "seeds.jsonl").read_bytes() == b""


def test_a_damaged_shard_is_named_and_the_others_still_reviewed(tmp_path: Path, expanded_folder: Path) -> None:
    data = tmp_path / "data"
    shutil.copytree(expanded_folder, data)
    shards = sorted((data / "prm").glob("*.parquet"))
    shards[0].write_bytes(shards[0].read_bytes()[:100])  # cut short
    (data / "prm" / "not-parquet.parquet").write_bytes(b"<script>alert(1)</script>")
    c = client(tmp_path, [data])
    info = c.get("/api/info").json()["data"][0]
    assert len(info["notes"]) == 2 and all("unreadable shard, skipped" in n for n in info["notes"])
    good = sum(len(pq.read_table(s).to_pylist()) for s in shards[1:])
    assert info["rows"] == good and c.get("/api/data/0/rows?limit=500").json()["total"] == good
