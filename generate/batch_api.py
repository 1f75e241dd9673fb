"""Make a batch of prepared runs through the Gemini Batch API (half price, up to 24 h).

:func:`run_batch_api` is what ``sketchgen batch --batch-api`` (generate/batch.py) calls:

1. **Plan.** Each :class:`PreparedRun` is compiled and retrieved once, and its per-sketch requests are
   built by the :class:`ImageGenerator`'s own preparation, so the batch sends what a normal run would.
2. **Submit once.** All sketches of all runs go in one job (one model per job). The manifest's
   ``"batch_api"`` entry records ``job``, ``model``, ``submitted_at``, ``state``, ``source``,
   ``keys`` (key → ``[run index, sketch index]``) and ``fingerprints`` (key → sha256 of the request
   sent); ``save()`` is called after every change. With a job recorded, a later call resumes
   polling and never submits again, unless the server said the job is gone (404): that call
   records ``"gone": true`` and raises :class:`~generate.adapters.gemini.batch.BatchJobGone`
   saying so, and the next call submits the sketches as a new job (the old name kept in
   ``previous_jobs``).
3. **Poll** with backoff (:class:`generate.adapters.gemini.batch.PollBackoff`), reporting every
   poll to ``on_state`` as ``{job, state, model, submitted_at}``. Ctrl-C: ``on_interrupt(job)`` decides (see
   :func:`ask_cancel`): True cancels the job upstream and records ``"cancelled": true``; either
   way :class:`KeyboardInterrupt` propagates and the job stays recorded.
4. **Write** every run as an ordinary run folder: the run goes through the normal pipeline with a
   :class:`BatchReplayAdapter` that hands back each sketch's batch result (a :class:`ModelImage`, or
   raises its :class:`ModelCallError`), so post-processing, metadata, events and folders are the
   standard ones. Each sketch's record has ``extra.batch_job``, ``extra.price = "batch"`` and
   ``extra.batch_submitted_at`` / ``batch_finished_at`` (its ``latency_s`` is the replay's), its
   ``cost_usd`` is the batch price; the run's ``model.reason`` names the job. A batch result is not
   retried (``max_attempts=1``): a retryable failure says a new run may succeed. ``runs`` in the
   manifest entry maps each run index to its run id as it is written; a run already written is
   not written again (its result is read back from its folder).

Expired, failed or cancelled jobs, and requests that failed inside a succeeded job, become
per-sketch failures with their own codes (``batch_expired``, ``batch_failed``, ``cancelled``, or the
unary code such as ``server_error``).
"""

from __future__ import annotations

import asyncio
import dataclasses
import datetime as dt
import hashlib
import json
import sys
import tempfile
import threading
import time
from collections.abc import Callable, MutableMapping, Sequence
from pathlib import Path
from typing import Any

from generate.adapter import ImageModelAdapter, ImageRequest, ModelImage
from generate.errors import ConfigError, ErrorCode, ModelCallError
from generate.generator import ImageGenerator
from generate.runs import load_run, run_dir
from generate.types import GenerationResult, SketchResult

__all__ = ["BatchReplayAdapter", "arun_batch_api", "ask_cancel", "run_batch_api", "resume_hint"]


def _now() -> str:
    return dt.datetime.now(dt.UTC).isoformat(timespec="seconds")


def _key(run: int, sketch: int) -> str:
    return f"r{run}s{sketch}"


def resume_hint(job: str, command: str | None = None) -> str:
    """One line telling the user the job still runs and how to pick it up again."""
    how = f"run `{command}` again" if command else "run the same command again"
    return f"batch job {job} is still running at Google; {how} to resume waiting for it (it will not be submitted twice)"


