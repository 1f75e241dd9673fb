"""Sheet mode: several sketches from one model call.

With ``GenerationConfig.sheet`` set ("2x2", "3x2", "2x3", "3x3": columns x rows), a run makes ONE
call that asks for one image holding that grid of distinct variations, then cuts it into cells
(:func:`generate.sheet_cut.find_cells`, which finds the gutters). The generator calls
:func:`run_sheet_sync` / :func:`run_sheet_async` instead of one call per sketch; everything else
(events, metadata, post-processing, the run's end) is the ordinary per-sketch path of
:class:`generate.run_state.RunState`, one sketch per cell:

* the prompt names each cell's layout and exaggeration from the variation plan, in reading order;
* the raw sheet is kept in the run folder (``sheet_01.png``, or ``.jpg`` for a JPEG answer);
* each good cell is post-processed like any sketch and saved as ``sketch_<index>.png``; a cell that
  cannot be cut cleanly is a failed sketch (``sheet_gutter_missing``, ``sheet_cell_empty``,
  ``sheet_cell_shape``), never saved;
* every cell's record gets ``sheet: {layout, cell: [row, col], box: [x0, y0, x1, y1] | null,
  source}`` and its share of the call's cost and tokens (the shares sum to the call's exactly);
* a failed call (after the usual retries) fails every cell with the call's error; retries are
  reported for every cell, previews (stream mode) at the first cell's index.
"""

from __future__ import annotations

import asyncio
import io
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, replace
from typing import Any

import numpy as np
from PIL import Image, UnidentifiedImageError

from generate.adapter import ImageRequest, ModelImage, SheetRequest, Usage
from generate.errors import ErrorCode, ModelCallError
from generate.events import RunEvent, SketchOutcome
from generate.png import encode_png
from generate.postprocess import MIME_SUFFIX
from generate.runs import atomic_write_bytes
from generate.sheet_cut import SheetCell, SheetLayout, find_cells
from prompt.compiler import ONE_SKETCH_RULE

__all__ = [
    "SheetPlan",
    "Pace",
    "plan_sheet",
    "sheet_prompt",
    "run_sheet_sync",
    "run_sheet_async",
    "settle_sheet",
]

SOURCE_STEM = "sheet_01"


@dataclass(frozen=True)
class SheetPlan:
    """The one call of a sheet run: its layout and its request (the prompt asks for the grid)."""

    layout: SheetLayout
    request: ImageRequest


def sheet_prompt(prompt_text: str, variations: list, layout: SheetLayout) -> str:
    """The one prompt of a sheet call: the run's prompt, with its one-sketch rule swapped for the
    grid, then each cell's variation in reading order."""
    grid = (
        f"one image holding a {layout.name} grid, a sheet of {layout.cols} columns by {layout.rows} rows: {layout.cells} "
        "separate sketches, one per cell, with clear, wide, empty white gutters between the cells"
    )
    text = prompt_text.replace(ONE_SKETCH_RULE, grid)
    lines = [
        text,
        "",
        f"SHEET: {layout.cols} columns by {layout.rows} rows, {layout.cells} cells of equal size. Each cell "
        "holds one complete sketch of the same subject, kept well inside its cell; no frames, numbers or "
        "labels. The cells, in reading order (left to right, then top to bottom):",
    ]
    for v in variations:
        row, col = layout.position(v.index)
        lines.append(
            f"- Cell {v.index + 1} (row {row + 1}, column {col + 1}): layout ({v.layout}): "
            f"{v.layout_description} Exaggeration ({v.exaggeration}): {v.exaggeration_description}"
        )
    return "\n".join(lines)


def plan_sheet(adapter, config, prompt_text: str, variations: list, requests: list[ImageRequest]):
    """(SheetPlan, per-cell requests) for a sheet run; refuses what the model or size cannot hold.

    Every cell's request carries the sheet prompt (what was actually sent, recorded per sketch).
    """
    layout = SheetLayout.parse(config.sheet)
    warnings = adapter.check_sheet(
        layout, aspect_ratio=requests[0].aspect_ratio, image_size=requests[0].image_size
    )
    prompt = sheet_prompt(prompt_text, variations, layout)
    cells = [replace(r, prompt=prompt) for r in requests]
    grid = SheetRequest(layout.cols, layout.rows, tuple((v.layout, v.exaggeration) for v in variations))
    return SheetPlan(layout=layout, request=replace(cells[0], sheet=grid)), cells, list(warnings)


