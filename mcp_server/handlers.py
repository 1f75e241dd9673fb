"""What each tool does, apart from any transport: inputs in, a :class:`ToolOutcome` out.

:class:`SketchTools` calls the library the way the CLI and the HTTP service do
(:class:`generate.pipeline.SketchPipeline` for runs, refinements and dry runs; :mod:`generate.runs`
and :mod:`generate.models` for the catalogues). Its contract:

* Bad input, an unknown run, a cost above ``max_cost_usd``: a :class:`ToolFailure` with a typed code,
  raised before any model call.
* A run where no sketch could be made (a blocked image, a rate limit after the retries): an outcome
  with ``error`` set, the run summary beside it. A run where some sketches failed is not an error:
  each failure is kept at its own index.
* ``progress(done, total, message)`` is awaited once as the run starts and once as each sketch
  settles, in order.
* Cancelling the awaiting task cancels the run: its pending model calls are cancelled (aborted
  upstream) and the run is recorded ``cancelled``. The run gets :data:`CANCEL_GRACE_S` to record that.
* No text that leaves here carries a secret (:func:`generate.redact.redact_value`).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections import Counter
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import anyio
from pydantic import BaseModel, ValidationError

from generate.errors import ConfigError, ErrorCode
from generate.events import RunStarted, SketchCompleted, SketchFailed
from generate.redact import redact, redact_value
from generate.types import default_output_root
from mcp_server import schemas
from mcp_server.errors import HINTS, ToolFailure, bad_input, config_failure
from mcp_server.resources import ResourceNotFound, file_uri, mime_type, run_files
from mcp_server.thumbnails import Thumbnail, make_thumbnails

__all__ = ["SketchTools", "ToolOutcome", "ToolFailure", "CANCEL_GRACE_S", "HINTS"]

log = logging.getLogger("sketchgen.mcp")

CANCEL_GRACE_S = 10.0  # how long a cancelled run gets to abort its calls and write its metadata

Progress = Callable[[float, float | None, str], Awaitable[None]]


@dataclass
class ToolOutcome:
    """A tool's answer: ``data`` validates against the tool's output model."""

    data: BaseModel
    thumbnails: list[Thumbnail] = field(default_factory=list)
    links: list[tuple[str, str]] = field(default_factory=list)  # (run_id, file name)
    error: schemas.ToolErrorOut | None = None

    @property
    def summary(self) -> str:
        d = self.data
        if isinstance(d, schemas.RunOut):
            return (
                f"run {d.run_id}: {d.status}, {d.succeeded} of {d.num_images} sketches on {d.model}, "
                f"${d.cost_usd:.3f}"
            )
        if isinstance(d, schemas.RunDetailOut):
            return f"run {d.run_id}: {d.status}, {d.succeeded} of {d.num_images} sketches, ${d.cost_usd:.3f}"
        if isinstance(d, schemas.EstimateOut):
            cost = "unknown" if d.run_usd is None else f"${d.run_usd:.4f}"
            return f"estimate: {d.num_images} sketches on {d.model}, {cost}"
        if isinstance(d, schemas.StylesOut):
            return f"{len(d.styles)} styles"
        if isinstance(d, schemas.ModelsOut):
            return f"{len(d.models)} models"
        if isinstance(d, schemas.RunListOut):
            return f"{len(d.runs)} runs"
        return type(d).__name__


def _sketch(run_id: str, rec: dict[str, Any]) -> schemas.SketchOut:
    var = rec.get("variation") or {}
    error = rec.get("error")
    status = rec.get("status") or "pending"
    name = rec.get("file")
    return schemas.SketchOut(
        index=rec["index"],
        status=status,
        file=name if status == "completed" else None,
        uri=file_uri(run_id, name) if name and status == "completed" else None,
        layout=var.get("layout"),
        exaggeration=var.get("exaggeration"),
        model=rec.get("model"),
        fallbacks=[str(f.get("model")) for f in rec.get("fallbacks") or [] if isinstance(f, dict)],
        error=schemas.ToolErrorOut(
            code=str(error.get("code", ErrorCode.INTERNAL)),
            message=redact(str(error.get("message", ""))),
            retryable=bool(error.get("retryable", False)),
        )
        if error
        else None,
        attempts=int(rec.get("attempts") or 0),
        latency_s=rec.get("latency_s"),
        cost_usd=float(rec.get("cost_usd") or 0.0),
    )


def _run_error(sketches: list[schemas.SketchOut]) -> schemas.ToolErrorOut | None:
    """The tool error of a run where no sketch was made: its most common per-sketch failure."""
    errors = [s.error for s in sketches if s.error is not None]
    if any(s.status == "completed" for s in sketches) or not errors:
        return None
    code, _ = Counter(e.code for e in errors).most_common(1)[0]
    first = next(e for e in errors if e.code == code)
    failure = ToolFailure(
        code,
        f"no sketch was made: {len(errors)} failed with {code}: {first.message}",
        retryable=first.retryable,
    )
    return failure.error


def _used_model(meta: dict[str, Any]) -> str | None:
    """The model a recorded run used (``model.used``), else the one it asked for."""
    model = meta.get("model")
    if isinstance(model, dict):
        return model.get("used") or model.get("requested")
    return model or (meta.get("config") or {}).get("model_name")


async def _prepare(validate: Callable[[Any], Any], request: Any):
    """``validate(request)`` in a worker thread. A call cancelled meanwhile cannot stop the thread,
    so the run it prepares has its adapter (an HTTP client) closed when it is done."""
    work = asyncio.ensure_future(asyncio.to_thread(validate, request))

    def close_unused(task: asyncio.Future) -> None:
        if not task.cancelled() and task.exception() is None:
            task.result().adapter.close()

    try:
        return await asyncio.shield(work)
    except asyncio.CancelledError:
        work.add_done_callback(close_unused)
        raise


class SketchTools:
    """The tools over one output folder. One instance serves every session of a server."""

    def __init__(self, output_dir: Path | str | None = None, pipeline: Any = None) -> None:
        self._output_dir = Path(output_dir) if output_dir is not None else None
        self._pipeline = pipeline
        self._pipeline_lock = asyncio.Lock()

    @property
    def root(self) -> Path:
        return self._output_dir if self._output_dir is not None else default_output_root()

    async def pipeline(self):
        async with self._pipeline_lock:
            if self._pipeline is None:
                from generate.pipeline import SketchPipeline

                # Builds the style registry and the retriever (reads files): off the event loop.
                self._pipeline = await asyncio.to_thread(SketchPipeline, output_dir=self._output_dir)
        return self._pipeline

    # -- dispatch ---------------------------------------------------------------------------------
    async def call(self, name: str, arguments: dict[str, Any] | None, progress: Progress | None = None):
        """Run tool ``name``; ToolFailure for anything the agent should be told as a tool error."""
        spec = schemas.tool_spec(name)
        if spec is None:
            raise ToolFailure(ErrorCode.INVALID_REQUEST, f"no tool named {name!r}")
        try:
            args = spec.input.model_validate(arguments or {})
        except ValidationError as exc:
            raise bad_input(spec.input, exc) from None
        try:
            return await getattr(self, name)(args, progress)
        except ConfigError as exc:
            raise config_failure(exc) from None

    # -- runs -------------------------------------------------------------------------------------
    async def generate_sketches(self, args: schemas.GenerateSketchesInput, progress: Progress | None):
        pipeline = await self.pipeline()
        request = args.run_request()
        if args.max_cost_usd is not None:
            # Checked on our own dry-run estimate, so it holds whatever the library's config offers.
            estimate = await self._estimate(pipeline, request)
            if estimate.run_usd is None:
                raise ToolFailure(
                    schemas.OVER_BUDGET,
                    f"the cost of a run on {estimate.model} cannot be estimated, so max_cost_usd cannot be kept",
                    field="max_cost_usd",
                )
            if estimate.run_usd > args.max_cost_usd:
                raise ToolFailure(
                    schemas.OVER_BUDGET,
                    f"estimated ${estimate.run_usd:.4f} for {estimate.num_images} sketches on "
                    f"{estimate.model}, above max_cost_usd ${args.max_cost_usd:.4f}; nothing was called",
                    field="max_cost_usd",
                )
        prepared = await _prepare(pipeline.validate, request)
        return await self._run(lambda on_event: pipeline.arun(prepared, on_event=on_event), progress)

    async def refine_sketch(self, args: schemas.RefineSketchInput, progress: Progress | None):
        from generate.iterate import RefineRequest

        return await self._iterate(RefineRequest.parse(args.model_dump()), progress)

    async def vary_sketch(self, args: schemas.VarySketchInput, progress: Progress | None):
        from generate.iterate import VaryRequest

        return await self._iterate(VaryRequest.parse(args.model_dump()), progress)

    async def _iterate(self, request, progress: Progress | None):
        pipeline = await self.pipeline()
        try:
            prepared = await _prepare(pipeline.prepare_iteration, request)
        except KeyError as exc:  # an unknown run reaches here as ConfigError in most paths; be sure
            raise ToolFailure(schemas.NOT_FOUND, f"no run {request.run_id!r}", field="run_id") from exc
        return await self._run(lambda on_event: pipeline.arun(prepared, on_event=on_event), progress)

    async def _run(self, start: Callable[[Callable], Awaitable[Any]], progress: Progress | None):
        updates: asyncio.Queue = asyncio.Queue()
        settled = 0
        total = 0

        def on_event(event) -> None:  # called synchronously by the run; the sends are awaited below
            nonlocal settled, total
            if isinstance(event, RunStarted):
                total = event.num_images
                updates.put_nowait((0, total, f"started: {total} sketches on {event.model}"))
            elif isinstance(event, SketchCompleted | SketchFailed):
                settled += 1
                what = "completed" if isinstance(event, SketchCompleted) else f"failed ({event.code})"
                if isinstance(event, SketchFailed) and event.cost_usd > 0:
                    what += f", billed ${event.cost_usd:.4f}"
                updates.put_nowait((settled, total, f"sketch {event.index} {what}"))

        async def send_progress() -> None:
            while True:
                done, of, message = await updates.get()
                if progress is not None:
                    with contextlib.suppress(Exception):  # a client that stopped listening
                        await progress(done, of, redact(message))
                updates.task_done()

        sender = asyncio.create_task(send_progress(), name="sketchgen-mcp-progress")
        run = asyncio.ensure_future(start(on_event))
        try:
            # Shielded so that a cancelled call cancels the run *here*, where it can be given time
            # to abort its calls and record itself cancelled (anyio cancels every later await).
            result = await asyncio.shield(run)
            with anyio.move_on_after(5):
                await updates.join()
        except BaseException:
            run.cancel()
            with anyio.CancelScope(shield=True), anyio.move_on_after(CANCEL_GRACE_S):
                await asyncio.wait({run})
            raise
        finally:
            sender.cancel()
        return await asyncio.to_thread(self._run_outcome, result)

    def _run_outcome(self, result) -> ToolOutcome:
        run_id = result.run_id
        fields = ("index", "status", "file", "variation", "error", "attempts", "latency_s", "cost_usd")
        fields += ("model", "fallbacks")
        records = sorted(
            ({k: getattr(sk, k) for k in fields} for sk in result.sketches), key=lambda r: r["index"]
        )
        sketches = [_sketch(run_id, rec) for rec in records]
        thumbs = make_thumbnails([(sk.index, sk.path) for sk in result.sketches if sk.path is not None])
        sheet = getattr(result, "contact_sheet_path", None)
        data = schemas.RunOut(
            run_id=run_id,
            status=result.status,
            model=result.model,
            style_id=getattr(result.prompt_spec, "style_id", None),
            num_images=len(sketches),
            succeeded=sum(s.status == "completed" for s in sketches),
            failed=sum(s.status == "failed" for s in sketches),
            cancelled=sum(s.status == "cancelled" for s in sketches),
            cost_usd=result.cost_usd,
            wall_s=result.wall_s,
            sketches=sketches,
            metadata_uri=file_uri(run_id, "metadata.json"),
            contact_sheet_uri=file_uri(run_id, sheet.name) if sheet and sheet.is_file() else None,
            warnings=[redact(w) for w in result.warnings or []],
            parent=redact_value(result.parent),
            thumbnails=schemas.ThumbnailsOut(**thumbs.describe()),
        )
        data.error = _run_error(sketches)
        links = [(run_id, s.file) for s in sketches if s.file]
        links.append((run_id, "metadata.json"))
        if data.contact_sheet_uri:
            links.append((run_id, sheet.name))
        return ToolOutcome(data=data, thumbnails=thumbs.thumbnails, links=links, error=data.error)

    # -- estimates and catalogues -----------------------------------------------------------------
    async def _estimate(self, pipeline, request: dict[str, Any]) -> schemas.EstimateOut:
        def plan_run() -> dict[str, Any]:
            prepared = pipeline.validate(request, dry_run=True)
            try:
                return pipeline.dry_run(prepared)
            finally:  # a long-lived server must not keep an SDK client per estimate
                prepared.adapter.close()

        plan = await asyncio.to_thread(plan_run)
        rows = [schemas.CostRowOut(**row) for row in plan.get("estimated_cost", [])]
        mine = next((r for r in rows if r.model == plan["model"]), None)
        return schemas.EstimateOut(
            model=plan["model"],
            num_images=plan["num_images"],
            aspect_ratio=plan["aspect_ratio"],
            image_size=plan["image_size"],
            run_usd=mine.run_usd if mine else None,
            per_image_usd=mine.per_image_usd if mine else None,
            estimates=rows,
            warnings=[redact(w) for w in plan.get("warnings", [])],
        )

    async def estimate_cost(self, args: schemas.EstimateCostInput, progress: Progress | None):
        pipeline = await self.pipeline()
        return ToolOutcome(data=await self._estimate(pipeline, args.run_request()))

    async def list_styles(self, args: schemas.ListStylesInput, progress: Progress | None):
        pipeline = await self.pipeline()
        styles = await asyncio.to_thread(pipeline.registry.list_styles)
        return ToolOutcome(
            data=schemas.StylesOut(
                styles=[
                    schemas.StyleOut(
                        id=s.id,
                        name=s.name,
                        description=s.description,
                        aspect_ratio=s.aspect_ratio,
                        num_images=s.num_images,
                        visual_rules=list(s.visual_rules),
                    )
                    for s in styles
                ]
            )
        )

    async def list_models(self, args: schemas.ListModelsInput, progress: Progress | None):
        from generate.models import list_models

        models = await asyncio.to_thread(list_models)
        return ToolOutcome(
            data=schemas.ModelsOut(models=[schemas.ModelOut(**redact_value(m)) for m in models])
        )

    # -- past runs --------------------------------------------------------------------------------
    async def get_run(self, args: schemas.GetRunInput, progress: Progress | None):
        return await asyncio.to_thread(self._get_run, args)

    def _get_run(self, args: schemas.GetRunInput) -> ToolOutcome:
        from generate.runs import load_run, run_children

        root = self.root
        try:
            meta = load_run(args.run_id, root)
            files = run_files(args.run_id, root)
        except (KeyError, ResourceNotFound):
            raise ToolFailure(schemas.NOT_FOUND, f"no run {args.run_id!r}", field="run_id") from None
        run_id = args.run_id
        sketches = [_sketch(run_id, rec) for rec in meta.get("sketches", []) if "index" in rec]
        totals = meta.get("totals") or {}
        config = meta.get("config") or {}
        data = schemas.RunDetailOut(
            run_id=run_id,
            status=meta.get("status"),
            timestamp=meta.get("timestamp"),
            brief=(meta.get("prompt_spec") or {}).get("brief"),
            style_id=meta.get("style_id"),
            model=_used_model(meta),
            num_images=config.get("num_images"),
            succeeded=totals.get("succeeded", 0),
            failed=totals.get("failed", 0),
            cancelled=totals.get("cancelled", 0),
            cost_usd=totals.get("cost_usd", 0.0),
            sketches=sketches,
            files=[
                schemas.RunFileOut(
                    name=p.name,
                    uri=file_uri(run_id, p.name),
                    size=p.stat().st_size,
                    mime_type=mime_type(p.name),
                )
                for p in files
            ],
            parent=redact_value(meta.get("parent")),
            children=redact_value(run_children(run_id, root)),
        )
        thumbs = []
        if args.thumbnails:
            folder = files[0].parent if files else None
            shown = make_thumbnails(
                [(s.index, folder / s.file) for s in sketches if s.file and folder is not None]
            )
            data.thumbnails = schemas.ThumbnailsOut(**shown.describe())
            thumbs = shown.thumbnails
        return ToolOutcome(data=data, thumbnails=thumbs, links=[(run_id, p.name) for p in files])

    async def list_runs(self, args: schemas.ListRunsInput, progress: Progress | None):
        from generate.runs import list_runs

        try:
            found = await asyncio.to_thread(
                list_runs,
                self.root,
                style=args.style_id,
                model=args.model,
                status=args.status,
                since=args.since,
                until=args.until,
                limit=args.limit + 1,  # one more tells whether there is a next page
                offset=args.offset,
            )
        except ValueError as exc:  # a date that is not one
            raise ToolFailure(ErrorCode.INVALID_REQUEST, str(exc)) from None
        more = len(found) > args.limit
        runs = [
            schemas.RunListItemOut(
                **{k: v for k, v in s.items() if k in schemas.RunListItemOut.model_fields and v is not None},
                metadata_uri=file_uri(s["run_id"], "metadata.json"),
            )
            for s in redact_value(found[: args.limit])
        ]
        return ToolOutcome(
            data=schemas.RunListOut(runs=runs, next_offset=args.offset + args.limit if more else None)
        )
