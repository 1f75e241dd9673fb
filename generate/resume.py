"""Resume a run: make the sketches an interrupted, failed, partial or cancelled run is missing.

``prepare_resume(run_id)`` checks everything before any model call and takes the run's lock;
``astream_resume`` / ``aresume`` / ``resume`` then make the missing sketches *into the same
folder*, with the prompts, variations, references and settings recorded in its metadata.json and
the model that made the run (its catalog id, never "auto") and its request options
(``response_modalities``, ``google_search``, ``person_generation``). The sketches already written stand as
they are; metadata.json is rewritten atomically as each new sketch settles (the same
:class:`generate.run_state.RunState` a new run uses), and the attempt is recorded in the run's
``resumes`` list: ``{at, sketches, model, previous_status, status, cost_usd}`` (``at``: when it
started, local time with its offset; ``cost_usd``: what that resume was billed, rewritten as each
sketch settles). Spend is dated by them (:func:`generate.spend.billed_days`): a resume counts on
the UTC day of its ``at``, not the run's start day.

Money is never forgotten: a remade sketch keeps what its earlier attempts were billed (a failed
answer that still billed prompt and thinking tokens, or a sketch made and paid for whose file was
then lost) as ``prior_cost_usd``, and its ``cost_usd`` is that plus what the resume bills, so the
run's ``totals.cost_usd``, ``sketchgen spend``, the daily budget and the run catalog count both.

Missing means: any sketch whose status is not ``completed``, or whose file is not there. A refine,
vary or edit run resumes the same way: each sketch's recorded input images and earlier turns are
sent again, and the run keeps its lineage (``parent``, ``iteration``).

Refused, as :class:`RunNotResumable` (a ``ConfigError``, so the CLI exits 2): a run that is still
running (a live process holds its lock) and a complete run. An unknown id is :class:`RunNotFound`.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from types import SimpleNamespace
from typing import Any

from generate.adapter import ImageModelAdapter, ImageRequest, PromptParts, get_adapter
from generate.errors import ConfigError
from generate.events import RunEvent, drain
from generate.generator import ImageGenerator
from generate.metadata import history_turn, recorded_request_options
from generate.run_lock import RunLock, RunLockedError
from generate.run_state import RunState
from generate.runs import load_run, run_dir, run_file
from generate.spend import recorded_usd
from generate.types import GenerationConfig, GenerationResult

__all__ = [
    "RESUMABLE",
    "RunNotFound",
    "RunNotResumable",
    "PreparedResume",
    "prepare_resume",
    "astream_resume",
    "aresume",
    "resume",
]

RESUMABLE = ("interrupted", "failed", "partial", "cancelled")


class RunNotFound(ConfigError):
    def __init__(self, run_id: str) -> None:
        super().__init__(f"no run {run_id!r}", field="run_id")


class RunNotResumable(ConfigError):
    def __init__(self, message: str) -> None:
        super().__init__(message, field="run_id")


@dataclass
class PreparedResume:
    """A run ready to resume: its lock is held (release it with :meth:`close` if it will not run)."""

    run_id: str
    folder: Path
    metadata: dict[str, Any]
    previous_status: str
    indexes: list[int]
    adapter: ImageModelAdapter
    lock: RunLock
    root: Path | None = None
    _state: RunState | None = field(default=None, repr=False)

    def close(self) -> None:
        """For a prepared resume that will not run: let go of the lock and the adapter."""
        if self._state is None:
            self.lock.release()
            self.adapter.close()

    def build_state(self) -> RunState:
        """The RunState of the resumed run (writes metadata.json: the run is ``running`` again)."""
        meta, cfg = self.metadata, self.metadata.get("config") or {}
        from prompt.spec import PromptSpec
        from rag.types import RetrievalHit, RetrievalResult

        retrieval = meta.get("retrieval") or {}
        hits = [
            RetrievalHit(path=h["path"], score=h.get("score", 0.0), sha256=h.get("sha256"))
            for h in retrieval.get("hits") or []
        ]
        config = GenerationConfig(
            num_images=len(meta["sketches"]),
            resolution=tuple(cfg["resolution"]) if cfg.get("resolution") else None,
            aspect_ratio=cfg.get("aspect_ratio"),
            image_size=cfg.get("image_size") or "1K",
            model_name=self.adapter.name,
            seed=cfg.get("seed"),
            timeout_s=cfg.get("timeout_s") or 180.0,
            max_attempts=cfg.get("max_attempts") or 4,
            enforce_grayscale=cfg.get("enforce_grayscale", True),
            output_dir=self.root,
            **recorded_request_options(cfg),
        )
        parts = _recorded_parts(meta)
        records, requests = [], []
        for rec in meta["sketches"]:
            rec = dict(rec)
            if rec["index"] in self.indexes:
                if rec.get("error"):
                    rec.setdefault("earlier_errors", []).append(rec["error"])
                # What it was billed so far stays its cost: a resume adds to it, never forgets it.
                prior = round(recorded_usd(rec.get("cost_usd")), 6)  # a damaged record: nothing
                rec.update(
                    status="pending",
                    file=None,
                    error=None,
                    attempts=0,
                    retries=[],
                    cost_usd=prior,
                    prior_cost_usd=prior,
                )
            records.append(rec)
            var = rec.get("variation") or {}
            requests.append(
                ImageRequest(
                    index=rec["index"],
                    prompt=rec["prompt"],
                    aspect_ratio=config.aspect_ratio,
                    image_size=config.image_size,
                    layout=var.get("layout", ""),
                    exaggeration=var.get("exaggeration", ""),
                    reference_images=tuple(Path(p) for p in rec.get("references") or []),
                    input_images=tuple(Path(p) for p in rec.get("input_images") or []),
                    history=tuple(history_turn(turn) for turn in rec.get("history") or []),
                    timeout_s=config.timeout_s,
                    prompt_parts=parts,
                    **config.request_options(),
                )
            )
        style = meta.get("style") or {}
        attempt = {
            "at": datetime.now().astimezone().isoformat(timespec="seconds"),
            "sketches": list(self.indexes),
            "model": self.adapter.name,
            "previous_status": self.previous_status,
        }
        self._state = RunState(
            run_id=self.run_id,
            out_dir=self.folder,
            started_at=datetime.fromisoformat(meta["timestamp"]),
            config=config,
            adapter=self.adapter,
            style=SimpleNamespace(
                id=meta.get("style_id") or style.get("id"),
                name=style.get("name", ""),
                source=style.get("source") or None,
            ),
            prompt_spec=PromptSpec.model_validate(meta["prompt_spec"]),
            retrieval=RetrievalResult(
                hits=hits,
                method=retrieval.get("method", "none"),
                embedder=retrieval.get("embedder"),
                reason=retrieval.get("reason"),
                style_id=meta.get("style_id"),
            ),
            variations=[r.get("variation") or {} for r in records],
            requests=requests,
            model_reason=(meta.get("model") or {}).get("reason"),
            warnings=list(meta.get("warnings") or []),
            records=records,
            lock=self.lock,
            resumes=[*(meta.get("resumes") or []), attempt],
            iteration=_iteration(meta),
        )
        return self._state


def _iteration(meta: dict[str, Any]) -> dict[str, Any] | None:
    """A refine / vary / edit run's lineage as RunState holds it (metadata splits off ``parent``)."""
    if not meta.get("iteration") and not meta.get("parent"):
        return None
    return {**(meta.get("iteration") or {}), "parent": meta.get("parent")}


