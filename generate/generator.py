"""ImageGenerator: N sketches from one prompt spec, in sync, gather or streaming mode.

All three modes share one per-sketch lifecycle (attempt, classify, retry or settle) and one
:class:`generate.run_state.RunState`; they differ only in how they wait:

* :meth:`ImageGenerator.generate` — worker threads (``ThreadPoolExecutor``) and the adapter's
  blocking ``generate``; events are delivered to ``on_event`` on the calling thread.
* :meth:`ImageGenerator.generate_async` — one task per sketch under ``asyncio.gather``.
* :meth:`ImageGenerator.astream_events` — one task per sketch; events are yielded as they happen
  (each sketch as soon as its file is written). :meth:`generate_streaming_async` yields just the
  per-sketch outcomes, which unpack as ``(index, image_path, error)``.

In sheet mode (``config.sheet``) one call makes every sketch: :mod:`generate.sheet` runs it and
settles one sketch per cell through the same RunState.

A failed sketch stays at its own index with a typed error; the others go on. Model calls are
capped by a process-wide limiter per adapter, shared fairly among the runs in flight (a run whose
calls hang does not hold the others back: see :mod:`generate.limiter`). When the consumer stops listening (the task is
cancelled, the async iterator is closed, Ctrl-C), pending calls are cancelled, sketches already
written stay, and the run is recorded as ``cancelled``.
"""

from __future__ import annotations

import asyncio
import functools
import logging
import queue
import time
from collections.abc import AsyncIterator, Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace
from pathlib import Path
from typing import Any

from generate.adapter import ImageModelAdapter, ImageRequest, ModelImage, ModelPreview, get_adapter
from generate.budget import check_cost, worst_case_cost
from generate.errors import ConfigError, ErrorCode, ModelCallError
from generate.events import RunEvent, SketchCompleted, SketchFailed, SketchOutcome
from generate.fallback import ChainStep, plan_chain
from generate.limiter import shared_limiter
from generate.quota import check_rate_limits, model_gate
from generate.redact import redact_exception, redacts_exceptions
from generate.run_state import RunState
from generate.runs import create_run_dir, note_child
from generate.sheet import Pace, plan_sheet, run_sheet_async, run_sheet_sync
from generate.types import MAX_IMAGES, GenerationConfig, GenerationResult
from prompt.compiler import prompt_parts
from prompt.variation import plan_variations

__all__ = ["ImageGenerator"]

log = logging.getLogger("sketchgen.generate")
EventCallback = Callable[[RunEvent], Any]
SHEET_PREPARE_DELAY_S = 0.05
# Settling a run (contact sheet, fsync, final metadata) has its own few threads. On the default
# executor it queued behind every image conversion of every other run (FIFO), so under load every
# run finished together at the end; here a run settles as soon as its own sketches are written.
_SETTLE_POOL = ThreadPoolExecutor(max_workers=4, thread_name_prefix="sketchgen-settle")


async def _settle(state: RunState, *, cancelled: bool = False) -> Any:
    return await asyncio.get_running_loop().run_in_executor(
        _SETTLE_POOL, functools.partial(state.finish, cancelled=cancelled)
    )


