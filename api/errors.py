"""Exception handlers: every error the API produces has the :class:`api.schemas.ErrorBody` shape.

* Request validation (FastAPI) and the library's ``ConfigError`` -> 422, ``field`` naming the culprit
  (``num_images``, ``style_id``, ``aspect_ratio``...), so a client can point at the right input, and
  each ``detail`` item's ``loc`` saying where it was (``["query", "since"]``, ``["body", "brief"]``,
  ``["path", ...]``); a body that is not JSON, not an object, or absent is 422 with ``field: "body"``.
* ``Overloaded`` -> 429 with ``Retry-After``.
* The uploads folder full (``UploadsFull``, ``SKETCHGEN_UPLOADS_MAX_MB``) -> 507 with
  ``code: uploads_full``, ``field`` naming the upload.
* The daily budget spent (``DailyBudgetReached``) -> 429 with ``code: budget_exceeded`` and
  ``Retry-After`` (seconds to 00:00 UTC).
* Resuming: an unknown run (``RunNotFound``) -> 404; a running or complete one
  (``RunNotResumable``) -> 409.
* ``HTTPException`` (401, 404, ...) keeps its status and headers (a body over its size limit is
  answered 413 by :mod:`api.limits` before the app sees it).
* Error details are bounded: at most :data:`MAX_ERROR_ITEMS` items, each string cut to
  :data:`MAX_ERROR_TEXT` characters, so a body with 10,000 unknown keys cannot make a huge answer.
* A broken style file on the server (``StyleError``) -> 500: the caller cannot fix it.
"""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import ValidationError
from starlette.exceptions import HTTPException as StarletteHTTPException

from api.state import Overloaded
from generate.errors import ConfigError, StyleError
from generate.redact import redact_value
from generate.resume import RunNotFound, RunNotResumable
from generate.spend import DailyBudgetReached
from generate.uploads import UploadsFull
from generate.validation import field_bounds, human_message

__all__ = [
    "install_error_handlers",
    "validation_items",
    "error_response",
    "MAX_ERROR_ITEMS",
    "MAX_ERROR_TEXT",
]

_SOURCES = {"body", "query", "path", "header", "cookie"}
MAX_ERROR_ITEMS = 20
MAX_ERROR_TEXT = 200


def _clip(text: str) -> str:
    return text if len(text) <= MAX_ERROR_TEXT else text[: MAX_ERROR_TEXT - 1] + "…"


def error_response(
    status: int,
    message: str,
    *,
    field: str | None = None,
    detail: Any = None,
    headers: dict[str, str] | None = None,
    code: str | None = None,
) -> JSONResponse:
    body = {"message": message, "field": field, "detail": detail if detail is not None else message}
    if code is not None:
        body["code"] = code
    # Every error answer is built here: one pass through the redaction point covers them all.
    return JSONResponse(redact_value(body), status_code=status, headers=headers)


def _field_of(loc: tuple[Any, ...] | list[Any]) -> str | None:
    """``("body", "num_images")`` -> ``num_images``; ``("query", "brief")`` -> ``brief``."""
    parts = [str(p) for p in loc if not (isinstance(p, str) and p in _SOURCES) and not isinstance(p, int)]
    return parts[0] if parts else None


def validation_items(
    errors: list[dict[str, Any]], source: str = "body", model: Any = None
) -> list[dict[str, Any]]:
    """pydantic/FastAPI errors as ``{"loc", "msg", "type"}``; ``msg`` reads as a person would write it
    ("num_images must be between 3 and 6 (got 7)"), see :func:`generate.validation.human_message`.
    The range named is the one ``model`` (the route's body model; default the generate request's)
    declares: a refinement's ``num_images`` is 1-6, not 3-6.

    Bounded: the first :data:`MAX_ERROR_ITEMS` errors (strings clipped to :data:`MAX_ERROR_TEXT`),
    then one item saying how many were left out, if any."""
    if model is None:
        from api.schemas import GenerateQuery as model

    items = []
    for err in errors[:MAX_ERROR_ITEMS]:
        loc = [p if isinstance(p, int) else _clip(str(p)) for p in err.get("loc", ())]
        if not loc or loc[0] not in _SOURCES:
            loc = [source, *loc]
        field = _field_of(loc)
        msg = str(err.get("msg", "invalid"))
        if field:
            msg = human_message(err, field, field_bounds(model, field))
        items.append({"loc": loc, "msg": _clip(msg), "type": _clip(str(err.get("type", "")))})
    if len(errors) > MAX_ERROR_ITEMS:
        more = len(errors) - MAX_ERROR_ITEMS
        items.append({"loc": [source], "msg": f"{more} more errors not shown", "type": "too_many_errors"})
    return items


