"""Running a prepared batch: one run per row, ``parallel`` at a time, under the batch's budget.

Every row goes through the same :class:`SketchPipeline` run as a single ``generate`` (its model
calls share the process-wide limiter with every other run in the process), and the manifest is
saved atomically when a row's run starts (its ``run_id``) and when it settles.

Running again (the same source, or ``resume=BATCH_ID``) looks at each row of the manifest:

* ``complete``: skipped;
* a ``run_id`` whose run is interrupted, failed, partial or cancelled: resumed into the same run
  folder (:mod:`generate.resume`), only its missing sketches are made;
* a ``run_id`` whose run did complete (the process stopped before the manifest said so): recorded;
* anything else (``pending``, ``skipped_budget``, a run folder that is gone): a new run.

Budget: with ``max_cost_usd``, a row is started only while the batch's recorded spend plus the
worst case of the rows in flight plus its own worst case stays within the cap; otherwise the batch
waits for rows in flight to settle, and once none are left and the row still does not fit, it and
every row after it are marked ``skipped_budget``. A failure of one row never stops the others.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from generate.batch import PlannedRow, PreparedBatch
from generate.errors import ConfigError
from generate.events import RunEvent, RunStarted
from generate.redact import redact
from generate.run_lock import RunLock, RunLockedError

__all__ = ["BatchResult", "BatchRowResult", "arun_prepared", "run_batch_api_step"]

log = logging.getLogger("sketchgen.batch")
EventCallback = Callable[[RunEvent], Any]


@dataclass
class BatchRowResult:
    row: int
    brief: str
    status: str
    run_id: str | None = None
    succeeded: int = 0
    failed: int = 0
    cost_usd: float = 0.0
    error: str | None = None


@dataclass
class BatchResult:
    """What a batch did: its rows as the manifest records them, and the totals."""

    batch_id: str
    status: str  # complete | partial | failed | cancelled
    manifest_path: Path
    rows: list[BatchRowResult] = field(default_factory=list)
    cost_usd: float = 0.0
    resumed: bool = False

    def to_dict(self) -> dict[str, Any]:
        return {
            "batch_id": self.batch_id,
            "status": self.status,
            "manifest_path": str(self.manifest_path),
            "cost_usd": self.cost_usd,
            "resumed": self.resumed,
            "rows": [r.__dict__.copy() for r in self.rows],
        }


def _batch_status(rows: list[dict[str, Any]]) -> str:
    states = {r["status"] for r in rows}
    if states <= {"complete"}:
        return "complete"
    if "cancelled" in states and not states & {"complete", "partial"}:
        return "cancelled"
    if states & {"complete", "partial"}:
        return "partial"
    return "failed"


def _result(batch: PreparedBatch) -> BatchResult:
    data = batch.manifest.data
    rows = [
        BatchRowResult(
            row=r["row"],
            brief=r.get("brief", ""),
            status=r["status"],
            run_id=r.get("run_id"),
            succeeded=r.get("succeeded", 0),
            failed=r.get("failed", 0),
            cost_usd=r.get("cost_usd", 0.0),
            error=r.get("error"),
        )
        for r in data["rows"]
    ]
    return BatchResult(
        batch_id=batch.batch_id,
        status=data.get("status", "failed"),
        manifest_path=batch.manifest.path,
        rows=rows,
        cost_usd=round(sum(r.cost_usd for r in rows), 6),
        resumed=batch.resumed,
    )


async def run_batch_api_step(batch: PreparedBatch, on_event: EventCallback | None, **options: Any):
    """Hand the rows to the Gemini Batch API path (``generate.batch_api``) and await the results.

    Contract: ``arun_batch_api(pipeline, prepared_runs, manifest=, save=, on_event=, **options)``
    returns one GenerationResult per prepared run; it owns the manifest's ``batch_api``. Its
    polling runs on a worker thread that cancelling this task (Ctrl-C) stops, asking
    ``options["on_interrupt"](job)`` whether to cancel the job upstream: a thread left polling
    would keep the process alive until the job ended.
    """
    try:
        from generate.batch_api import arun_batch_api
    except ModuleNotFoundError as exc:
        if exc.name != "generate.batch_api":
            raise
        raise ConfigError("the Gemini Batch API is not available in this build", field="batch_api") from None
    prepared = [row.prepared for row in batch.rows]
    # Each row's run id goes into the manifest as its run starts, as in the unary path.
    rows = _Dispatcher(batch, on_event, None)
    options.setdefault("events_for", lambda run: rows.events_for(batch.rows[run].number))
    return await arun_batch_api(
        batch.pipeline,
        prepared,
        manifest=batch.manifest,
        save=batch.manifest.save,
        on_event=on_event,
        max_cost_usd=batch.max_cost_usd,  # the whole job's worst case, before it is submitted
        **options,
    )


def _record_result(manifest, number: int, result) -> None:
    """A row's settled run, as the manifest keeps it (the unary and the Batch API paths alike)."""
    manifest.update_row(
        number,
        run_id=result.run_id,
        status=result.status,
        succeeded=sum(1 for s in result.sketches if s.status == "completed"),
        failed=sum(1 for s in result.sketches if s.status == "failed"),
        cost_usd=result.cost_usd,
    )


