"""The studio's routes (FastAPI). Only the files named on the command line are ever read or written:
seeds, data folders and the label file are addressed by role and index, never by a path from the
request; static files are a fixed set shipped in the package. Nothing here runs any row's code.

Routes come in three routers (the page, the seed file, review) reading one ``Studio`` (``app.state``);
request bodies are the models of ``pipelines.studio.bodies``, and the seed file's refusals are
answered by exception handlers, the same for every route that edits it.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from importlib import resources
from typing import Annotated, Any

from fastapi import APIRouter, Depends, FastAPI, HTTPException, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import HTMLResponse, JSONResponse, Response

from pipelines.studio.bodies import EditBody, ImportBody, LabelsBody, refused, step_index, step_refusal
from pipelines.studio.data_view import DataFolder, detail
from pipelines.studio.guard import StudioGuard
from pipelines.studio.label_file import LabelFile
from pipelines.studio.seed_file import SeedEditError, SeedFile, SeedFileChanged
from pipelines.studio.tree_view import tree
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


@dataclass
class Studio:
    """The files one studio serves, opened: what every route reads."""

    settings: StudioSettings
    vocabulary: FactorVocabulary
    seeds: SeedFile | None
    data: list[DataFolder]
    labels: LabelFile

    @classmethod
    def open(cls, settings: StudioSettings) -> Studio:
        vocabulary = load_factors(settings.factors)
        return cls(settings, vocabulary, SeedFile(settings.seeds, vocabulary.names) if settings.seeds else None,
                   [DataFolder.load(p) for p in settings.data], LabelFile(settings.labels))

    def folder(self, index: int) -> DataFolder:
        if not 0 <= index < len(self.data):
            raise HTTPException(404, "no such data folder")
        return self.data[index]


def _studio(request: Request) -> Studio:
    return request.app.state.studio


def _seed_file(request: Request) -> SeedFile:  # a dependency: "no seed file" comes before what is wrong in a body
    sf = _studio(request).seeds
    if sf is None:
        raise HTTPException(404, "no seed file: start the studio with --seeds FILE.jsonl")
    return sf


Here = Annotated[Studio, Depends(_studio)]
Seeds = Annotated[SeedFile, Depends(_seed_file)]


def _static(name: str) -> bytes:
    return resources.files("pipelines.studio").joinpath("static", name).read_bytes()


def _problem(status: int, message: str, **extra: Any) -> JSONResponse:
    return JSONResponse({"detail": message, **extra}, status_code=status)


def _name(path: str) -> str:
    return path.rsplit("/", 1)[-1]


# ---------------------------------------------------------------- the page
page_routes = APIRouter()


@page_routes.get("/", response_class=HTMLResponse)
def index() -> HTMLResponse:
    return HTMLResponse(_static("index.html"))


@page_routes.get("/static/{name}")
def static(name: str) -> Response:
    if name not in STATIC:
        raise HTTPException(404, "not found")
    return Response(_static(name), media_type=STATIC[name])


@page_routes.get("/api/info")
def info(studio: Here) -> dict[str, Any]:
    sf, settings = studio.seeds, studio.settings
    return {"seeds": {"name": _name(sf.path), "path": sf.path} if sf else None,
            "data": [{"index": i, "path": d.path, "rows": len(d.rows), "trees": len(d.trees), "notes": d.notes}
                     for i, d in enumerate(studio.data)],
            "labels": studio.labels.path, "annotator": settings.annotator, "verdicts": list(VERDICTS),
            "factors": [{"name": f.name, "description": f.description} for f in studio.vocabulary.factors],
            "importers": sorted(IMPORTERS), "max_body": settings.max_body}


@page_routes.get("/report/{index}", response_class=HTMLResponse)
def report_page(index: int, studio: Here) -> HTMLResponse:
    from pipelines.report import render_report

    return HTMLResponse(render_report(studio.folder(index).path))


# ---------------------------------------------------------------- the seed file
seed_routes = APIRouter(prefix="/api/seeds")


def _seed_refusals(app: FastAPI) -> None:
    """What an edit of the seed file can run into, answered alike by every route that edits it."""
    app.add_exception_handler(SeedFileChanged, lambda _, exc: _problem(409, str(exc), conflict=True, current=exc.current))
    app.add_exception_handler(SeedError, lambda _, exc: _problem(422, "the seed has problems: fix them, then save", problems=[
        {"line": p.line, "field": p.field, "message": p.message} for p in exc.problems]))
    app.add_exception_handler(SeedEditError, lambda _, exc: _problem(400, str(exc)))


@seed_routes.get("")
def list_seeds(sf: Seeds) -> dict[str, Any]:
    snap = sf.snapshot()
    return {"version": snap.version, "name": _name(sf.path), "entries": sf.entries(snap)}


@seed_routes.post("/validate")
def validate(sf: Seeds, body: EditBody) -> dict[str, Any]:
    return {"problems": sf.problems_for(*body.args())}


@seed_routes.post("/save")
def save(sf: Seeds, body: EditBody) -> Any:
    return sf.save(*body.args())


@seed_routes.post("/save-as")
def save_as(studio: Here, sf: Seeds, body: EditBody) -> Any:
    path, line = sf.save_as_new(*body.args())
    studio.seeds = SeedFile(path, studio.vocabulary.names)  # the studio goes on with the new file
    return {"path": path, "name": _name(path), "line": line}


@seed_routes.post("/import")
def import_lines(sf: Seeds, body: ImportBody) -> Any:
    snap = sf.snapshot()
    taken = {e["seed"].get("id") for e in sf.entries(snap) if "seed" in e}
    added, skipped = [], []
    for number, raw in enumerate(body.text.encode("utf-8", errors="surrogatepass").splitlines(), start=1):
        if not raw.strip():
            continue
        try:
            seed = IMPORTERS[body.format](decode_line(raw, number, MAX_LINE_BYTES), ref=f"pasted:{number}")
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
    result = sf.append_many(body.version, added) if added else {"version": snap.version, "added": 0}
    return {**result, "skipped": skipped}


# ---------------------------------------------------------------- review: rows, trees, labels, agreement
review_routes = APIRouter(prefix="/api")


@review_routes.get("/data/{index}/rows")
def rows(index: int, studio: Here, q: str = "", offset: int = 0, limit: int = 50) -> dict[str, Any]:
    return studio.folder(index).summaries(q, max(offset, 0), min(max(limit, 1), 500))


@review_routes.get("/data/{index}/rows/{row_id}")
def row(index: int, row_id: str, studio: Here) -> dict[str, Any]:
    found = studio.folder(index).by_id.get(row_id)
    if found is None:
        raise HTTPException(404, "no such row")
    return {**detail(found), "human": studio.labels.for_row(row_id)}


@review_routes.get("/data/{index}/tree/{row_id}")
def row_tree(index: int, row_id: str, studio: Here) -> dict[str, Any]:
    """The search tree of a PRM row's root (``row_id`` may also be a tree id): ``pipelines.studio.tree_view``."""
    found = tree(studio.folder(index), row_id)
    if found is None:
        raise HTTPException(404, "this row has no search tree (only expand's MCTS rows do)")
    return found


