"""``POST /batches`` (a batch of briefs, run in the background) and ``GET /batches/{batch_id}``.

The body is checked whole before anything runs, as ``sketchgen batch`` does (422 listing every
problem with its row); then the batch runs in the service's process, its runs sharing the model
limiter with every other run, and ``GET /batches/{batch_id}`` answers its manifest. Posting the
same rows and defaults again finds the same batch: while it runs, the answer is that batch; after
it stopped, it resumes (complete rows skipped). The daily budget (429 ``budget_exceeded``) is
checked before the batch is accepted and again before each of its runs starts.

Rows cannot name files on the server (``image``, ``references``): over HTTP, images are uploads
(``POST /generate`` with ``image_base64``).
"""

from __future__ import annotations

import asyncio
import functools
import logging
from typing import Any

from fastapi import APIRouter, Depends
from fastapi.concurrency import run_in_threadpool
from pydantic import BaseModel, ConfigDict, Field

from api.auth import require_token
from api.errors import error_response
from api.routes_generate import ERRORS
from api.schemas import ErrorBody
from api.sse import run_urls, without_server_paths
from api.state import ServiceState, get_state
from generate.batch import MAX_BATCH_ROWS, BatchInvalid, CsvText, prepare_batch
from generate.batch_manifest import BatchNotFound, Manifest, ManifestDamaged, batches_root
from generate.batch_run import arun_prepared
from generate.budget import CostCap
from generate.errors import ConfigError
from generate.run_lock import run_is_live
from generate.runs import RUN_ID_PATTERN
from generate.spend import DailyBudgetReached

__all__ = ["router", "BatchBody"]

router = APIRouter(tags=["batches"], dependencies=[Depends(require_token)])
log = logging.getLogger("sketchgen.api")
_SERVER_PATHS = frozenset({"image", "references"})


class BatchBody(BaseModel):
    """Rows as JSON objects (``rows``) or as CSV text with a header row (``csv``), not both."""

    model_config = ConfigDict(extra="forbid")

    rows: list[dict[str, Any]] | None = Field(
        default=None,
        max_length=MAX_BATCH_ROWS,
        description="One object per run, with GenerateRequest's fields; brief is required.",
        examples=[[{"brief": "playful golf mascot"}, {"brief": "coffee cup logo", "style_id": "line-icon"}]],
    )
    csv: str | None = Field(
        default=None,
        max_length=4 * 1024 * 1024,
        description="The same rows as CSV text: a header row (brief, style_id, num_images, model, ...), then one run a line.",
    )
    defaults: dict[str, Any] = Field(
        default_factory=dict, description="Values for rows that leave a field out (e.g. model, num_images)."
    )
    max_cost_usd: CostCap = Field(
        default=None,
        allow_inf_nan=False,
        description="The batch's cap in USD: no run starts once recorded spend plus the worst case of the "
        "runs in flight would pass it; the rest are skipped_budget.",
    )
    parallel: int = Field(default=4, ge=1, le=64, description="Runs of this batch in flight at once.")


class BatchAccepted(BaseModel):
    batch_id: str
    status: str
    rows: int
    resumed: bool
    already_running: bool = False
    url: str


def _gate(state: ServiceState):
    def gate() -> str | None:
        try:
            state.check_budget()
        except DailyBudgetReached as exc:
            return str(exc)
        return None

    return gate


def _done(running: dict[str, asyncio.Task], batch_id: str, task: asyncio.Task) -> None:
    if running.get(batch_id) is task:
        del running[batch_id]
    if not task.cancelled() and task.exception() is not None:
        log.error("batch %s stopped: %s", batch_id, task.exception())


def _damaged(exc: ManifestDamaged):
    """409: the batch's manifest on the server is not as written (said without its server path)."""
    return error_response(
        409,
        f"batch {exc.batch_id}'s manifest is damaged ({exc.problem}); the service's operator can put "
        "it right or move its folder away",
        field="batch_id",
    )


_DAMAGED = {409: {"model": ErrorBody, "description": "The batch's manifest on the server is damaged"}}


@router.post(
    "/batches",
    status_code=202,
    response_model=BatchAccepted,
    summary="Start a batch of briefs: one run per row, checked whole first",
    responses={
        **ERRORS,
        422: {"model": ErrorBody, "description": "Every problem of the rows, one item each"},
        **_DAMAGED,
    },
)
async def create_batch(body: BatchBody, state: ServiceState = Depends(get_state)):
    if (body.rows is None) == (body.csv is None):
        raise ConfigError(
            "send the rows as either rows (JSON objects) or csv (text), one of the two", field="rows"
        )
    await run_in_threadpool(state.check_budget)
    pipeline = await run_in_threadpool(state.get_pipeline)
    source = CsvText(body.csv) if body.csv is not None else body.rows
    prepare = functools.partial(
        prepare_batch,
        pipeline,
        source,
        defaults=body.defaults,
        max_cost_usd=body.max_cost_usd,
        parallel=body.parallel,
        forbidden=_SERVER_PATHS,
    )
    try:
        batch = await run_in_threadpool(prepare)
    except BatchInvalid as exc:
        items = [{"loc": ["body", "rows"], "msg": p, "type": "batch_row"} for p in exc.problems]
        head = str(exc).splitlines()[0].rstrip(":")
        message = f"{head}: {exc.problems[0]}" if len(exc.problems) == 1 else f"{head} (each in detail)"
        return error_response(422, message, field="rows", detail=items)
    except ManifestDamaged as exc:
        return _damaged(exc)
    url = f"/batches/{batch.batch_id}"
    if batch.batch_id in state.batches:  # the same rows posted again while they run: that batch
        await run_in_threadpool(batch.close)
        return BatchAccepted(
            batch_id=batch.batch_id,
            status="running",
            rows=len(batch.rows),
            resumed=True,
            already_running=True,
            url=url,
        )
    task = asyncio.create_task(arun_prepared(batch, gate=_gate(state)))
    state.batches[batch.batch_id] = task
    task.add_done_callback(functools.partial(_done, state.batches, batch.batch_id))
    return BatchAccepted(
        batch_id=batch.batch_id, status="running", rows=len(batch.rows), resumed=batch.resumed, url=url
    )


@router.get(
    "/batches/{batch_id}",
    summary="A batch's manifest: each row's run id, status, sketches and cost",
    responses={404: {"model": ErrorBody, "description": "No such batch"}, **_DAMAGED},
)
async def get_batch(batch_id: str, state: ServiceState = Depends(get_state)) -> dict[str, Any]:
    root = batches_root(state.output_root())
    # Whether it runs is asked before the manifest is read: a batch that ends between the two
    # then reads as still running (the next poll sees it settled), never as a running manifest
    # left by a process that is gone.
    running = batch_id in state.batches or (
        bool(RUN_ID_PATTERN.match(batch_id)) and await run_in_threadpool(run_is_live, root / batch_id)
    )
    try:
        manifest = await run_in_threadpool(Manifest.open, root, batch_id)
    except BatchNotFound as exc:
        return error_response(404, str(exc), field="batch_id")
    except ManifestDamaged as exc:
        return _damaged(exc)
    data = without_server_paths(manifest.data)
    for row in data.get("rows", []):
        row["run_url"] = run_urls(row["run_id"])["run_url"] if row.get("run_id") else None
    data["running"] = running
    if data.get("status") == "running" and not running:
        data["status"] = "interrupted"  # its process is gone; posting the rows again resumes it
    return data