class _Dispatcher:
    def __init__(
        self, batch: PreparedBatch, on_event: EventCallback | None, gate: Callable[[], str | None] | None
    ) -> None:
        self.batch = batch
        self.gate = gate
        self.manifest = batch.manifest
        self.on_event = on_event
        self.root = batch.pipeline.output_dir
        self.in_flight = 0.0
        self.running = 0
        self.settled = asyncio.Condition()

    def spent(self) -> float:
        return sum(float(r.get("cost_usd") or 0.0) for r in self.manifest.data["rows"])

    def plan(self, row: PlannedRow) -> tuple[str, Any]:
        """("skip" | "resume" | "new", the prepared resume) for one row, from the manifest."""
        from generate.resume import RunNotFound, RunNotResumable, prepare_resume

        rec = self.manifest.row(row.number)
        if rec["status"] == "complete":
            return "skip", None
        if not rec.get("run_id"):
            return "new", None
        try:
            return "resume", prepare_resume(rec["run_id"], self.root)
        except RunNotFound:
            return "new", None
        except RunNotResumable as exc:
            if "has every sketch" in str(exc) or " is complete" in str(exc):
                # Every sketch is there (a run cancelled as its last answers were being written
                # still has them all): the row is complete, whatever the run's own status says.
                self.record_run(row.number, rec["run_id"], status="complete")
                return "skip", None
            raise

    def record_run(self, number: int, run_id: str, *, status: str | None = None) -> None:
        """The row's fields from the run's own metadata (the source of truth for cost)."""
        from generate.runs import load_run

        try:
            meta = load_run(run_id, self.root)
        except KeyError:
            return
        totals = meta.get("totals") or {}
        self.manifest.update_row(
            number,
            run_id=run_id,
            status=status or meta.get("status", "failed"),
            succeeded=totals.get("succeeded", 0),
            failed=totals.get("failed", 0),
            cost_usd=totals.get("cost_usd", 0.0),
        )

    def events_for(self, number: int) -> EventCallback:
        def on_event(ev: RunEvent) -> None:
            if isinstance(ev, RunStarted):
                self.manifest.update_row(number, run_id=ev.run_id, status="running", error=None)
            if self.on_event is not None:
                self.on_event(ev)

        return on_event

    async def run_row(self, row: PlannedRow, how: str, resume: Any, worst: float) -> None:
        from generate.resume import aresume

        try:
            if how == "resume":
                result = await aresume(resume, on_event=self.events_for(row.number))
            else:
                # One owner for the fair schedulers: the batch shares with an interactive run as a whole.
                row.prepared.config.schedule_group = f"batch:{self.batch.batch_id}"
                result = await self.batch.pipeline.arun(row.prepared, on_event=self.events_for(row.number))
            _record_result(self.manifest, row.number, result)
        except asyncio.CancelledError:
            rec = self.manifest.row(row.number)
            self.manifest.update_row(row.number, status="cancelled" if rec.get("run_id") else "pending")
            if rec.get("run_id"):  # what it spent before it stopped counts against the cap next time
                self.record_run(row.number, rec["run_id"], status="cancelled")
            raise
        except Exception as exc:  # one row's failure never takes the others down
            log.warning("batch row %d failed: %s", row.number, redact(str(exc)))
            self.manifest.update_row(row.number, status="failed", error=redact(str(exc)))
            rec = self.manifest.row(row.number)
            if rec.get("run_id"):
                self.record_run(row.number, rec["run_id"], status="failed")
        finally:
            if how == "resume":
                row.prepared.adapter.close()  # the resume used its own adapter
            async with self.settled:
                self.in_flight -= worst
                self.running -= 1
                self.settled.notify_all()

    async def fits(self, worst: float) -> bool:
        """Wait until a row of worst case ``worst`` fits under the cap; False if it never will."""
        cap = self.batch.max_cost_usd
        if cap is None:
            return True
        async with self.settled:
            while self.spent() + self.in_flight + worst > cap + 1e-9:
                if self.running == 0:
                    return False
                await self.settled.wait()
        return True

    async def run(self) -> None:
        slots = asyncio.Semaphore(self.batch.parallel)
        tasks: list[asyncio.Task] = []
        rows = list(self.batch.rows)
        try:
            for i, row in enumerate(rows):
                try:
                    how, resume = await asyncio.to_thread(self.plan, row)
                except ConfigError as exc:  # its run is being resumed elsewhere: this row only
                    self.manifest.update_row(row.number, status="failed", error=str(exc))
                    row.prepared.adapter.close()
                    continue
                if how == "skip":
                    row.prepared.adapter.close()
                    continue
                missing = len(resume.indexes) if resume is not None else row.prepared.config.num_images
                worst = row.worst_case_usd * missing / max(1, row.prepared.config.num_images)
                await slots.acquire()
                refused = await asyncio.to_thread(self.gate) if self.gate is not None else None
                if not refused and not await self.fits(worst):
                    refused = (
                        f"not started: up to ${worst:.4f} more would pass the batch's max_cost_usd "
                        f"${self.batch.max_cost_usd:.4f} (${self.spent():.4f} spent)"
                    )
                if refused:
                    slots.release()
                    if resume is not None:
                        resume.close()
                    for rest in rows[i:]:
                        if self.manifest.row(rest.number)["status"] != "complete":
                            self.manifest.update_row(rest.number, status="skipped_budget", error=refused)
                        rest.prepared.adapter.close()
                    break
                self.in_flight += worst
                self.running += 1
                task = asyncio.create_task(self.run_row(row, how, resume, worst))
                task.add_done_callback(lambda _t: slots.release())
                tasks.append(task)
            await asyncio.gather(*tasks)
        except BaseException:
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
            raise