def prepare_resume(
    run_id: str, root: Path | str | None = None, *, adapter: ImageModelAdapter | None = None
) -> PreparedResume:
    """Check that ``run_id`` can be resumed and take its lock; no model is called.

    Raises :class:`RunNotFound`, :class:`RunNotResumable`, or the ``ConfigError`` of a model that
    cannot be used now (missing credentials, a retired model).
    """
    try:
        folder = run_dir(run_id, root)
    except KeyError:
        raise RunNotFound(run_id) from None
    lock = RunLock(folder)
    try:
        lock.acquire()
    except RunLockedError:
        raise RunNotResumable(f"run {run_id} is still running; it can be resumed once it stops") from None
    try:
        try:
            meta = load_run(run_id, root)
        except KeyError:
            raise RunNotFound(run_id) from None
        # We hold the lock now, so a run still recorded "running" has no live process.
        status = "interrupted" if meta.get("status") == "running" else str(meta.get("status"))
        if status not in RESUMABLE:
            raise RunNotResumable(
                f"run {run_id} is {status}; only {', '.join(RESUMABLE)} runs can be resumed"
            )
        sheet = (meta.get("config") or {}).get("sheet")
        if sheet:
            # Its cells came from one image: one cell made again alone would not match the others.
            raise RunNotResumable(
                f"run {run_id} is a {sheet} sheet (every sketch from one call); it cannot be resumed "
                "cell by cell: run it again"
            )
        sketches = meta.get("sketches") or []
        if not sketches or not all(rec.get("prompt") for rec in sketches):
            raise RunNotResumable(f"run {run_id} does not record its sketches' prompts; it cannot be resumed")
        indexes = [
            rec["index"]
            for rec in sketches
            if rec.get("status") != "completed" or run_file(folder, str(rec.get("file") or "")) is None
        ]
        if not indexes:
            raise RunNotResumable(f"run {run_id} has every sketch already; nothing to resume")
        model = (meta.get("model") or {}).get("used") or (meta.get("config") or {}).get("model_name")
        if adapter is None:
            adapter = get_adapter(str(model))
    except BaseException:
        lock.release()
        raise
    return PreparedResume(
        run_id=run_id,
        folder=folder,
        metadata=meta,
        previous_status=status,
        indexes=indexes,
        adapter=adapter,
        lock=lock,
        root=Path(root) if root is not None else None,
    )