class ImageGenerator:
    """Drives an image model adapter for one run at a time (an instance may be reused).

    ``adapter``: an adapter instance to use for every run; by default each run builds the adapter
    named by ``config.model_name`` (and closes it afterwards).
    """

    def __init__(self, adapter: ImageModelAdapter | None = None, **adapter_options: Any) -> None:
        self._adapter = adapter
        self._adapter_options = adapter_options
        self.last_result: GenerationResult | None = None

    # -- preparation (shared, no model calls) -------------------------------------------------------
    def _prepare(
        self,
        prompt_spec,
        retrieval_result,
        style,
        config: GenerationConfig | None,
        plan=None,
        extra_warnings=(),
    ) -> RunState:
        config = config or GenerationConfig()
        if style is None or prompt_spec is None:
            raise ConfigError(
                "prompt_spec and style are required", field="style_id" if style is None else "brief"
            )
        if prompt_spec.style_id != style.id:
            raise ConfigError(
                f"prompt_spec was compiled for style {prompt_spec.style_id!r}, not {style.id!r}",
                field="style_id",
            )
        check_rate_limits()
        adapter = self._adapter or get_adapter(config.model_name, **self._adapter_options)
        aspect = config.aspect_ratio or style.aspect_ratio
        hits = list(retrieval_result.hits) if retrieval_result is not None else []
        warnings = adapter.check_request(
            aspect_ratio=aspect, image_size=config.image_size, num_references=len(hits)
        )
        refs = tuple(Path(h.path) for h in hits[: adapter.capabilities.max_reference_images])
        if plan is not None and plan.references is not None:
            refs = tuple(plan.references[: adapter.capabilities.max_reference_images])
        inputs = tuple(plan.input_images) if plan is not None else ()
        if adapter.capabilities.requires_reference and not refs and not inputs:
            dirs = ", ".join(str(d) for d in style.reference_dirs) or "(the style lists no reference_dirs)"
            raise ConfigError(
                f"model {adapter.name!r} draws over reference images, and none were found for style {style.id!r}: "
                f"add images to {dirs} or run `sketchgen index DIR --style {style.id}`",
                field="model",
            )
        warnings += adapter.check_options(**config.request_options())
        # An adapter may report its lifecycle warnings from check_request too: each is said once.
        warnings = list(dict.fromkeys([*warnings, *getattr(adapter, "lifecycle_warnings", [])]))
        warnings += list(extra_warnings)
        if config.sheet is not None and plan is not None:
            raise ConfigError(
                "sheet mode makes a first run only; a refine, vary or edit run makes one sketch per call",
                field="sheet",
            )
        if plan is not None and plan.variations is not None:
            variations = list(plan.variations)
        else:
            most = config.num_images if config.sheet else MAX_IMAGES
            variations = plan_variations(prompt_spec, config.num_images, config.seed, style=style, most=most)
        if plan is not None:
            warnings += plan.warnings
            note = plan.details.get("prompt_note")
            if note:
                variations = [v.model_copy(update={"prompt": f"{v.prompt}\n\n{note}"}) for v in variations]
        # A history only goes to an adapter that can continue a conversation (the plan checked).
        history = tuple(plan.history) if plan is not None and adapter.capabilities.refinement else ()
        instruction = ((plan.parent or {}).get("instruction") or "") if plan is not None else ""
        parts = prompt_parts(prompt_spec, style.name, instruction=instruction)
        requests = [
            ImageRequest(
                index=v.index,
                prompt=v.prompt,
                aspect_ratio=aspect,
                image_size=config.image_size,
                layout=v.layout,
                exaggeration=v.exaggeration,
                reference_images=refs,
                timeout_s=config.timeout_s,
                input_images=inputs,
                history=history,
                prompt_parts=parts,
                **config.request_options(),
            )
            for v in variations
        ]
        sheet_plan = None
        try:
            if config.sheet is not None:
                sheet_plan, requests, more = plan_sheet(
                    adapter, config, prompt_spec.prompt_text, variations, requests
                )
                warnings += more
            if config.max_cost_usd is not None:  # refused before the run folder or any call exists
                check_cost(
                    # A sheet is one call, whatever its cell count.
                    worst_case_cost(adapter, [sheet_plan.request] if sheet_plan else requests),
                    config.max_cost_usd,
                    what=f"this {config.sheet} sheet of {len(requests)} sketches (one call)"
                    if sheet_plan
                    else f"this run of {len(requests)} sketches",
                    model=adapter.name,
                )
        except ConfigError:
            if self._adapter is None:  # built here for this run: nobody else will close it
                adapter.close()
            raise
        chain = plan_chain(adapter, requests, config.request_options())
        for step in chain[1:]:
            warnings += list(step.warnings)
            if step.skip_reason:
                warnings.append(
                    f"fallback {step.adapter.name} is out of this run's chain: {step.skip_reason}"
                )
        for w in warnings:
            log.warning("%s", w)
        run_id, out_dir, started_at = create_run_dir(config.output_root)
        parent = (plan.lineage().get("parent") or {}) if plan is not None else {}
        if parent.get("run_id"):
            note_child(parent["run_id"], run_id, config.output_root)
        return RunState(
            run_id=run_id,
            out_dir=out_dir,
            started_at=started_at,
            config=config,
            adapter=adapter,
            style=style,
            prompt_spec=prompt_spec,
            retrieval=retrieval_result,
            variations=variations,
            requests=requests,
            model_reason=getattr(adapter, "selection_reason", None),
            warnings=warnings,
            iteration=plan.lineage() if plan is not None else None,
            chain=chain,
            sheet_plan=sheet_plan,
        )

    def _limiter(self, state: RunState, step: ChainStep | None = None):
        adapter = step.adapter if step is not None else state.adapter
        capacity, own = state.config.max_concurrency, adapter.capabilities.max_concurrent_calls
        return shared_limiter(adapter.name, min(capacity, own) if own else capacity)

    @staticmethod
    def _gate(step: ChainStep):
        adapter = step.adapter
        return model_gate(adapter.name, names=(getattr(adapter, "requested_name", adapter.name),))

    @staticmethod
    def _settle_error(gate, error: ModelCallError) -> None:
        """A model's own answer that its daily quota (or credit) is spent stops that model for
        every run of the process (:mod:`generate.quota`)."""
        if error.code == ErrorCode.QUOTA_EXHAUSTED:
            gate.exhaust(error)

    def _release_adapter(self, state: RunState) -> None:
        if self._adapter is None:
            state.adapter.close()

    async def _arelease_adapter(self, state: RunState) -> None:
        if self._adapter is None:
            await state.adapter.aclose()

    # -- sync ---------------------------------------------------------------------------------------
    @redacts_exceptions
    def generate(
        self,
        *,
        prompt_spec,
        retrieval_result=None,
        style,
        config: GenerationConfig | None = None,
        on_event: EventCallback | None = None,
        plan=None,
    ) -> GenerationResult:
        """Make the sketches with worker threads; blocks until every sketch has settled.

        ``plan`` (a :class:`generate.iterate.IterationPlan`) makes a refine / vary / edit run.

        On Ctrl-C (or an exception from ``on_event``) no new call starts, calls already in flight
        finish and are kept (they are paid for), the run is recorded ``cancelled``, and the
        exception propagates.
        """
        state = self._prepare(prompt_spec, retrieval_result, style, config, plan)
        events: queue.Queue[RunEvent] = queue.Queue()
        callback = on_event or (lambda ev: None)

        def deliver(ev: RunEvent) -> None:
            callback(state.stamp(ev))

        try:
            deliver(state.started_event())
            n = len(state.requests)
            with ThreadPoolExecutor(max_workers=n, thread_name_prefix="sketchgen") as pool:
                if state.sheet_plan is not None:  # one call makes every sketch
                    pool.submit(run_sheet_sync, state, self._sheet_pace(state), events.put)
                else:
                    for i in range(n):
                        pool.submit(self._sketch_sync, state, i, events.put)
                try:
                    remaining = n
                    while remaining:
                        try:
                            ev = events.get(timeout=SHEET_PREPARE_DELAY_S)
                        except queue.Empty:
                            state.prepare_contact_sheet()  # idle: the calls are in flight (drawn once)
                            continue
                        if isinstance(ev, (SketchCompleted, SketchFailed)):
                            remaining -= 1
                        deliver(ev)
                except BaseException:
                    state.cancel_event.set()
                    raise
            deliver(state.finish())
        except BaseException:
            state.cancel_event.set()
            state.finish(cancelled=True)
            raise
        finally:
            self.last_result = state.result()
            self._release_adapter(state)
        return self.last_result

    def _sketch_sync(self, state: RunState, index: int, emit: Callable[[RunEvent], None]) -> None:
        try:
            outcome = self._sketch_sync_inner(state, index, emit)
        except Exception as exc:  # keep a bug at its own index
            outcome = state.fail(index, state.internal_error(exc), state.records[index]["attempts"])
        if outcome is not None:
            emit(outcome)

    def _sketch_sync_inner(self, state, index, emit) -> SketchOutcome | None:
        """The sketch on each model of the run's chain in turn, while its calls fail for capacity."""
        position: int | None = 0
        while True:
            settled = self._on_model_sync(state, index, state.chain[position], emit)
            outcome, position = _after_model(state, index, position, settled, emit)
            if position is None:
                return outcome

    def _on_model_sync(self, state, index, step: ChainStep, emit):
        """Attempts on one model: the outcome, None (cancelled), or (last error, attempts)."""
        limiter, gate = self._limiter(state, step), self._gate(step)
        owner = state.config.schedule_group or state.run_id  # who the fair schedulers count
        attempt = 0
        while True:
            attempt += 1
            if state.cancel_event.is_set():
                return None
            if state.abort_error is not None:
                return state.fail(index, state.skipped_error(), attempt - 1)
            if step.abort_error is not None:
                return state.skipped_error(step), attempt - 1
            try:  # the model's pace and daily quota, process-wide, before a connection slot
                if not gate.acquire(cancel=state.cancel_event, owner=owner):
                    return None
            except ModelCallError as err:
                return err, attempt - 1
            if not limiter.acquire(cancel=state.cancel_event, owner=owner):
                return None
            try:
                if state.abort_error is not None:  # decided while we queued for the slot
                    return state.fail(index, state.skipped_error(), attempt - 1)
                spent = gate.exhausted_error()  # another sketch found the quota spent meanwhile
                if spent is not None:
                    return spent, attempt - 1
                state.mark_running(index, attempt)
                started = time.perf_counter()
                request = replace(step.requests[index], attempt=attempt)
                try:
                    image = step.adapter.generate(request)
                    return state.complete(index, image, time.perf_counter() - started, attempt)
                except ModelCallError as err:
                    error = err
                    state.charge(index, error)  # a billed failure is the sketch's cost too
                    self._settle_error(gate, error)  # before the slot goes to the next caller
            finally:
                limiter.release(owner=owner)
            delay = state.retry_delay(index, error, attempt)
            if delay is None:
                return error, attempt
            emit(state.retry_event(index, attempt + 1, error, delay))
            if gate.wait_unless_spent(delay, cancel=state.cancel_event):
                return None

    # -- async: one lifecycle, two ways of waiting -----------------------------------------------
    async def _sketch_async(self, state: RunState, index: int, emit: Callable[[RunEvent], None]) -> None:
        try:
            outcome = await self._sketch_async_inner(state, index, emit)
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            outcome = state.fail(index, state.internal_error(exc), state.records[index]["attempts"])
        emit(outcome)

    async def _sketch_async_inner(self, state, index, emit) -> SketchOutcome:
        """The sketch on each model of the run's chain in turn, while its calls fail for capacity."""
        position: int | None = 0
        while True:
            settled = await self._on_model_async(state, index, state.chain[position], emit)
            outcome, position = _after_model(state, index, position, settled, emit)
            if position is None:
                return outcome

    async def _on_model_async(self, state, index, step: ChainStep, emit):
        """Attempts on one model: the outcome, or (last error, attempts)."""
        limiter, gate = self._limiter(state, step), self._gate(step)
        owner = state.config.schedule_group or state.run_id  # who the fair schedulers count
        attempt = 0
        while True:
            attempt += 1
            if state.abort_error is not None:
                return state.fail(index, state.skipped_error(), attempt - 1)
            if step.abort_error is not None:
                return state.skipped_error(step), attempt - 1
            try:  # the model's pace and daily quota, process-wide, before a connection slot
                await gate.aacquire(owner)
            except ModelCallError as err:
                return err, attempt - 1
            async with limiter.aslot(owner):
                if state.abort_error is not None:  # decided while we queued for the slot
                    return state.fail(index, state.skipped_error(), attempt - 1)
                spent = gate.exhausted_error()  # another sketch found the quota spent meanwhile
                if spent is not None:
                    return spent, attempt - 1
                state.mark_running(index, attempt)
                started = time.perf_counter()
                request = replace(step.requests[index], attempt=attempt)
                try:
                    image = await self._call_model(step.adapter, state, request, emit)
                    latency = time.perf_counter() - started
                    # Shielded: once paid for, a sketch is written even if the consumer leaves now.
                    # Handed to a worker thread at once, not at the loop's next turn: when N answers
                    # land together, the loop is busy parsing the others meanwhile.
                    finishing = asyncio.get_running_loop().run_in_executor(
                        None, state.complete, index, image, latency, attempt
                    )
                    state.finishing[index] = finishing
                    return await asyncio.shield(finishing)
                except ModelCallError as err:
                    error = err
                    state.charge(index, error)  # a billed failure is the sketch's cost too
                    self._settle_error(gate, error)  # before the slot goes to the next caller
            delay = state.retry_delay(index, error, attempt)
            if delay is None:
                return error, attempt
            emit(state.retry_event(index, attempt + 1, error, delay))
            await gate.asleep_unless_spent(delay)

    async def _call_model(self, adapter, state: RunState, request: ImageRequest, emit) -> ModelImage:
        # A guard above the adapter's own timeout, so a stuck adapter cannot hang a sketch forever.
        try:
            async with asyncio.timeout(request.timeout_s * 1.25 + 5):
                if not (state.config.stream_previews and adapter.capabilities.streaming_previews):
                    return await adapter.agenerate(request)
                final: ModelImage | None = None
                async for item in adapter.astream(request):
                    if isinstance(item, ModelPreview):
                        emit(state.preview_event(request.index, item))
                    else:
                        final = item
                if final is None:
                    raise ModelCallError(
                        ErrorCode.NO_IMAGE, "the stream ended without a final image", retryable=True
                    )
                return final
        except TimeoutError:
            raise ModelCallError(
                ErrorCode.TIMEOUT, f"no answer within {request.timeout_s:.0f} s", retryable=True
            ) from None

    def _sketch_tasks(self, state: RunState, indexes: Iterable[int], emit) -> list[asyncio.Task]:
        """One task per sketch, or in sheet mode one task for the call that makes them all."""
        if state.sheet_plan is not None:
            call = functools.partial(self._call_model, state.adapter)
            return [asyncio.create_task(run_sheet_async(state, self._sheet_pace(state), call, emit))]
        return [asyncio.create_task(self._sketch_async(state, i, emit)) for i in indexes]

    def _sheet_pace(self, state: RunState) -> Pace:
        """The one call of a sheet is paced like any call of the run's own model."""
        step = state.chain[0]
        return Pace(self._limiter(state, step), self._gate(step), state.config.schedule_group or state.run_id)

    @staticmethod
    def _prepare_sheet_soon(state: RunState) -> asyncio.Task:
        """Draw the contact sheet's captions on a worker thread while the model calls are in flight."""

        async def prepare() -> None:
            # Once the requests are on the wire: drawing text holds the GIL, which would delay them.
            await asyncio.sleep(SHEET_PREPARE_DELAY_S)
            await asyncio.to_thread(state.prepare_contact_sheet)

        return asyncio.create_task(prepare())

    async def _abandon(self, state: RunState, tasks: Iterable[asyncio.Task]) -> None:
        """The consumer left: cancel pending calls, keep what is written, record the run cancelled."""
        state.cancel_event.set()
        tasks = [t for t in tasks if not t.done()]
        for task in tasks:
            task.cancel()
        if tasks:
            await asyncio.wait(tasks, timeout=10)
        pending = [f for f in state.finishing.values() if not f.done()]
        if pending:  # paid-for images still being written: wait for them, they are kept
            await asyncio.wait(pending, timeout=30)
        # Off the event loop: the contact sheet and metadata are disk and CPU work, and in the
        # service other runs share this loop.
        await _settle(state, cancelled=True)

    @redacts_exceptions
    async def generate_async(
        self,
        *,
        prompt_spec,
        retrieval_result=None,
        style,
        config: GenerationConfig | None = None,
        on_event: EventCallback | None = None,
        plan=None,
    ) -> GenerationResult:
        """Make the sketches concurrently with ``asyncio.gather``; returns when all have settled."""
        state = await asyncio.to_thread(self._prepare, prompt_spec, retrieval_result, style, config, plan)
        callback = on_event or (lambda ev: None)

        def emit(ev: RunEvent) -> None:
            callback(state.stamp(ev))

        tasks: list[asyncio.Task] = []
        try:
            emit(state.started_event())
            tasks = self._sketch_tasks(state, range(len(state.requests)), emit)
            tasks.append(self._prepare_sheet_soon(state))
            await asyncio.gather(*tasks)
            emit(await _settle(state))
        except BaseException:
            await asyncio.shield(self._abandon(state, tasks))
            raise
        finally:
            self.last_result = state.result()
            await self._arelease_adapter(state)
        return self.last_result

    async def astream_events(
        self,
        *,
        prompt_spec,
        retrieval_result=None,
        style,
        config: GenerationConfig | None = None,
        stages: Iterable[tuple[str, dict[str, Any]]] = (),
        plan=None,
        warnings: Iterable[str] = (),
    ) -> AsyncIterator[RunEvent]:
        """Every event of the run, from ``run.started`` to ``run.completed``, as it happens.

        ``stages`` are (name, details) pairs reported right after ``run.started`` (the pipeline
        uses them for ``prompt_compiled`` and ``references_retrieved``); ``warnings`` join the
        run's own (``run.started``, metadata, result).
        """
        try:
            state = await asyncio.to_thread(
                self._prepare, prompt_spec, retrieval_result, style, config, plan, tuple(warnings)
            )
        except Exception as exc:
            redact_exception(exc)
            raise
        stream = self.run_state_events(state, stages=stages)
        try:
            async for ev in stream:
                yield ev
        finally:
            await stream.aclose()

    async def run_state_events(
        self,
        state: RunState,
        *,
        stages: Iterable[tuple[str, dict[str, Any]]] = (),
        indexes: Iterable[int] | None = None,
    ) -> AsyncIterator[RunEvent]:
        """The events of a prepared run (:meth:`astream_events`, and :mod:`generate.resume` for a
        run that makes only some of its sketches): only ``indexes`` (default: all) are attempted.

        However it ends, the run is settled (``finish``) and :attr:`last_result` set.
        """
        wanted = list(range(len(state.requests))) if indexes is None else list(indexes)
        events: asyncio.Queue[RunEvent] = asyncio.Queue()
        tasks: list[asyncio.Task] = []
        done = False
        try:
            yield state.stamp(state.started_event())
            for name, details in stages:
                yield state.stamp(state.stage_event(name, details))
            tasks = self._sketch_tasks(state, wanted, events.put_nowait)
            remaining = len(wanted)
            sheet = self._prepare_sheet_soon(state)
            tasks.append(sheet)  # so that _abandon cancels it too
            while remaining:
                ev = await events.get()
                if isinstance(ev, (SketchCompleted, SketchFailed)):
                    remaining -= 1
                yield state.stamp(ev)
            await sheet
            final = await _settle(state)
            done = True
            yield state.stamp(final)
        except Exception as exc:  # to a library user: never with a secret in it
            redact_exception(exc)
            raise
        finally:
            if not done:
                await asyncio.shield(self._abandon(state, tasks))
            self.last_result = state.result()
            await self._arelease_adapter(state)

    async def generate_streaming_async(
        self, *, prompt_spec, retrieval_result=None, style, config: GenerationConfig | None = None, plan=None
    ) -> AsyncIterator[SketchOutcome]:
        """Yield each sketch's outcome as it settles: ``async for index, image_path, error in ...``.

        ``image_path`` is None and ``error`` a ModelCallError for a failed sketch. The full result
        is in :attr:`last_result` once the iteration ends.
        """
        stream = self.astream_events(
            prompt_spec=prompt_spec, retrieval_result=retrieval_result, style=style, config=config, plan=plan
        )
        try:
            async for ev in stream:
                if isinstance(ev, (SketchCompleted, SketchFailed)):
                    yield ev
        finally:
            await stream.aclose()


def _after_model(state: RunState, index: int, position: int, settled, emit):
    """After one model of the chain settled sketch ``index``: ``(outcome, None)`` when the sketch
    is done (made, cancelled, or failed with no model left to try), else ``(None, the next
    model's position)``, its ``sketch.fallback`` event emitted."""
    if not isinstance(settled, tuple):
        return settled, None
    error, attempts = settled
    step = state.fall_back(index, position, error, attempts)
    if step is None:
        return state.fail(index, error, attempts), None
    position, event = step
    emit(event)
    return None, position
