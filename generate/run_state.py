"""One run's state: per-sketch records, events, metadata.json, and the run's end.

Shared by every mode of :class:`generate.generator.ImageGenerator`: the modes differ only in how
they wait (threads or coroutines); what a sketch's success, failure, retry or cancellation *means*
is decided here, once. Methods are thread-safe (the sync mode calls them from worker threads).

A run holds its folder's :class:`generate.run_lock.RunLock` from its first metadata write until
its final one, so readers can tell a live ``running`` run from one whose process died. A resumed
run (:mod:`generate.resume`) is a RunState built from the recorded sketches (``records``) with one
more entry in ``resumes``; only the sketches it is given to make are attempted.
"""

from __future__ import annotations

import base64
import logging
import os
import random
import threading
import time
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any, TypeVar

from generate.adapter import ImageModelAdapter, ImageRequest, ModelImage, ModelPreview
from generate.errors import ErrorCode, ModelCallError
from generate.events import (
    RunCompleted,
    RunEvent,
    RunStarted,
    SketchCompleted,
    SketchFailed,
    SketchFallback,
    SketchPreview,
    SketchRetry,
    StageEvent,
)
from generate.fallback import ChainStep, falls_back
from generate.metadata import (
    assemble_metadata,
    history_record,
    status_counts,
    total_cost,
    variation_record,
)
from generate.postprocess import MIME_SUFFIX, process_image
from generate.redact import redact, redact_error, redact_value
from generate.run_catalog import note_written
from generate.run_lock import RunLock
from generate.runs import atomic_write_bytes, atomic_write_json
from generate.types import GenerationConfig, GenerationResult, SketchResult

E = TypeVar("E", bound=RunEvent)

__all__ = ["RunState"]

log = logging.getLogger("sketchgen.generate")
_TERMINAL = ("completed", "failed", "cancelled")


