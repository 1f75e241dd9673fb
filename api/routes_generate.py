"""``POST /generate`` and ``POST``/``GET /generate-stream``.

Order of work for every run request, so that nothing is paid for a request that cannot succeed:
schema validation (FastAPI, 422) -> ``RunRequest`` -> ``pipeline.validate`` (unknown style, a ratio or
size the model cannot make, missing credentials: 422 naming the field) -> a run slot (429 when
``SKETCHGEN_MAX_RUNS`` runs are in flight) -> the run.

A client that goes away cancels its run: for the stream, sse-starlette notices the disconnect (or a
send that times out) and :mod:`api.sse` cancels the run; for ``POST /generate`` a watcher waits on the
ASGI ``receive`` channel for ``http.disconnect`` and cancels the run task. Cancelling the run cancels
its pending model calls; sketches already written stay, and the run is recorded ``cancelled``.
"""

from __future__ import annotations

import asyncio
from typing import Annotated, Any

import anyio
from fastapi import APIRouter, Depends, Query, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import Response

from api.auth import require_token, require_token_or_query
from api.schemas import (
    AUTH_RESPONSES,
    ErrorBody,
    GenerateQuery,
    GenerateRequest,
    GenerateResponse,
    SketchError,
    SketchOut,
    not_found_responses,
)
from api.sse import RunEventStream, RunHandle, run_urls
from api.state import ServiceState, get_state
from generate.inputs import UploadClaims
from generate.redact import redact

__all__ = [
    "router",
    "to_run_request",
    "result_to_response",
    "prepare_run",
    "start_stream",
    "run_to_response",
    "STREAM_RESPONSES",
    "ERRORS",
]

router = APIRouter(tags=["generate"])

ERRORS: dict[int | str, dict[str, Any]] = {
    **AUTH_RESPONSES,
    422: {"model": ErrorBody, "description": "Invalid input; `field` names it"},
    429: {
        "model": ErrorBody,
        "description": "Too many runs in flight, or (`code: budget_exceeded`) the daily budget is spent; "
        "see Retry-After",
    },
}

_STREAM_DOC = (
    "Server-Sent Events, one per library event, each with `id: <run_id>:<seq>`: `run.started`, "
    "`stage`, `sketch.preview`, `sketch.retry`, `sketch.fallback`, `sketch.completed` (sent as soon as the file is "
    "written; `url` downloads it), `sketch.failed` (`cost_usd`: what the sketch was billed, usually 0), "
    "`run.completed` (`metadata_url`, "
    "`contact_sheet_url`). Closing the connection cancels the run's pending model calls."
)
_UPLOADS_FULL: dict[int | str, dict[str, Any]] = {
    507: {
        "model": ErrorBody,
        "description": "`code: uploads_full`: the service's uploads are at `SKETCHGEN_UPLOADS_MAX_MB`",
    }
}
STREAM_RESPONSES: dict[int | str, dict[str, Any]] = {
    **ERRORS,
    200: {
        "description": _STREAM_DOC,
        "content": {"text/event-stream": {"schema": {"type": "string"}}},
    },
}


def to_run_request(body: GenerateRequest, *, image: Any = None, references: tuple = ()):
    """The library's ``RunRequest`` for this body; unset fields are left to the library's defaults.

    ``image`` / ``references``: paths of the body's uploads, once saved (:func:`save_uploads`).
    """
    from generate.pipeline import RunRequest

    values: dict[str, Any] = body.model_dump(exclude_none=True, exclude={"image_base64", "references_base64"})
    if body.resolution:
        values["resolution"] = body.resolution_tuple()
    if image is not None:
        values["image"] = str(image)
    if references:
        values["references"] = [str(p) for p in references]
    return RunRequest(**values)


def save_uploads(state: ServiceState, body: GenerateRequest) -> tuple[Any, tuple, list]:
    """Check and keep the body's uploaded images (blocking). Returns (image path, reference paths,
    the files this request claimed: settle them with :func:`_settle` once it is accepted or refused)."""
    claimed: list = []

    def keep(data: bytes, field: str):
        settings = state.settings
        path = UPLOADS.save(
            data,
            state.output_root(),
            field=field,
            max_total_bytes=settings.uploads_max_bytes,
            retention_hours=settings.upload_retention_hours,
        )
        claimed.append(path)
        return path

    try:
        image = keep(body.image_bytes(), "image_base64") if body.image_base64 else None
        refs = tuple(keep(data, "references_base64") for data in body.reference_bytes())
    except BaseException:
        _settle(claimed, accepted=False)
        raise
    return image, refs, claimed


UPLOADS = UploadClaims()  # one per process: requests of every app share the files by hash


def _settle(paths, *, accepted: bool) -> None:
    UPLOADS.settle(paths, accepted=accepted)


def sweep_uploads(state: ServiceState) -> list:
    """Remove the app's expired uploads (blocking; see :mod:`generate.uploads`)."""
    return UPLOADS.sweep(state.output_root(), state.settings.upload_retention_hours)