_WHOLE_BODY = {
    "json_invalid": "not valid JSON",
    "model_attributes_type": "must be a JSON object",
    "dict_type": "must be a JSON object",
    "missing": "a JSON object is required",
}


def _validation_response(items: list[dict[str, Any]]) -> JSONResponse:
    first = items[0] if items else {"loc": [], "msg": "invalid request"}
    field = _field_of(first["loc"])
    message = str(first["msg"])  # already names its field ("num_images must be between 3 and 6 (got 7)")
    if field is None and first["loc"][:1] == ["body"]:
        # The body as a whole is wrong (not JSON, not an object, absent): still 422, naming "body".
        field = "body"
        message = "body: " + _WHOLE_BODY.get(str(first.get("type")), message)
        if first.get("type") == "json_invalid" and len(first["loc"]) > 1:
            message += f" (at character {first['loc'][1]})"
    return error_response(422, message, field=field, detail=items)


def _body_model(request: Request) -> Any:
    """The pydantic model of the matched route's JSON body, if it has one."""
    field = getattr(request.scope.get("route"), "body_field", None)
    return getattr(getattr(field, "field_info", None), "annotation", None)


async def _on_request_validation(request: Request, exc: RequestValidationError) -> JSONResponse:
    model = _body_model(request)
    return _validation_response(
        validation_items(list(exc.errors()), model=model if hasattr(model, "model_fields") else None)
    )


def _source_of(request: Request, field: str | None) -> str:
    """Where the input named ``field`` came from: ``path``, ``query`` or ``body``. A request with no
    body (GET, HEAD, DELETE) has only its path and query to be wrong."""
    if field is not None and field in request.path_params:
        return "path"
    if (field is not None and field in request.query_params) or request.method in ("GET", "HEAD", "DELETE"):
        return "query"
    return "body"


async def _on_pydantic_validation(request: Request, exc: ValidationError) -> JSONResponse:
    errors = list(exc.errors(include_url=False))
    return _validation_response(validation_items(errors, source=_source_of(request, None)))


async def _on_config_error(request: Request, exc: ConfigError) -> JSONResponse:
    if isinstance(exc, StyleError) and getattr(exc, "field", None) not in ("style_id",):
        return error_response(500, f"the service's style files are broken: {exc}")
    field = getattr(exc, "field", None)
    source = _source_of(request, field)
    item = {"loc": [source, field] if field else [source], "msg": str(exc), "type": "config_error"}
    return error_response(422, str(exc), field=field, detail=[item])


async def _on_run_not_found(_: Request, exc: RunNotFound) -> JSONResponse:
    return error_response(404, str(exc), field="run_id")


async def _on_run_not_resumable(_: Request, exc: RunNotResumable) -> JSONResponse:
    return error_response(409, str(exc), field="run_id")


async def _on_overloaded(_: Request, exc: Overloaded) -> JSONResponse:
    return error_response(429, str(exc), headers={"Retry-After": str(exc.retry_after_s)})


async def _on_budget_reached(_: Request, exc: DailyBudgetReached) -> JSONResponse:
    return error_response(
        429, str(exc), field="budget", code=exc.code, headers={"Retry-After": str(exc.retry_after_s)}
    )


async def _on_uploads_full(_: Request, exc: UploadsFull) -> JSONResponse:
    return error_response(507, str(exc), field=exc.field, code=exc.code)


async def _on_http_exception(_: Request, exc: StarletteHTTPException) -> JSONResponse:
    message = exc.detail if isinstance(exc.detail, str) else "request failed"
    if exc.status_code == 400 and message == "There was an error parsing the body":
        # FastAPI's answer to a body it cannot even decode: the same 422 as any other bad body.
        item = {"loc": ["body"], "msg": message, "type": "body_unreadable"}
        return error_response(422, "body: not valid JSON", field="body", detail=[item])
    return error_response(exc.status_code, message, headers=getattr(exc, "headers", None))


def install_error_handlers(app: FastAPI) -> None:
    app.add_exception_handler(RequestValidationError, _on_request_validation)
    app.add_exception_handler(ValidationError, _on_pydantic_validation)
    app.add_exception_handler(ConfigError, _on_config_error)
    app.add_exception_handler(RunNotFound, _on_run_not_found)
    app.add_exception_handler(RunNotResumable, _on_run_not_resumable)
    app.add_exception_handler(Overloaded, _on_overloaded)
    app.add_exception_handler(DailyBudgetReached, _on_budget_reached)
    app.add_exception_handler(UploadsFull, _on_uploads_full)
    app.add_exception_handler(StarletteHTTPException, _on_http_exception)