@review_routes.post("/labels")
def save_labels(studio: Here, body: LabelsBody) -> dict[str, Any]:
    found = studio.folder(body.data).by_id.get(body.row_id)
    if found is None:
        raise HTTPException(404, "no such row")
    steps = found.get("completions") or []
    labels = []
    for key, verdict in body.labels.items():  # in step order
        step = step_index(key)
        if not 0 <= step < len(steps):
            raise HTTPException(400, step_refusal(key, verdict))
        labels.append(HumanLabel(row_id=body.row_id, problem_id=(found.get("source") or {}).get("symbol") or "",
                                 step=step, label=verdict, annotator=body.annotator, time="", step_text=steps[step]))
    return {"written": studio.labels.append(labels)}


@review_routes.get("/agreement")
def agreement(studio: Here) -> Any:
    from common.errors import ConfigError
    from pipelines.eval_labels import agreement_report, format_table

    if not os.path.exists(studio.labels.path):
        return _problem(404, "no human labels yet: review some rows first (Review tab)")
    try:
        report = agreement_report(studio.labels.path, [d.path for d in studio.data])
    except ConfigError as exc:
        return _problem(404, str(exc))
    return {**report, "table": format_table(report)}


def create_app(settings: StudioSettings) -> StudioGuard:
    app = FastAPI(title="reverse-o1 studio", docs_url=None, redoc_url=None, openapi_url=None)
    app.state.studio = Studio.open(settings)
    app.add_exception_handler(RequestValidationError, refused)  # a wrong body: its field's status and one line
    _seed_refusals(app)
    for router in (page_routes, seed_routes, review_routes):
        app.include_router(router)
    return StudioGuard(app, _hosts(settings), settings.token, settings.max_body, settings.port)


def _hosts(settings: StudioSettings) -> set[str]:
    """The Host headers the guard lets in: on loopback, the printed address's; bound elsewhere, any (the token guards)."""
    if settings.host not in ("127.0.0.1", "localhost", "::1"):
        return set()
    names = ("127.0.0.1", "localhost", "[::1]")
    return {f"{h}:{settings.port}" for h in names} | (set(names) if settings.port == 80 else set())  # browsers drop :80
