"""Iterating on a sketch over HTTP: ``/runs/{run_id}/sketches/{index}/refine|vary`` (JSON result)
and ``.../refine-stream|vary-stream`` (SSE, the same events as ``/generate-stream``).

Each makes a child run of the sketch (see :mod:`generate.iterate`). The order of work is the one of
``/generate``: schema (422) -> ``SketchPipeline.prepare_iteration`` (an unknown run is 404; an index
out of range, a failed parent sketch, a bad instruction are 422 naming the field) -> a run slot
(429) -> the run. Nothing is called or written for a refused request.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, HTTPException, Path, Request
from fastapi.responses import Response

from api.auth import require_token
from api.routes_generate import ERRORS, STREAM_RESPONSES, prepare_run, run_to_response, start_stream
from api.schemas import GenerateResponse, RefineBody, VaryBody, not_found_responses
from api.state import ServiceState, get_state
from generate.errors import ConfigError

__all__ = ["router"]

router = APIRouter(tags=["iterate"], dependencies=[Depends(require_token)])

_RESPONSES: dict[int | str, dict[str, Any]] = {**ERRORS, **not_found_responses("run")}
RunId = Annotated[str, Path(max_length=40, description="The parent run")]
Index = Annotated[int, Path(ge=0, le=63, description="Which sketch of the parent run (0-based)")]


async def _prepare(state: ServiceState, run_id: str, index: int, kind: str, body: RefineBody):
    data = {"run_id": run_id, "index": index, "kind": kind, **body.model_dump(exclude_none=True)}
    try:  # prepare_iteration parses the dict as a VaryRequest or IterateRequest by its kind
        return await prepare_run(state, lambda pipeline: pipeline.prepare_iteration(data))
    except ConfigError as exc:
        if exc.field == "run_id":
            raise HTTPException(404, exc.message) from None
        raise


_STREAM = {**STREAM_RESPONSES, 404: _RESPONSES[404]}
_REFINE = "Revise one sketch with an instruction (a child run)"
_VARY = "More like one sketch: same design, new layouts (a child run)"
State = Annotated[ServiceState, Depends(get_state)]


@router.post(
    "/runs/{run_id}/sketches/{index}/refine",
    summary=f"{_REFINE}; the JSON result of a run",
    response_model=GenerateResponse,
    responses=_RESPONSES,
)
async def refine_sketch(
    run_id: RunId, index: Index, body: RefineBody, request: Request, state: State
) -> GenerateResponse | Response:
    return await run_to_response(state, request, *(await _prepare(state, run_id, index, "refine", body)))


@router.post(
    "/runs/{run_id}/sketches/{index}/refine-stream",
    summary=f"{_REFINE}, streamed as a run's events (SSE)",
    response_class=Response,
    responses=_STREAM,
)
async def refine_sketch_stream(run_id: RunId, index: Index, body: RefineBody, state: State) -> Response:
    return start_stream(state, *(await _prepare(state, run_id, index, "refine", body)))


@router.post(
    "/runs/{run_id}/sketches/{index}/vary",
    summary=f"{_VARY}; the JSON result of a run",
    response_model=GenerateResponse,
    responses=_RESPONSES,
)
async def vary_sketch(
    run_id: RunId, index: Index, body: VaryBody, request: Request, state: State
) -> GenerateResponse | Response:
    return await run_to_response(state, request, *(await _prepare(state, run_id, index, "vary", body)))


@router.post(
    "/runs/{run_id}/sketches/{index}/vary-stream",
    summary=f"{_VARY}, streamed as a run's events (SSE)",
    response_class=Response,
    responses=_STREAM,
)
async def vary_sketch_stream(run_id: RunId, index: Index, body: VaryBody, state: State) -> Response:
    return start_stream(state, *(await _prepare(state, run_id, index, "vary", body)))