def ask_cancel(
    job: str,
    *,
    command: str | None = None,
    stdin=None,
    ask: Callable[[str], str] = input,
    out=None,
) -> bool:
    """The Ctrl-C question: True to cancel ``job`` upstream. With no terminal on stdin nothing is
    asked and the job is left running; either way a kept job gets the resume line on ``out``."""
    stdin = stdin if stdin is not None else sys.stdin
    out = out if out is not None else sys.stderr
    answer = ""
    if stdin is not None and stdin.isatty():
        try:
            answer = ask(f"\nCancel batch job {job} at Google? Sketches not made yet are lost. [y/N] ")
        except (EOFError, KeyboardInterrupt):
            answer = ""
    if answer.strip().lower() in ("y", "yes"):
        return True
    print(resume_hint(job, command), file=out)
    return False


class BatchReplayAdapter(ImageModelAdapter):
    """Hands the generator each sketch's batch result instead of calling the model.

    ``outcomes``: sketch index → ModelImage or ModelCallError; ``fingerprints``: sketch index →
    the sha256 of the request that was submitted, checked against the request the generator builds
    now (a changed prompt or reference set fails that sketch instead of passing off another one's
    image). Capabilities, checks and descriptions are the wrapped adapter's."""

    def __init__(
        self,
        inner: ImageModelAdapter,
        job: str,
        outcomes: dict[int, ModelImage | ModelCallError],
        fingerprints: dict[int, str],
        fingerprint: Callable[[ImageRequest], str],
        times: dict[str, str] | None = None,
    ) -> None:
        self.inner = inner
        # When the job was submitted and seen finished: a sketch's own latency_s is only the replay.
        self._times = {k: v for k, v in (times or {}).items() if v}
        self.name = inner.name
        self.capabilities = inner.capabilities
        self.lifecycle_warnings = list(getattr(inner, "lifecycle_warnings", []))
        factor = getattr(getattr(inner, "entry", None), "batch_price_factor", 0.5)
        self.batch_price_factor = factor
        self.selection_reason = (
            f"made by Gemini Batch API job {job} at the batch price ({factor:.0%} of standard)"
        )
        self.job = job
        self._outcomes = outcomes
        self._fingerprints = fingerprints
        self._fingerprint = fingerprint

    def generate(self, request: ImageRequest) -> ModelImage:
        outcome = self._outcomes.get(request.index)
        _contents, _config, warnings, sent = self.inner._prepare(request)
        if outcome is None:
            outcome = ModelCallError(
                ErrorCode.BAD_RESPONSE, f"batch job {self.job} holds no request for sketch {request.index}"
            )
        elif self._fingerprints.get(request.index) not in (None, self._fingerprint(request)):
            outcome = ModelCallError(
                ErrorCode.INVALID_REQUEST,
                f"sketch {request.index}'s prompt or references changed since batch job {self.job} was "
                "submitted (references added or removed?); its batch image is not used: run it again",
            )
        if isinstance(outcome, ModelCallError):
            outcome.references_sent = sent
            raise outcome
        image = dataclasses.replace(outcome, warnings=[*warnings, *outcome.warnings], references_sent=sent)
        image.extra = {**outcome.extra, **{f"batch_{k}": v for k, v in self._times.items()}}
        return image

    def estimate_cost(self, request: ImageRequest) -> float:
        return round(self.inner.estimate_cost(request) * self.batch_price_factor, 6)

    def check_request(self, *, aspect_ratio: str, image_size: str, num_references: int) -> list[str]:
        return self.inner.check_request(
            aspect_ratio=aspect_ratio, image_size=image_size, num_references=num_references
        )

    def check_options(self, **options: Any) -> list[str]:
        return self.inner.check_options(**options)

    def describe(self) -> dict[str, Any]:
        return {**self.inner.describe(), "batch_job": self.job}

    # The wrapped adapter's client is closed by run_batch_api once every run is written.
    def close(self) -> None:
        pass

    async def aclose(self) -> None:
        pass