async def arun_prepared(
    batch: PreparedBatch,
    *,
    on_event: EventCallback | None = None,
    batch_api: bool = False,
    gate: Callable[[], str | None] | None = None,
    batch_api_options: dict[str, Any] | None = None,
) -> BatchResult:
    """Run (or resume) a prepared batch to the end; cancelling the awaiting task cancels it (the
    runs in flight are recorded cancelled, and a later run of the batch resumes them).

    ``gate``: asked (on a worker thread) before each row starts; a message means stop here, every
    row not yet started is ``skipped_budget`` with that message (the service's daily budget).
    ``batch_api_options``: passed to ``generate.batch_api.arun_batch_api`` (``on_state``,
    ``on_interrupt``) when ``batch_api`` is set."""
    manifest = batch.manifest
    # One process at a time per batch: a second would start the same rows again.
    lock = RunLock(manifest.path.parent)
    try:
        lock.acquire()
    except RunLockedError:
        batch.close()
        raise ConfigError(
            f"batch {batch.batch_id} is running in another process; wait for it, or stop it first",
            field="resume",
        ) from None
    try:
        return await _run_locked(batch, on_event, batch_api, gate, batch_api_options)
    finally:
        lock.release()


async def _run_locked(
    batch: PreparedBatch, on_event, batch_api: bool, gate, batch_api_options: dict[str, Any] | None = None
) -> BatchResult:
    manifest = batch.manifest
    manifest.data["status"] = "running"
    manifest.save()
    try:
        if batch_api:
            results = await run_batch_api_step(batch, on_event, **(batch_api_options or {}))
            for row, result in zip(batch.rows, results or [], strict=False):
                _record_result(manifest, row.number, result)
            batch.close()
        else:
            await _Dispatcher(batch, on_event, gate).run()
    except BaseException as exc:
        stopped = isinstance(exc, (asyncio.CancelledError, KeyboardInterrupt))
        manifest.data["status"] = "cancelled" if stopped else "failed"
        manifest.save()
        batch.close()
        raise
    manifest.data["status"] = _batch_status(manifest.data["rows"])
    manifest.save()
    batch.closed = True  # every row's adapter was closed by its run
    return _result(batch)