async def prepare_run(state: ServiceState, validate) -> tuple[Any, Any, Any]:
    """The daily budget (429 ``budget_exceeded``), ``validate(pipeline) -> PreparedRun`` in a worker
    thread (422 naming the field), then a run slot (429). Returns (pipeline, prepared run, slot); the prepared run is handed to
    ``astream``/``arun`` so it is not validated twice.

    Validation runs in a worker thread: it builds the model adapter (an SDK client whose TLS setup
    costs ~0.1 s of CPU), which must not stall the event loop that streams everyone else's events."""
    await run_in_threadpool(state.check_budget)  # the daily budget spent -> 429 budget_exceeded
    pipeline = await run_in_threadpool(state.get_pipeline)
    prepared = await run_in_threadpool(validate, pipeline)  # ConfigError(field=...) -> 422
    try:
        slot = state.slots.acquire()  # Overloaded -> 429
    except BaseException:
        _close_adapter_soon(prepared)
        raise
    return pipeline, prepared, slot


async def _prepare(state: ServiceState, body: GenerateRequest):
    """Uploads saved (and taken back if the request is refused), then :func:`prepare_run`."""
    created: list = []

    def validate(pipeline):
        nonlocal created
        image, refs, created = save_uploads(state, body)
        return pipeline.validate(to_run_request(body, image=image, references=refs))

    try:
        prepared = await prepare_run(state, validate)
    except BaseException:
        _settle(created, accepted=False)
        raise
    _settle(created, accepted=True)
    return prepared


def _close_adapter_soon(prepared: Any) -> None:
    """A validated run that will not start still owns an adapter (an HTTP client): close it."""
    adapter = getattr(prepared, "adapter", None)
    aclose = getattr(adapter, "aclose", None)
    if aclose is not None:
        task = asyncio.get_running_loop().create_task(aclose())
        _BACKGROUND.add(task)
        task.add_done_callback(_BACKGROUND.discard)


_BACKGROUND: set[asyncio.Task] = set()


def start_stream(state: ServiceState, pipeline, prepared, slot) -> RunEventStream:
    """The SSE response of a prepared run (which owns ``slot`` from here on)."""
    try:
        handle = RunHandle(pipeline.astream(prepared), slot, cancel_grace_s=state.settings.cancel_grace_s)
    except BaseException:
        slot.release()
        _close_adapter_soon(prepared)
        raise
    return RunEventStream(
        handle, ping_s=state.settings.sse_ping_s, send_timeout_s=state.settings.sse_send_timeout_s
    )


async def _start_stream(state: ServiceState, body: GenerateRequest) -> RunEventStream:
    return start_stream(state, *(await _prepare(state, body)))


@router.post(
    "/generate-stream",
    summary="Run and stream its events (SSE)",
    response_class=Response,
    responses={**STREAM_RESPONSES, **_UPLOADS_FULL},
    dependencies=[Depends(require_token)],
)
async def generate_stream_post(
    body: GenerateRequest, state: Annotated[ServiceState, Depends(get_state)]
) -> Response:
    return await _start_stream(state, body)


@router.get(
    "/generate-stream",
    summary="Run and stream its events (SSE), for EventSource",
    description="The same as POST, with the request as query parameters. Accepts `?token=` because "
    "EventSource cannot send an Authorization header.",
    response_class=Response,
    responses=STREAM_RESPONSES,
    dependencies=[Depends(require_token_or_query)],
)
async def generate_stream_get(
    params: Annotated[GenerateQuery, Query()], state: Annotated[ServiceState, Depends(get_state)]
) -> Response:
    return await _start_stream(state, params.to_request())


async def _wait_for_disconnect(request: Request) -> None:
    """Returns when the client closes the connection (the body has already been read)."""
    while True:
        message = await request.receive()
        if message["type"] == "http.disconnect":
            return


async def run_to_response(state: ServiceState, request: Request, pipeline, prepared, slot):
    """Run a prepared run to its end and answer with its JSON result (499 if the client left)."""
    return await _answer_when_done(pipeline.arun(prepared), request, state, slot)


async def _answer_when_done(work, request: Request, state: ServiceState, slot) -> GenerateResponse | Response:
    """Run ``work`` (a coroutine returning a ``GenerationResult``) to the end and answer with it;
    a client that leaves cancels it. Releases ``slot`` however it ends."""
    run = asyncio.create_task(work, name="sketchgen-run")
    watcher = asyncio.create_task(_wait_for_disconnect(request), name="sketchgen-disconnect")
    try:
        await asyncio.wait({run, watcher}, return_when=asyncio.FIRST_COMPLETED)
        if not run.done():
            # The client left: stop paying for sketches nobody will receive (499, nginx's
            # "client closed request"; nobody reads it).
            run.cancel()
            with anyio.move_on_after(state.settings.cancel_grace_s, shield=True):
                await asyncio.wait({run})
            return Response(status_code=499)
        return result_to_response(run.result())
    finally:
        watcher.cancel()
        if not run.done():  # this handler itself was cancelled (server shutdown)
            run.cancel()
        slot.release()