def _plan(pipeline, prepared) -> list[ImageRequest]:
    """The run's per-sketch requests as its generator builds them (the throwaway folder that
    preparation makes goes in a temporary directory)."""
    prepared.spec = pipeline._compile(prepared)
    prepared.retrieval = pipeline._retrieve(prepared, prepared.spec)
    with tempfile.TemporaryDirectory(prefix="sketchgen-batch-plan-") as tmp:
        config = dataclasses.replace(prepared.config, output_dir=Path(tmp))
        state = ImageGenerator(adapter=prepared.adapter)._prepare(
            prepared.spec, prepared.retrieval, prepared.style, config, prepared.plan, prepared.run_warnings
        )
    return list(state.requests)


def _check_runs(prepared_runs: Sequence[Any]):
    from generate.adapters.gemini.adapter import NanoBananaAdapter

    if not prepared_runs:
        raise ConfigError("the batch has no runs", field="briefs")
    models = {}
    for i, prepared in enumerate(prepared_runs):
        if getattr(prepared.config, "sheet", None):
            # A sheet's one call is cut into cells as it lands; a batch job would ask once per cell.
            raise ConfigError(
                f"run {i}: a sheet run (sheet {prepared.config.sheet}) does not go through the Batch API; "
                "run it without --batch-api",
                field="sheet",
            )
        if not isinstance(prepared.adapter, NanoBananaAdapter):
            raise ConfigError(
                f"run {i}: model {prepared.adapter.name!r} is not a Gemini model; the Batch API takes "
                "Gemini image models only",
                field="model",
            )
        models.setdefault(prepared.adapter.name, i)
    if len(models) > 1:
        names = ", ".join(f"{m} (run {i})" for m, i in models.items())
        raise ConfigError(
            f"one batch job takes one model, and these runs use several: {names}", field="model"
        )
    return prepared_runs[0].adapter


def _written_result(run_id: str, root) -> GenerationResult:
    """The result of a run an earlier call already wrote, read back from its metadata."""
    meta = load_run(run_id, root)
    folder = run_dir(run_id, root)
    sketches = [
        SketchResult(
            index=r["index"],
            status=r.get("status", "failed"),
            path=folder / r["file"] if r.get("status") == "completed" and r.get("file") else None,
            file=r.get("file"),
            variation=r.get("variation") or {},
            error=r.get("error"),
            attempts=r.get("attempts", 0),
            latency_s=r.get("latency_s"),
            cost_usd=r.get("cost_usd") or 0.0,
            record=r,
        )
        for r in meta.get("sketches") or []
    ]
    totals = meta.get("totals") or {}
    return GenerationResult(
        run_id=run_id,
        status=meta.get("status", "failed"),
        images=[s.path for s in sketches if s.path is not None],
        sketches=sketches,
        metadata_path=folder / "metadata.json",
        output_dir=folder,
        timestamp=meta.get("timestamp", ""),
        model=(meta.get("model") or {}).get("used", ""),
        cost_usd=totals.get("cost_usd") or 0.0,
        wall_s=totals.get("wall_s") or 0.0,
        image_errors={s.index: s.error for s in sketches if s.error},
    )


def _entry(manifest: Any) -> dict[str, Any]:
    """The manifest's ``batch_api`` dict (made when absent or None). ``manifest`` is a mapping or
    an object whose ``data`` is one (generate/batch_manifest.py's Manifest)."""
    store = manifest.data if isinstance(getattr(manifest, "data", None), dict) else manifest
    if not isinstance(store.get("batch_api"), dict):
        store["batch_api"] = {}
    return store["batch_api"]


def _stoppable(sleep: Callable[[float], None], stop: threading.Event) -> Callable[[float], None]:
    """``sleep`` that ends at once with KeyboardInterrupt when ``stop`` is set (Ctrl-C seen by
    another thread)."""

    def wait(delay: float) -> None:
        if sleep is time.sleep:
            if stop.wait(delay):
                raise KeyboardInterrupt
            return
        sleep(delay)
        if stop.is_set():
            raise KeyboardInterrupt

    return wait


