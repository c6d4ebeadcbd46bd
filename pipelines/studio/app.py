"""The studio's routes (FastAPI). Only the files named on the command line are ever read or written:
seeds, data folders and the label file are addressed by role and index, never by a path from the
request; static files are a fixed set shipped in the package. Nothing here runs any row's code.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from importlib import resources
from typing import Any

from fastapi import Body, FastAPI, HTTPException
from fastapi.responses import HTMLResponse, JSONResponse, Response

from pipelines.studio.data_view import DataFolder, detail, tree
from pipelines.studio.guard import StudioGuard
from pipelines.studio.label_file import LabelFile
from pipelines.studio.seed_file import SeedEditError, SeedFile, SeedFileChanged
from schemas.factors import FactorVocabulary, load_factors
from schemas.human_labels import VERDICTS, HumanLabel
from schemas.seed_import import IMPORTERS, SeedImportError
from schemas.seeds import MAX_LINE_BYTES, SeedError, decode_line

STATIC = {"studio.js": "text/javascript", "studio.css": "text/css"}
MAX_BODY = 4_000_000


@dataclass
class StudioSettings:
    """Everything the studio serves, from the command line."""

    seeds: str | None = None
    data: list[str] = field(default_factory=list)
    labels: str = "human_labels.jsonl"
    factors: str | None = None
    annotator: str = ""
    host: str = "127.0.0.1"
    port: int = 8765
    token: str | None = None
    max_body: int = MAX_BODY


def _static(name: str) -> bytes:
    return resources.files("pipelines.studio").joinpath("static", name).read_bytes()


def _problem(status: int, message: str, **extra: Any) -> JSONResponse:
    return JSONResponse({"detail": message, **extra}, status_code=status)


def _seed_problems(exc: SeedError) -> JSONResponse:
    return _problem(422, "the seed has problems: fix them, then save",
                    problems=[{"line": p.line, "field": p.field, "message": p.message} for p in exc.problems])


def create_app(settings: StudioSettings) -> StudioGuard:
    vocabulary: FactorVocabulary = load_factors(settings.factors)
    state: dict[str, Any] = {
        "seeds": SeedFile(settings.seeds, vocabulary.names) if settings.seeds else None,
        "data": [DataFolder.load(p) for p in settings.data],
        "labels": LabelFile(settings.labels),
    }
    app = FastAPI(title="reverse-o1 studio", docs_url=None, redoc_url=None, openapi_url=None)

    def seeds() -> SeedFile:
        if state["seeds"] is None:
            raise HTTPException(404, "no seed file: start the studio with --seeds FILE.jsonl")
        return state["seeds"]

    def folder(index: int) -> DataFolder:
        if not 0 <= index < len(state["data"]):
            raise HTTPException(404, "no such data folder")
        return state["data"][index]

    @app.get("/", response_class=HTMLResponse)
    def index() -> HTMLResponse:
        return HTMLResponse(_static("index.html"))

    @app.get("/static/{name}")
    def static(name: str) -> Response:
        if name not in STATIC:
            raise HTTPException(404, "not found")
        return Response(_static(name), media_type=STATIC[name])

    @app.get("/api/info")
    def info() -> dict[str, Any]:
        sf = state["seeds"]
        return {"seeds": {"name": sf.path.rsplit("/", 1)[-1], "path": sf.path} if sf else None,
                "data": [{"index": i, "path": d.path, "rows": len(d.rows), "notes": d.notes}
                         for i, d in enumerate(state["data"])],
                "labels": state["labels"].path, "annotator": settings.annotator, "verdicts": list(VERDICTS),
                "factors": [{"name": f.name, "description": f.description} for f in vocabulary.factors],
                "importers": sorted(IMPORTERS), "max_body": settings.max_body}

    @app.get("/api/seeds")
    def list_seeds() -> dict[str, Any]:
        sf = seeds()
        snap = sf.snapshot()
        return {"version": snap.version, "name": sf.path.rsplit("/", 1)[-1], "entries": sf.entries(snap)}

    def edit_args(body: dict[str, Any]) -> tuple[str, str, Any, Any, Any]:
        if not isinstance(body, dict) or not isinstance(body.get("version"), str):
            raise HTTPException(400, "an edit needs the file's version")
        raw = body.get("raw")
        if raw is not None and not isinstance(raw, str):
            raise HTTPException(400, "raw must be a string")
        return body["version"], str(body.get("op", "")), body.get("line"), body.get("seed"), raw

    @app.post("/api/seeds/validate")
    def validate(body: dict[str, Any] = Body(...)) -> dict[str, Any]:  # noqa: B008
        try:
            return {"problems": seeds().problems_for(*edit_args(body))}
        except SeedEditError as exc:
            raise HTTPException(400, str(exc)) from None

    @app.post("/api/seeds/save")
    def save(body: dict[str, Any] = Body(...)) -> Any:  # noqa: B008
        sf = seeds()
        try:
            return sf.save(*edit_args(body))
        except SeedFileChanged as exc:
            return _problem(409, str(exc), conflict=True, current=exc.current)
        except SeedError as exc:
            return _seed_problems(exc)
        except SeedEditError as exc:
            raise HTTPException(400, str(exc)) from None

    @app.post("/api/seeds/save-as")
    def save_as(body: dict[str, Any] = Body(...)) -> Any:  # noqa: B008
        sf = seeds()
        try:
            path, line = sf.save_as_new(*edit_args(body))
        except SeedError as exc:
            return _seed_problems(exc)
        except SeedEditError as exc:
            raise HTTPException(400, str(exc)) from None
        state["seeds"] = SeedFile(path, vocabulary.names)  # the studio goes on with the new file
        return {"path": path, "name": path.rsplit("/", 1)[-1], "line": line}

    @app.post("/api/seeds/import")
    def import_lines(body: dict[str, Any] = Body(...)) -> Any:  # noqa: B008
        sf = seeds()
        fmt, text, version = body.get("format"), body.get("text"), body.get("version")
        if fmt not in IMPORTERS or not isinstance(text, str) or not isinstance(version, str):
            raise HTTPException(400, f"import needs format ({', '.join(sorted(IMPORTERS))}), text and version")
        snap = sf.snapshot()
        taken = {e["seed"].get("id") for e in sf.entries(snap) if "seed" in e}
        added, skipped = [], []
        for number, raw in enumerate(text.encode("utf-8", errors="surrogatepass").splitlines(), start=1):
            if not raw.strip():
                continue
            try:
                seed = IMPORTERS[fmt](decode_line(raw, number, MAX_LINE_BYTES), ref=f"pasted:{number}")
            except (SeedError, SeedImportError, ValueError) as exc:
                skipped.append({"line": number, "reason": str(exc)})
                continue
            if seed["id"] in taken:
                skipped.append({"line": number, "reason": f"id {seed['id']!r} is already in the file"})
                continue
            problems = sf.new_seed_problems(seed, len(snap.lines) + len(added) + 1)
            if problems:
                skipped.append({"line": number, "reason": "; ".join(f"{p.field}: {p.message}" for p in problems)})
                continue
            taken.add(seed["id"])
            added.append(seed)
        try:
            result = sf.append_many(version, added) if added else {"version": snap.version, "added": 0}
        except SeedFileChanged as exc:
            return _problem(409, str(exc), conflict=True, current=exc.current)
        return {**result, "skipped": skipped}

    @app.get("/api/data/{index}/rows")
    def rows(index: int, q: str = "", offset: int = 0, limit: int = 50) -> dict[str, Any]:
        return folder(index).summaries(q, max(offset, 0), min(max(limit, 1), 500))

    @app.get("/api/data/{index}/rows/{row_id}")
    def row(index: int, row_id: str) -> dict[str, Any]:
        found = folder(index).by_id.get(row_id)
        if found is None:
            raise HTTPException(404, "no such row")
        return {**detail(found), "human": state["labels"].for_row(row_id)}

    @app.get("/api/data/{index}/tree/{row_id}")
    def row_tree(index: int, row_id: str) -> dict[str, Any]:
        found = tree(folder(index), row_id)
        if found is None:
            raise HTTPException(404, "this row has no search tree (only expand's MCTS rows do)")
        return found

    @app.post("/api/labels")
    def save_labels(body: dict[str, Any] = Body(...)) -> dict[str, Any]:  # noqa: B008
        data, row_id, annotator = folder(int(body.get("data", 0))), body.get("row_id"), body.get("annotator")
        found = data.by_id.get(row_id) if isinstance(row_id, str) else None
        if found is None:
            raise HTTPException(404, "no such row")
        if not isinstance(annotator, str) or not annotator.strip():
            raise HTTPException(400, "say who you are: an annotator name is required")
        verdicts = body.get("labels")
        steps = found.get("completions") or []
        if not isinstance(verdicts, dict) or not verdicts:
            raise HTTPException(400, "labels must map step indexes to correct, wrong or unsure")
        labels = []
        for key, verdict in sorted(verdicts.items(), key=lambda kv: int(kv[0]) if str(kv[0]).isdigit() else -1):
            if not str(key).isdigit() or int(key) >= len(steps) or verdict not in VERDICTS:
                raise HTTPException(400, f"step {key!r}: not a step of this row, or {verdict!r} not one of {VERDICTS}")
            labels.append(HumanLabel(row_id=row_id, problem_id=(found.get("source") or {}).get("symbol") or "",
                                     step=int(key), label=verdict, annotator=annotator.strip(), time="",
                                     step_text=steps[int(key)]))
        return {"written": state["labels"].append(labels)}

    @app.get("/api/agreement")
    def agreement() -> Any:
        from common.errors import ConfigError
        from pipelines.eval_labels import agreement_report, format_table

        if not os.path.exists(state["labels"].path):
            return _problem(404, "no human labels yet: review some rows first (Review tab)")
        try:
            report = agreement_report(state["labels"].path, [d.path for d in state["data"]])
        except ConfigError as exc:
            return _problem(404, str(exc))
        return {**report, "table": format_table(report)}

    @app.get("/report/{index}", response_class=HTMLResponse)
    def report(index: int) -> HTMLResponse:
        from pipelines.report import render_report

        return HTMLResponse(render_report(folder(index).path))

    loopback = {"127.0.0.1", "localhost", "::1"}
    names = ("127.0.0.1", "localhost", "[::1]")
    hosts = {f"{h}:{settings.port}" for h in names} | (set(names) if settings.port == 80 else set())  # browsers drop :80
    return StudioGuard(app, hosts if settings.host in loopback else set(), settings.token, settings.max_body, settings.port)