# -- the call ---------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Pace:
    """What paces the one call, as for any call (see :class:`generate.generator.ImageGenerator`):
    the model's process-wide ``gate`` (rate and daily quota) and connection ``limiter``, shared
    fairly among ``owner`` s."""

    limiter: Any
    gate: Any
    owner: Any


def _spent(gate, error: ModelCallError) -> None:
    """A daily quota the model says is spent stops that model for every run of the process."""
    if error.code == ErrorCode.QUOTA_EXHAUSTED:
        gate.exhaust(error)


def run_sheet_sync(state, pace: Pace, emit: Callable[[RunEvent], None]) -> None:
    """Make the sheet with the adapter's blocking call (a worker thread); emits one outcome per cell.

    A sheet is made by the run's own model only: a fallback chain's other models are not asked
    (they may draw no sheets)."""
    try:
        _sheet_sync(state, pace, emit)
    except Exception as exc:  # a bug fails the cells still open, never the run
        _fail_open(state, state.internal_error(exc), emit)


def _sheet_sync(state, pace: Pace, emit) -> None:
    attempt = 0
    while True:
        attempt += 1
        if state.cancel_event.is_set():
            return
        try:  # the model's pace and daily quota, process-wide, before a connection slot
            if not pace.gate.acquire(cancel=state.cancel_event, owner=pace.owner):
                return
        except ModelCallError as err:
            _fail_all(state, err, attempt - 1, emit)
            return
        if not pace.limiter.acquire(cancel=state.cancel_event, owner=pace.owner):
            return
        try:
            error = pace.gate.exhausted_error()  # another call found the quota spent meanwhile
            if error is None:
                _mark_running(state, attempt)
                started = time.perf_counter()
                try:
                    image = state.adapter.generate(replace(state.sheet_plan.request, attempt=attempt))
                except ModelCallError as err:
                    error = err
                    _charge(state, error)
                    _spent(pace.gate, error)
                else:
                    for outcome in settle_sheet(state, image, time.perf_counter() - started, attempt):
                        emit(outcome)
                    return
        finally:
            pace.limiter.release(owner=pace.owner)
        delay = _retry(state, error, attempt, emit)
        if delay is None:
            return
        if pace.gate.wait_unless_spent(delay, cancel=state.cancel_event):
            return


async def run_sheet_async(
    state, pace: Pace, call_model: Callable[..., Awaitable[ModelImage]], emit: Callable[[RunEvent], None]
) -> None:
    """Make the sheet on the event loop (``call_model(state, request, emit)`` is the generator's
    guarded call, previews included); emits one outcome per cell."""
    try:
        await _sheet_async(state, pace, call_model, emit)
    except asyncio.CancelledError:
        raise
    except Exception as exc:
        _fail_open(state, state.internal_error(exc), emit)


async def _sheet_async(state, pace: Pace, call_model, emit) -> None:
    attempt = 0
    while True:
        attempt += 1
        try:  # the model's pace and daily quota, process-wide, before a connection slot
            await pace.gate.aacquire(pace.owner)
        except ModelCallError as err:
            _fail_all(state, err, attempt - 1, emit)
            return
        async with pace.limiter.aslot(pace.owner):
            error = pace.gate.exhausted_error()  # another call found the quota spent meanwhile
            if error is None:
                _mark_running(state, attempt)
                started = time.perf_counter()
                try:
                    image = await call_model(state, replace(state.sheet_plan.request, attempt=attempt), emit)
                except ModelCallError as err:
                    error = err
                    _charge(state, error)
                    _spent(pace.gate, error)
                else:
                    latency = time.perf_counter() - started
                    # Shielded: once paid for, the cells are written even if the consumer leaves now.
                    finishing = asyncio.get_running_loop().run_in_executor(
                        None, settle_sheet, state, image, latency, attempt
                    )
                    for rec in state.records:
                        state.finishing[rec["index"]] = finishing
                    for outcome in await asyncio.shield(finishing):
                        emit(outcome)
                    return
        delay = _retry(state, error, attempt, emit)
        if delay is None:
            return
        await pace.gate.asleep_unless_spent(delay)


def _indexes(state) -> list[int]:
    return [rec["index"] for rec in state.records]


def _charge(state, error: ModelCallError) -> None:
    """A billed failed sheet call: each cell bears its share, as each cell does of a made sheet."""
    indexes = _indexes(state)
    for index, share in zip(indexes, _shares(error.cost_usd, len(indexes)), strict=True):
        state.add_cost(index, share)