async def astream_resume(
    prepared: PreparedResume, generator: ImageGenerator | None = None
) -> AsyncIterator[RunEvent]:
    """Every event of the resumed run (``run.started`` ... ``run.completed``); closing the iterator
    cancels it, as for a new run. ``generator.last_result`` holds the result afterwards."""
    generator = generator or ImageGenerator(adapter=prepared.adapter)
    try:
        state = await asyncio.to_thread(prepared.build_state)
        stream = generator.run_state_events(state, indexes=prepared.indexes)
        try:
            async for event in stream:
                yield event
        finally:
            await stream.aclose()
    finally:
        if prepared._state is None:  # never started: nothing holds the lock for it any more
            prepared.lock.release()
        await prepared.adapter.aclose()


async def aresume(
    prepared: PreparedResume, on_event: Callable[[RunEvent], Any] | None = None
) -> GenerationResult:
    """Resume to the end and return the run's result (every sketch, old and new)."""
    generator = ImageGenerator(adapter=prepared.adapter)
    await drain(astream_resume(prepared, generator), on_event)
    return generator.last_result


def resume(run_id: str, root: Path | str | None = None, on_event=None) -> GenerationResult:
    """Blocking form: prepare and resume ``run_id``."""
    return asyncio.run(aresume(prepare_resume(run_id, root), on_event=on_event))


def _recorded_parts(meta: dict[str, Any]) -> PromptParts | None:
    """The prompt's pieces rebuilt from the recorded spec (None: a run recorded without a valid one)."""
    from pydantic import ValidationError

    from prompt.compiler import prompt_parts
    from prompt.spec import PromptSpec

    try:
        spec = PromptSpec.model_validate(meta.get("prompt_spec") or {})
    except ValidationError:
        return None
    instruction = (meta.get("parent") or {}).get("instruction") or ""
    return prompt_parts(spec, (meta.get("style") or {}).get("name"), instruction=instruction)