@router.post(
    "/generate",
    summary="Run and return the result as JSON",
    response_model=GenerateResponse,
    responses={**ERRORS, **_UPLOADS_FULL},
    dependencies=[Depends(require_token)],
)
async def generate(
    body: GenerateRequest, request: Request, state: Annotated[ServiceState, Depends(get_state)]
) -> GenerateResponse | Response:
    return await run_to_response(state, request, *(await _prepare(state, body)))


_RESUME_ERRORS: dict[int | str, dict[str, Any]] = {
    **ERRORS,
    **not_found_responses("run"),
    409: {"model": ErrorBody, "description": "The run is still running, or complete: nothing to resume"},
}


async def _prepare_resume(state: ServiceState, run_id: str):
    """Check the run can be resumed (404 / 409 / 422, no model called) and take a run slot (429)."""
    from generate.resume import prepare_resume

    await run_in_threadpool(state.check_budget)  # resuming pays for sketches too
    prepared = await run_in_threadpool(prepare_resume, run_id, state.output_root())
    try:
        slot = state.slots.acquire()
    except BaseException:
        await run_in_threadpool(prepared.close)
        raise
    return prepared, slot


@router.post(
    "/runs/{run_id}/resume",
    tags=["runs"],
    summary="Make the missing or failed sketches of an interrupted, failed or partial run",
    description="Into the same run folder, with the prompts recorded in its metadata; the attempt "
    "is recorded in the run's `resumes`. Answers like `POST /generate`, with every sketch of the run.",
    response_model=GenerateResponse,
    responses=_RESUME_ERRORS,
    dependencies=[Depends(require_token)],
)
async def resume_run(
    run_id: str, request: Request, state: Annotated[ServiceState, Depends(get_state)]
) -> GenerateResponse | Response:
    from generate.resume import aresume

    prepared, slot = await _prepare_resume(state, run_id)
    return await _answer_when_done(aresume(prepared), request, state, slot)


@router.post(
    "/runs/{run_id}/resume-stream",
    tags=["runs"],
    summary="Resume a run and stream its events (SSE)",
    response_class=Response,
    responses={**STREAM_RESPONSES, **{k: v for k, v in _RESUME_ERRORS.items() if k in (404, 409)}},
    dependencies=[Depends(require_token)],
)
async def resume_run_stream(run_id: str, state: Annotated[ServiceState, Depends(get_state)]) -> Response:
    from generate.resume import astream_resume

    prepared, slot = await _prepare_resume(state, run_id)
    try:
        handle = RunHandle(astream_resume(prepared), slot, cancel_grace_s=state.settings.cancel_grace_s)
    except BaseException:
        slot.release()
        await run_in_threadpool(prepared.close)
        raise
    return RunEventStream(
        handle, ping_s=state.settings.sse_ping_s, send_timeout_s=state.settings.sse_send_timeout_s
    )


def result_to_response(result: Any) -> GenerateResponse:
    """``GenerationResult`` -> the JSON answer, with URLs instead of server paths."""
    urls = run_urls(result.run_id)
    sketches = []
    for sk in sorted(result.sketches, key=lambda s: s.index):
        error = None
        if sk.error:
            error = SketchError(
                code=str(sk.error.get("code", "internal")),
                message=redact(str(sk.error.get("message", ""))),
                retryable=bool(sk.error.get("retryable", False)),
            )
        sketches.append(
            SketchOut(
                index=sk.index,
                status=sk.status,
                file=sk.file,
                url=f"{urls['files_url']}/{sk.file}" if sk.file and sk.status == "completed" else None,
                error=error,
                variation=sk.variation or {},
                attempts=sk.attempts,
                latency_s=sk.latency_s,
                cost_usd=sk.cost_usd,
                model=getattr(sk, "model", None),
                fallbacks=[dict(f) for f in getattr(sk, "fallbacks", None) or []],  # redacted by the result
                sheet=(sk.record or {}).get("sheet"),
            )
        )
    sheet = getattr(result, "contact_sheet_path", None)
    config = getattr(result, "config", None)
    spec = getattr(result, "prompt_spec", None)
    return GenerateResponse(
        run_id=result.run_id,
        status=result.status,
        model=result.model,
        style_id=getattr(spec, "style_id", None),
        num_images=getattr(config, "num_images", None) or len(sketches),
        succeeded=sum(1 for s in sketches if s.status == "completed"),
        failed=sum(1 for s in sketches if s.status == "failed"),
        cost_usd=result.cost_usd,
        wall_s=result.wall_s,
        sketches=sketches,
        run_url=urls["run_url"],
        metadata_url=urls["metadata_url"],
        contact_sheet_url=f"{urls['files_url']}/{sheet.name}" if sheet and sheet.is_file() else None,
        warnings=[redact(w) for w in getattr(result, "warnings", []) or []],
        parent=getattr(result, "parent", None),
        iteration=getattr(result, "iteration", None),
    )