@dataclass
class RunState:
    run_id: str
    out_dir: Path
    started_at: datetime
    config: GenerationConfig
    adapter: ImageModelAdapter
    style: Any
    prompt_spec: Any
    retrieval: Any
    variations: list[Any]
    requests: list[ImageRequest]
    model_reason: str | None = None
    warnings: list[str] = field(default_factory=list)
    iteration: dict[str, Any] | None = None  # lineage of a refine / vary / edit run (see generate.iterate)
    records: list[dict[str, Any]] = field(default_factory=list)
    cancel_event: threading.Event = field(default_factory=threading.Event)
    abort_error: ModelCallError | None = None
    finishing: dict[int, Any] = field(default_factory=dict)
    status: str = "running"
    finished: RunCompleted | None = None
    contact_sheet: Path | None = None
    # Held for the run's life; a resume hands in the lock it took to check the run was not live.
    lock: RunLock | None = None
    # Each resume of this run: {at, sketches, model, previous_status, status, cost_usd}.
    resumes: list[dict[str, Any]] = field(default_factory=list)
    # The models tried in order per sketch (generate.fallback.plan_chain); default: just ``adapter``.
    chain: list[ChainStep] = field(default_factory=list)
    # Sheet mode (generate.sheet.SheetPlan): one call makes every sketch, one per cell of a grid.
    sheet_plan: Any = None

    def __post_init__(self) -> None:
        self._lock = threading.RLock()
        self._seq = 0
        self._t0 = time.perf_counter()
        self._sheet: Any = None  # the ContactSheet, built on first use (see prepare_contact_sheet)
        self._sheet_lock = threading.Lock()
        self._charged: dict[int, float] = {}  # billed to a sketch since its last retry entry
        self._rngs = [random.Random(f"{self.config.seed}:{i}") for i in range(len(self.requests))]
        if not self.chain:
            self.chain = [ChainStep(self.adapter, list(self.requests))]
        if self.lock is None:
            self.lock = RunLock(self.out_dir).acquire()
        if not self.records:  # a resumed run brings its recorded sketches; they stand as they are
            for var, req in zip(self.variations, self.requests, strict=True):
                self.records.append(
                    {
                        "index": req.index,
                        "file": None,
                        "status": "pending",
                        "variation": variation_record(var),
                        "prompt": req.prompt,
                        "references": [str(p) for p in req.reference_images],  # what the request asked for
                        "references_sent": None,  # what the call carried, once the model answered
                        "input_images": [str(p) for p in req.input_images],
                        "history": [history_record(turn) for turn in req.history],
                        "model": self.adapter.name,
                        "attempts": 0,
                        "retries": [],
                        "fallbacks": [],  # {model, error_code, message, attempts}: models left, and why
                        "cost_usd": 0.0,
                        "error": None,
                    }
                )
        self.write_metadata()

    # -- events ---------------------------------------------------------------------------------
    def stamp(self, event: E) -> E:
        """Give ``event`` the run's next ``seq`` as it is delivered.

        Numbered at delivery, not creation: a sketch's event is made on a worker thread, and two
        made together may reach the consumer in either order; ``seq`` must follow what it sees.
        """
        with self._lock:
            self._seq += 1
            event.seq = self._seq
        return event

    @property
    def model_name(self) -> str:
        return self.adapter.name

    def started_event(self) -> RunStarted:
        return RunStarted(
            run_id=self.run_id,
            seq=0,
            model=self.model_name,
            num_images=len(self.requests),
            style_id=self.style.id,
            output_dir=str(self.out_dir),
            model_reason=self.model_reason,
            seed=self.config.seed,
            warnings=list(self.warnings),
        )

    def stage_event(self, name: str, details: dict[str, Any]) -> StageEvent:
        return StageEvent(run_id=self.run_id, seq=0, name=name, details=details)

    def preview_event(self, index: int, preview: ModelPreview) -> SketchPreview:
        data = base64.b64encode(preview.data).decode("ascii")
        return SketchPreview(
            run_id=self.run_id,
            seq=0,
            index=index,
            sequence=preview.sequence,
            mime_type=preview.mime_type,
            data_b64=data,
        )

    # -- per-sketch transitions -------------------------------------------------------------------
    def mark_running(self, index: int, attempt: int) -> None:
        with self._lock:
            rec = self.records[index]
            rec["status"] = "running"
            rec["attempts"] = attempt

    def charge(self, index: int, error: ModelCallError) -> None:
        """Add what a failed attempt was billed (``error.cost_usd``) to sketch ``index``'s cost.

        Called once per failed call, where the generator catches it: a sketch's ``cost_usd`` is
        everything billed for it, every attempt of the run and of its resumes, so the run's totals,
        ``sketchgen spend`` and the daily budget count a billed failure too.
        """
        self.add_cost(index, error.cost_usd)

    def add_cost(self, index: int, usd: float) -> None:
        """Add ``usd`` billed to sketch ``index``'s ``cost_usd`` (a failed call, or a sheet cell's share)."""
        if usd <= 0:
            return
        with self._lock:
            rec = self.records[index]
            rec["cost_usd"] = round((rec.get("cost_usd") or 0.0) + usd, 6)
            self._charged[index] = round(self._charged.get(index, 0.0) + usd, 6)

    def retry_delay(self, index: int, error: ModelCallError, attempt: int) -> float | None:
        """Seconds to wait before the next attempt, or None to give up on this sketch."""
        if not error.retryable or attempt >= self.config.max_attempts or self.cancel_event.is_set():
            return None
        if self.abort_error is not None:
            return None
        if error.retry_after_s is not None:
            # The server said when; honour it (plus a little jitter so N sketches don't stampede).
            if error.retry_after_s > self.config.max_backoff_s:
                return None
            return error.retry_after_s + self._rngs[index].uniform(0, 0.1 * max(error.retry_after_s, 0.1))
        base = min(self.config.max_backoff_s, self.config.initial_backoff_s * 2 ** (attempt - 1))
        return base * self._rngs[index].uniform(0.5, 1.0)

    def retry_event(self, index: int, next_attempt: int, error: ModelCallError, delay: float) -> SketchRetry:
        redact_error(error)  # an adapter's text, on its way to events, metadata and the result
        with self._lock:
            self.records[index]["retries"].append(
                {
                    "attempt": next_attempt - 1,
                    "code": error.code,
                    "message": error.message,
                    "delay_s": round(delay, 3),
                    "cost_usd": self._charged.pop(index, 0.0),  # what this sketch was billed for it
                }
            )
            self.records[index]["status"] = "retrying"
        self.write_metadata()
        return SketchRetry(
            run_id=self.run_id,
            seq=0,
            index=index,
            attempt=next_attempt,
            max_attempts=self.config.max_attempts,
            reason=error.code,
            delay_s=round(delay, 3),
            message=error.message,
        )

    def complete(self, index: int, image: ModelImage, latency_s: float, attempts: int) -> SketchCompleted:
        """Post-process and write one sketch (CPU and disk: call from a worker thread in async code).

        Raises ModelCallError(bad_image) if the bytes do not decode; nothing is recorded then.
        """
        try:
            processed = process_image(
                image.data, resolution=self.config.resolution, enforce_grayscale=self.config.enforce_grayscale
            )
        except ModelCallError as err:  # the image was paid for even though it is unusable
            err.cost_usd += image.cost_usd
            raise
        name = f"sketch_{index}.png"
        # Atomic now; made durable once, when the run settles (finish()), off the per-sketch path.
        atomic_write_bytes(self.out_dir / name, processed.png, durable=False)
        model_turn = self._keep_model_turn(index, image)
        self._place_in_sheet(index, processed.preview)
        with self._lock:
            rec = self.records[index]
            cost = round((rec.get("cost_usd") or 0.0) + image.cost_usd, 6)  # + earlier billed attempts
            rec.update(
                status="completed",
                file=name,
                attempts=attempts,
                latency_s=round(latency_s, 3),
                elapsed_s=round(time.perf_counter() - self._t0, 3),
                model=image.model,
                model_version=image.model_version,
                response_id=image.response_id,
                finish_reason=image.finish_reason,
                usage=image.usage.to_dict(),
                cost_usd=cost,
                model_text=image.text,
                thought_signature=image.thought_signature,
                model_turn=model_turn,
                width=processed.width,
                height=processed.height,
                source={
                    "mime_type": processed.source_mime,
                    "wire_mime_type": image.mime_type,
                    "width": processed.source_width,
                    "height": processed.source_height,
                },
                quality=processed.quality,
                references_sent=image.references_sent,
                seed_sent=image.seed_sent,
                grounding=image.grounding,
                warnings=image.warnings + processed.warnings,
                extra={k: str(v) for k, v in image.extra.items()},
                error=None,
            )
            if image.prompt_sent is not None:  # the model read its own text(s), not ``prompt``
                rec["prompt_sent"] = dict(image.prompt_sent)
        self.write_metadata()
        return SketchCompleted(
            run_id=self.run_id,
            seq=0,
            index=index,
            file=name,
            path=str(self.out_dir / name),
            variation=dict(self.records[index]["variation"]),
            latency_s=round(latency_s, 3),
            cost_usd=cost,
            attempts=attempts,
            width=processed.width,
            height=processed.height,
            model=image.model,
            fallbacks=[dict(f) for f in self.records[index]["fallbacks"]],
        )

    def _keep_model_turn(self, index: int, image: ModelImage) -> dict[str, Any] | None:
        """Keep what a multi-turn refinement needs to send this sketch's model turn back.

        Only for a signed image from an adapter that can continue a conversation: the image bytes
        exactly as received (``sketch_N.model.<ext>``; the sketch file itself is post-processed)
        and every part's flags and signature as received (``image.model_parts``).
        """
        if not (self.adapter.capabilities.refinement and image.thought_signature and image.model_parts):
            return None
        source = f"sketch_{index}.model{MIME_SUFFIX.get(image.mime_type, '.png')}"
        atomic_write_bytes(self.out_dir / source, image.data, durable=False)
        parts = [dict(p) for p in image.model_parts]
        for part in parts:
            if part.get("chosen"):
                part["file"] = source
                part["sniffed_mime_type"] = image.mime_type
        return {"role": "model", "parts": parts, "source_file": source}

    def fail(self, index: int, error: ModelCallError, attempts: int) -> SketchFailed:
        redact_error(error)  # an adapter's text, on its way to events, metadata and the result
        with self._lock:
            if error.fatal_for_run and self.abort_error is None:
                self.abort_error = error
            rec = self.records[index]
            rec.update(
                status="failed", attempts=attempts, error=error.to_dict(), finish_reason=error.finish_reason
            )
            carried = getattr(error, "references_sent", None)  # set by adapters that know
            if carried is not None:
                rec["references_sent"] = carried
            cost = rec.get("cost_usd") or 0.0  # every billed attempt, charged as each failed
        self.write_metadata()
        return SketchFailed(
            run_id=self.run_id,
            seq=0,
            index=index,
            code=error.code,
            message=error.message,
            retryable=error.retryable,
            attempts=attempts,
            finish_reason=error.finish_reason,
            variation=dict(self.records[index]["variation"]),
            model=self.records[index]["model"],
            fallbacks=[dict(f) for f in self.records[index]["fallbacks"]],
            cost_usd=cost,
        )

    def fall_back(
        self, index: int, position: int, error: ModelCallError, attempts: int
    ) -> tuple[int, SketchFallback] | None:
        """After sketch ``index`` failed with ``error`` on ``chain[position]``: the position of the
        next model to try and the ``sketch.fallback`` event saying so, or None (the sketch fails).

        Only capacity errors fall back (:func:`generate.fallback.falls_back`); a run-fatal one
        (a spent daily quota) puts that model out of this run for every sketch. Later models that
        cannot take this run's request are passed over, each recorded with its reason.
        """
        if not falls_back(error) or self.cancel_event.is_set() or self.abort_error is not None:
            return None
        redact_error(error)
        step = self.chain[position]
        with self._lock:
            if error.fatal_for_run and step.abort_error is None:
                step.abort_error = error
            left = [
                {
                    "model": step.adapter.name,
                    "error_code": error.code,
                    "message": error.message,
                    "attempts": attempts,
                }
            ]
            for nxt in range(position + 1, len(self.chain)):
                candidate = self.chain[nxt]
                if candidate.skip_reason is None:
                    break
                left.append(
                    {
                        "model": candidate.adapter.name,
                        "error_code": "skipped",
                        "message": candidate.skip_reason,
                        "attempts": 0,
                    }
                )
            else:
                return None
            rec = self.records[index]
            rec["fallbacks"].extend(left)
            rec.update(status="retrying", model=candidate.adapter.name)
        self.write_metadata()
        event = SketchFallback(
            run_id=self.run_id,
            seq=0,  # numbered when delivered (stamp)
            index=index,
            from_model=step.adapter.name,
            to_model=candidate.adapter.name,
            reason=error.code,
            message=error.message,
        )
        return nxt, event

    def annotate(self, index: int, **fields: Any) -> None:
        """Set fields of a sketch's record before it settles (sheet mode: its cell and cost share)."""
        with self._lock:
            self.records[index].update(fields)

    def skipped_error(self, step: ChainStep | None = None) -> ModelCallError:
        """The error for a sketch not attempted because an earlier one proved the run (or, with
        ``step``, that model of its chain) cannot work."""
        err = step.abort_error if step is not None else self.abort_error
        assert err is not None
        message = err.message if err.message.startswith("not attempted") else f"not attempted: {err.message}"
        return ModelCallError(
            err.code,
            message,
            retryable=False,
            http_status=err.http_status,
            fatal_for_run=step is not None and err.fatal_for_run,
        )

    @staticmethod
    def internal_error(exc: BaseException) -> ModelCallError:
        """The record of a bug: its text (which may quote anything, a key included) is redacted;
        the logged traceback is redacted by the filter on sketchgen's loggers."""
        log.error("unexpected error in a sketch", exc_info=exc)
        return ModelCallError(
            ErrorCode.INTERNAL, redact(f"unexpected {type(exc).__name__}: {exc}"), retryable=False
        )

    # -- the run's end ----------------------------------------------------------------------------
    def cancel_unfinished(self) -> int:
        """Mark every sketch that has not settled as cancelled; returns how many."""
        n = 0
        with self._lock:
            for rec in self.records:
                if rec["status"] not in _TERMINAL:
                    rec["status"] = "cancelled"
                    rec["error"] = {
                        "code": ErrorCode.CANCELLED,
                        "message": "the run was stopped",
                        "retryable": True,
                    }
                    n += 1
        return n

    def counts(self) -> dict[str, int]:
        with self._lock:
            return status_counts(self.records)

    def finish(self, *, cancelled: bool = False) -> RunCompleted:
        """Settle the run: status, contact sheet, final metadata. Idempotent."""
        with self._lock:
            if self.finished is not None:
                return self.finished
            if self.cancel_unfinished():
                cancelled = True
            c = self.counts()
            if cancelled:
                self.status = "cancelled"
            elif c["completed"] == len(self.records):
                self.status = "complete"
            elif c["completed"]:
                self.status = "partial"
            else:
                self.status = "failed"
        self._write_contact_sheet()
        # A finished run is made durable; a cancelled one is not: its consumer is leaving, and an
        # fsync under heavy disk load can stall for seconds. Every file is atomic either way.
        durable = not cancelled
        if durable:
            self._sync_files()
        if self.resumes:
            self.resumes[-1].update(status=self.status, cost_usd=self._resume_cost())
        try:
            self.write_metadata(durable=durable)
        finally:
            self.lock.release()  # settled: readers now trust the status on disk
        self.finished = RunCompleted(
            run_id=self.run_id,
            seq=0,
            status=self.status,
            succeeded=c["completed"],
            failed=c["failed"],
            cancelled=c["cancelled"],
            cost_usd=self.total_cost(),
            wall_s=round(time.perf_counter() - self._t0, 3),
            metadata_path=str(self.out_dir / "metadata.json"),
            output_dir=str(self.out_dir),
            model=self.model_name,
        )
        return self.finished

    def _sync_files(self) -> None:
        """fsync the run's sketches and contact sheet, so the settled metadata never names a file a power cut lost."""
        names = [rec["file"] for rec in self.records if rec["file"]]
        names += [rec["model_turn"]["source_file"] for rec in self.records if rec.get("model_turn")]
        if self.contact_sheet is not None:
            names.append(self.contact_sheet.name)
        for name in names:
            try:
                fd = os.open(self.out_dir / name, os.O_RDONLY)
            except OSError:
                continue
            try:
                os.fsync(fd)
            finally:
                os.close(fd)

    # -- the contact sheet, built as the run goes ------------------------------------------------------
    def prepare_contact_sheet(self) -> None:
        """Draw the sheet's title and captions now (the generators call this while the model calls
        are in flight, so the work is off every sketch's path). Never raises."""
        try:
            self._contact_sheet()
        except Exception as exc:
            log.warning("contact sheet not prepared: %s", exc)

    def _contact_sheet(self):
        from generate.contact_sheet import ContactSheet

        with self._sheet_lock:
            if self._sheet is None:
                labels = [
                    (
                        rec["index"],
                        f"{rec['variation'].get('layout', '')} / {rec['variation'].get('exaggeration', '')}",
                    )
                    for rec in self.records
                ]
                self._sheet = ContactSheet(
                    labels, title=f"{self.prompt_spec.brief} | {self.style.id} | {self.model_name}"
                )
            return self._sheet

    def _place_in_sheet(self, index: int, preview: Any) -> None:
        if preview is None:
            return
        try:
            self._contact_sheet().place(index, preview)
        except Exception as exc:  # the sheet must never cost a sketch; the slot is marked at the end
            log.warning("sketch %d not placed on the contact sheet: %s", index, exc)

    def _write_contact_sheet(self) -> None:
        try:
            sheet = self._contact_sheet()
            for rec in self.records:
                if rec["index"] not in sheet.filled:  # failures, and any sketch placing missed
                    sheet.settle(
                        rec["index"],
                        rec["status"],
                        path=self.out_dir / rec["file"] if rec["file"] else None,
                        message=(rec.get("error") or {}).get("message"),
                    )
            self.contact_sheet = sheet.save(self.out_dir / "contact_sheet.png")
        except Exception as exc:  # a contact sheet must never cost the run its sketches
            log.warning("contact sheet not written: %s", exc)
            self.warnings.append(f"contact sheet not written: {exc}")

    def _resume_cost(self) -> float:
        """What this resume was billed: its sketches' cost beyond what they had cost before it."""
        with self._lock:
            indexes = set(self.resumes[-1].get("sketches", []))
            spent = [r for r in self.records if r["index"] in indexes]
            return round(total_cost(spent) - sum(r.get("prior_cost_usd") or 0.0 for r in spent), 6)

    def _dated_resumes(self) -> list[dict[str, Any]]:
        """The ``resumes`` list as it stands; this resume's ``cost_usd`` kept current at every write,
        so spend dated by billing (:func:`generate.spend.billed_days`) counts a resume that was
        interrupted, or is still running, on its own day."""
        resumes = [dict(r) for r in self.resumes]
        if resumes:
            resumes[-1]["cost_usd"] = self._resume_cost()
        return resumes

    def total_cost(self) -> float:
        with self._lock:
            return total_cost(self.records)

    def metadata(self) -> dict[str, Any]:
        """The whole metadata.json document for the run as it stands now."""
        with self._lock:
            records = [dict(r) for r in self.records]
        doc = assemble_metadata(
            run_id=self.run_id,
            started_at=self.started_at,
            status=self.status,
            style=self.style,
            prompt_spec=self.prompt_spec,
            retrieval=self.retrieval,
            requests=self.requests,
            config=self.config,
            model_name=self.model_name,
            model_reason=self.model_reason,
            records=records,
            contact_sheet=self.contact_sheet,
            warnings=self.warnings,
            wall_s=time.perf_counter() - self._t0,
            iteration=self.iteration,
            resumes=self._dated_resumes(),
            deterministic=self.adapter.capabilities.deterministic,
        )
        if len(self.chain) > 1:  # a fallback chain: which models, and which are out of this run
            doc["model"]["chain"] = [{"model": s.adapter.name, "skipped": s.skip_reason} for s in self.chain]
        return doc

    def write_metadata(self, *, durable: bool = False) -> None:
        """Rewrite metadata.json atomically; ``durable`` also fsyncs (only the settled record asks)."""
        with self._lock:  # one writer at a time: the file on disk is always the latest whole state
            atomic_write_json(self.out_dir / "metadata.json", self.metadata(), durable=durable)
        note_written(self.out_dir)

    def result(self) -> GenerationResult:
        with self._lock:  # redacted like metadata.json: model text or a warning may quote anything
            records = [redact_value(dict(r)) for r in self.records]
        sketches = [
            SketchResult(
                index=r["index"],
                status=r["status"],
                path=self.out_dir / r["file"] if r["file"] else None,
                file=r["file"],
                variation=r["variation"],
                error=r["error"],
                attempts=r["attempts"],
                latency_s=r.get("latency_s"),
                cost_usd=r.get("cost_usd") or 0.0,
                record=r,
                model=r.get("model"),
                fallbacks=list(r.get("fallbacks") or []),
            )
            for r in records
        ]
        return GenerationResult(
            run_id=self.run_id,
            status=self.status,
            images=[s.path for s in sketches if s.path is not None],
            sketches=sketches,
            metadata_path=self.out_dir / "metadata.json",
            output_dir=self.out_dir,
            timestamp=self.started_at.isoformat(timespec="seconds"),
            model=self.model_name,
            cost_usd=self.total_cost(),
            wall_s=self.finished.wall_s if self.finished else round(time.perf_counter() - self._t0, 3),
            image_errors={s.index: s.error for s in sketches if s.error},
            prompt_spec=self.prompt_spec,
            reference_images=sorted({p for req in self.requests for p in req.reference_images}),
            config=self.config,
            contact_sheet_path=self.contact_sheet,
            warnings=[redact(w) for w in self.warnings],
            parent=redact_value((self.iteration or {}).get("parent")),
            iteration=redact_value({k: v for k, v in self.iteration.items() if k != "parent"})
            if self.iteration
            else None,
        )