def run_batch_api(
    pipeline,
    prepared_runs: Sequence[Any],
    manifest: MutableMapping[str, Any] | Any,
    save: Callable[[], None],
    on_event=None,
    *,
    on_state: Callable[[dict[str, Any]], None] | None = None,
    on_interrupt: Callable[[str], bool] | None = None,
    client=None,
    stop: threading.Event | None = None,
    max_cost_usd: float | None = None,
    events_for: Callable[[int], Callable[[Any], None] | None] | None = None,
) -> list[GenerationResult]:
    """Make ``prepared_runs`` through one Gemini batch job (see the module docstring); blocking.

    Returns one GenerationResult per prepared run, in order (a run written by an earlier call is
    read back from its folder). ``client``: a :class:`GeminiBatchClient` (tests inject one with a
    fake clock); by default one is built on the first run's adapter. ``stop``: set from another
    thread to stop polling as Ctrl-C would. ``max_cost_usd``: a job whose worst case (every
    sketch's estimate at the batch price) is over it is refused before it is submitted.
    ``events_for``: run index → that run's event callback (instead of ``on_event``), so a caller
    can tell whose ``run.started`` it sees (a batch of briefs records each row's run id). Raises
    ConfigError before any call for runs the Batch API cannot take, :class:`BatchJobError` when the
    job cannot be created or read.
    """
    from generate.adapters.gemini.batch import GeminiBatchClient

    adapter = _check_runs(prepared_runs)
    try:
        client = client or GeminiBatchClient(adapter)
        if stop is not None:
            client.sleep = _stoppable(client.sleep, stop)
        hooks = {"on_state": on_state, "on_interrupt": on_interrupt}
        hooks["events_for"] = events_for or (lambda _run: on_event)
        return _run(pipeline, prepared_runs, adapter, client, _entry(manifest), save, max_cost_usd, **hooks)
    finally:
        for prepared in prepared_runs:
            prepared.adapter.close()