def _mark_running(state, attempt: int) -> None:
    for index in _indexes(state):
        state.mark_running(index, attempt)


def _fail_all(state, error: ModelCallError, attempts: int, emit) -> None:
    for index in _indexes(state):
        emit(state.fail(index, error, attempts))


def _retry(state, error: ModelCallError, attempt: int, emit) -> float | None:
    """The delay before the next attempt (a retry event per cell), or None: every cell failed."""
    first = _indexes(state)[0]
    delay = state.retry_delay(first, error, attempt)
    if delay is None:
        _fail_all(state, error, attempt, emit)
        return None
    for index in _indexes(state):
        emit(state.retry_event(index, attempt + 1, error, delay))
    return delay


def _fail_open(state, error: ModelCallError, emit) -> None:
    for rec in list(state.records):
        if rec["status"] not in ("completed", "failed", "cancelled"):
            emit(state.fail(rec["index"], error, rec["attempts"]))


# -- the answer: keep the sheet, cut it, one sketch per cell ------------------------------------------
def _shares(total: float, n: int, digits: int = 6) -> list[float]:
    """``total`` split into ``n`` shares that sum to it exactly at ``digits`` decimals."""
    unit = 10**digits
    whole = round(total * unit)
    base, extra = divmod(whole, n)
    return [(base + (1 if i < extra else 0)) / unit for i in range(n)]


def _usage_shares(usage: Usage, n: int) -> list[Usage]:
    fields = usage.to_dict()
    split = {k: [v // n + (1 if i < v % n else 0) for i in range(n)] for k, v in fields.items()}
    return [Usage(**{k: split[k][i] for k in fields}) for i in range(n)]


def settle_sheet(state, image: ModelImage, latency_s: float, attempts: int) -> list[SketchOutcome]:
    """Keep the raw sheet, cut it and settle every cell (CPU and disk: a worker thread in async code)."""
    plan: SheetPlan = state.sheet_plan
    indexes = _indexes(state)
    source = SOURCE_STEM + MIME_SUFFIX.get(image.mime_type, ".png")
    atomic_write_bytes(state.out_dir / source, image.data)
    costs, usages = _shares(image.cost_usd, len(indexes)), _usage_shares(image.usage, len(indexes))
    try:
        with Image.open(io.BytesIO(image.data)) as opened:
            opened.load()
            if opened.mode in ("RGBA", "LA", "P", "PA"):  # transparent paper is white paper
                rgba = opened.convert("RGBA")
                sheet = Image.alpha_composite(Image.new("RGBA", rgba.size, "white"), rgba).convert("RGB")
            else:
                sheet = opened.convert("RGB")
    except (UnidentifiedImageError, OSError, Image.DecompressionBombError, SyntaxError) as exc:
        error = ModelCallError(
            ErrorCode.BAD_IMAGE, f"the model's sheet could not be decoded ({exc.__class__.__name__})"
        )
        cells = [None] * len(indexes)
    else:
        error = None
        cells = find_cells(np.asarray(sheet.convert("L")), plan.layout)
    outcomes: list[SketchOutcome] = []
    for k, index in enumerate(indexes):
        cell: SheetCell | None = cells[k]
        row, col = plan.layout.position(k)
        state.annotate(
            index,
            sheet={
                "layout": plan.layout.name,
                "cell": [row, col],
                "box": list(cell.box) if cell is not None and cell.ok else None,
                "source": source,
            },
            usage=usages[k].to_dict(),
        )
        if cell is None or not cell.ok:
            failure = error or ModelCallError(cell.code, cell.message, retryable=False)
            state.add_cost(index, costs[k])  # the sheet was paid for, this cell of it too
            outcomes.append(state.fail(index, failure, attempts))
            continue
        crop = sheet.crop(cell.box)
        part = replace(
            image,
            data=encode_png(crop),
            mime_type="image/png",
            usage=usages[k],
            cost_usd=costs[k],
            # The signature signs the whole sheet: a cell cannot continue that conversation.
            thought_signature=None,
            model_parts=[],
        )
        try:
            outcomes.append(state.complete(index, part, latency_s, attempts))  # adds the cell's cost
        except ModelCallError as err:
            state.charge(index, err)  # its share, though the cell is unusable
            outcomes.append(state.fail(index, err, attempts))
    return outcomes
