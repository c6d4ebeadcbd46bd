"""The studio's request bodies: pydantic models that FastAPI validates before a route runs.

A wrong body is answered as the studio always answered it, not with pydantic's list of errors: its
first wrong field, in the order the fields are declared, gives the status and the one-line
``detail`` its ``Refuse`` names (``refused`` is the app's ``RequestValidationError`` handler). A
body that is not JSON, or not a JSON object, keeps FastAPI's own 422, as when bodies were plain
dicts; unknown fields are ignored. What depends on the files (the version a save is made against, a
line of the seed file, a row and its steps) is checked after these, by the routes and ``SeedFile``.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Annotated, Any, Literal

from fastapi import Request
from fastapi.exception_handlers import request_validation_exception_handler
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from pydantic import AfterValidator, BaseModel, BeforeValidator, ConfigDict, Field, StrictStr, ValidationError, model_validator
from pydantic_core import ErrorDetails, PydanticCustomError, PydanticKnownError

from schemas.human_labels import VERDICTS
from schemas.seed_import import IMPORTERS

REFUSED = "studio_refused"  # the pydantic error type a body's refusal travels as, to ``refused``
Verdict = Literal[VERDICTS]
Format = Literal[tuple(sorted(IMPORTERS))]


@dataclass(frozen=True)
class Refuse:
    """How the studio answers a wrong field: a status, and a one-line message (or a function making it
    from pydantic's error, for the messages that quote the value)."""

    status: int
    message: str | Callable[[ErrorDetails], str]

    def detail(self, error: ErrorDetails) -> str:
        return self.message if isinstance(self.message, str) else self.message(error)


class StudioBody(BaseModel):
    model_config = ConfigDict(extra="ignore")  # unknown fields are ignored, as they always were

    @model_validator(mode="wrap")
    @classmethod
    def _refuse_as_the_studio_does(cls, data: Any, handler: Callable[[Any], Any]) -> Any:
        if not isinstance(data, dict | cls):
            raise PydanticKnownError("dict_type")  # FastAPI's own 422, word for word, as for a plain dict
        try:
            return handler(data)
        except ValidationError as exc:
            error = exc.errors()[0]  # fields are validated in the order declared: the first wrong one answers
            field = cls.model_fields.get(str(error["loc"][0])) if error["loc"] else None
            refuse = next((m for m in field.metadata if isinstance(m, Refuse)), None) if field else None
            if refuse is None:
                raise
            # the detail and status travel in ctx, not in the message template (no "{...}" of the client's is expanded)
            raise PydanticCustomError(REFUSED, "the body was refused", {"status": refuse.status,
                                                                       "detail": refuse.detail(error)}) from None


async def refused(request: Request, exc: RequestValidationError) -> Response:
    """A body's refusal as ``{"detail": one line}`` with its status; any other validation error (a body
    that is not a JSON object, a path or query parameter) keeps FastAPI's 422."""
    for error in exc.errors():
        if error.get("type") == REFUSED:
            return JSONResponse({"detail": error["ctx"]["detail"]}, status_code=error["ctx"]["status"])
    return await request_validation_exception_handler(request, exc)


class EditBody(StudioBody):
    """One edit of the seed file (validate, save, save as new), made against the version it names."""

    version: Annotated[StrictStr, Refuse(400, "an edit needs the file's version")]
    raw: Annotated[StrictStr | None, Refuse(400, "raw must be a string")] = None
    # checked by SeedFile, after the version: an edit of a file changed since is a conflict before anything else
    op: Any = ""  # one of seed_file.OPS
    line: Any = None  # a line of the file (append needs none)
    seed: Any = None  # a JSON object, or raw's one line instead

    def args(self) -> tuple[str, str, Any, Any, str | None]:
        """``SeedFile.save``'s arguments (and ``problems_for``'s, ``save_as_new``'s)."""
        return self.version, str(self.op), self.line, self.seed, self.raw


_IMPORT = Refuse(400, f"import needs format ({', '.join(sorted(IMPORTERS))}), text and version")


class ImportBody(StudioBody):
    """Pasted lines of one importer's format, to append to the version named."""

    format: Annotated[Format, _IMPORT]
    text: Annotated[StrictStr, _IMPORT]
    version: Annotated[StrictStr, _IMPORT]


def step_index(key: str) -> int:
    """The step a key of ``labels`` names (decimal digits), or -1."""
    try:
        return int(key) if key.isdigit() else -1
    except ValueError:  # '²' is a digit that int() refuses; so is a number of thousands of digits
        return -1


def step_refusal(key: str, verdict: Any) -> str:
    return f"step {key!r}: not a step of this row, or {verdict!r} not one of {VERDICTS}"


def _labels_refusal(error: ErrorDetails) -> str:
    if len(error["loc"]) > 1:  # one step's verdict
        return step_refusal(str(error["loc"][1]), error["input"])
    return "labels must map step indexes to correct, wrong or unsure"


def _in_step_order(labels: Any) -> Any:
    """Keys that are no step first, then by step: the order they are checked and written in."""
    return dict(sorted(labels.items(), key=lambda kv: step_index(str(kv[0])))) if isinstance(labels, dict) else labels


def _named(annotator: str) -> str:
    if not annotator.strip():
        raise ValueError("an annotator name is required")
    return annotator.strip()


class LabelsBody(StudioBody):
    """One annotator's verdicts on steps of one row (``{"0": "correct", "2": "wrong"}``)."""

    data: Annotated[int, Refuse(404, "no such data folder")] = 0
    row_id: Annotated[StrictStr, Refuse(404, "no such row")]
    annotator: Annotated[StrictStr, AfterValidator(_named), Refuse(400, "say who you are: an annotator name is required")]
    labels: Annotated[dict[str, Verdict], BeforeValidator(_in_step_order), Field(min_length=1), Refuse(400, _labels_refusal)]