def _run(
    pipeline, prepared_runs, adapter, client, entry, save, max_cost_usd, *, events_for, on_state, on_interrupt
):
    from generate.adapters.gemini.batch import BatchJobGone, request_json
    from generate.budget import check_cost

    def fingerprint(request: ImageRequest) -> str:
        contents, config, _w, _s = adapter._prepare(request)
        wire = json.dumps(request_json(contents, config), sort_keys=True)
        return hashlib.sha256(wire.encode()).hexdigest()

    # 1. plan: the requests each run's generator will build
    plans = [_plan(pipeline, prepared) for prepared in prepared_runs]
    requests = {_key(r, req.index): req for r, run in enumerate(plans) for req in run}
    if entry.get("job") and entry.get("gone"):  # told last time: the user ran it again to resubmit
        previous = [*entry.get("previous_jobs", []), entry["job"]]
        entry.clear()
        entry["previous_jobs"] = previous
        save()
    if entry.get("job"):  # resuming: the same sketches of the same model, or nothing at all
        if entry.get("model") not in (None, adapter.name):
            raise ConfigError(
                f"batch job {entry['job']} makes {entry['model']}, not {adapter.name}: run the batch with "
                "the model it was submitted with",
                field="model",
            )
        if set(entry.get("keys") or requests) != set(requests):
            raise ConfigError(
                f"batch job {entry['job']} was submitted for {len(entry['keys'])} sketches, not these "
                f"{len(requests)}: the batch's rows or sketch counts changed since",
                field="num_images",
            )

    # 2. submit once (a job already submitted is paid for whatever the cap says now)
    if not entry.get("job"):
        factor = adapter.entry.batch_price_factor
        worst = round(sum(adapter.estimate_cost(req) for req in requests.values()) * factor, 6)
        check_cost(worst, max_cost_usd, what=f"a batch job of {len(requests)} sketches", model=adapter.name)
        fingerprints = {key: fingerprint(req) for key, req in requests.items()}
        submitted = client.submit(
            list(requests.items()), display_name=f"sketchgen-{dt.datetime.now():%Y%m%d-%H%M%S}"
        )
        entry.update(
            job=submitted.name,
            model=adapter.name,
            submitted_at=_now(),
            state="PENDING",
            source=submitted.source,
            keys={_key(r, req.index): [r, req.index] for r, run in enumerate(plans) for req in run},
            fingerprints=fingerprints,
            runs={},
        )
        save()
    job = entry["job"]

    # 3. poll until the job ends
    def seen(status) -> None:
        if status.state != entry.get("state"):
            entry.update(state=status.state, updated_at=_now())
            save()
        if on_state is not None:
            on_state(
                {
                    "job": job,
                    "state": status.state,
                    "model": entry.get("model"),
                    "submitted_at": entry.get("submitted_at"),
                }
            )

    try:
        status = client.wait(job, on_state=seen)
    except BatchJobGone as exc:
        entry.update(gone=True, updated_at=_now())
        save()
        exc.message += (
            "; run the same command again to submit these sketches as a new job (if the job was made "
            "with another API key it may still run, and be billed, there)"
        )
        exc.args = (exc.message,)
        raise
    except KeyboardInterrupt:
        if on_interrupt is not None and on_interrupt(job):
            client.cancel(job)
            entry.update(cancelled=True, state="CANCELLED", updated_at=_now())
            save()
        raise
    outcomes = client.results(status, requests)
    entry.update(
        state=status.state,
        finished_at=entry.get("finished_at") or _now(),
        failed=sorted(k for k, v in outcomes.items() if isinstance(v, ModelCallError)),
    )
    save()

    # 4. write each run as an ordinary run folder
    results: list[GenerationResult] = []
    written = entry.setdefault("runs", {})
    recorded = entry.get("fingerprints") or {}
    for r, prepared in enumerate(prepared_runs):
        if str(r) in written:
            results.append(_written_result(written[str(r)], prepared.config.output_root))
            continue
        replay = BatchReplayAdapter(
            prepared.adapter,
            job,
            {req.index: outcomes[_key(r, req.index)] for req in plans[r]},
            {req.index: recorded[_key(r, req.index)] for req in plans[r] if _key(r, req.index) in recorded},
            fingerprint,
            {"submitted_at": entry.get("submitted_at"), "finished_at": entry.get("finished_at")},
        )
        config = dataclasses.replace(prepared.config, max_attempts=1)
        run = dataclasses.replace(prepared, adapter=replay, config=config)
        result = pipeline.run(run, on_event=events_for(r))
        written[str(r)] = result.run_id
        save()
        results.append(result)
    return results


async def arun_batch_api(
    pipeline, prepared_runs, manifest, save, on_event=None, **options
) -> list[GenerationResult]:
    """:func:`run_batch_api` on a worker thread, for a caller inside an event loop.

    Cancelling the awaiting task (Ctrl-C under ``asyncio.run``) stops the polling at once, as
    Ctrl-C does for the blocking form (``on_interrupt`` is asked, on the worker thread), then the
    cancellation goes on. Without this, a thread left polling would keep the process alive."""
    stop = threading.Event()

    def blocking() -> list[GenerationResult] | None:
        # A KeyboardInterrupt must not cross into the event loop (asyncio would re-raise it out
        # of the loop itself): the stopped call ends here, and the cancellation carries on.
        try:
            return run_batch_api(pipeline, prepared_runs, manifest, save, on_event, stop=stop, **options)
        except KeyboardInterrupt:
            return None

    work = asyncio.ensure_future(asyncio.to_thread(blocking))
    try:
        results = await asyncio.shield(work)
    except asyncio.CancelledError:
        stop.set()
        await work
        raise
    if results is None:  # stopped without a cancellation: treat as one
        raise asyncio.CancelledError
    return results
