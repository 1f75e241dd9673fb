"""Run events: the one stream every mode, the CLI and the SSE endpoint are built on.

Each event has a dotted ``event`` name (the SSE ``event:`` field), a ``run_id`` and a per-run ``seq``;
``sse_id`` is ``<run_id>:<seq>``. ``to_dict()`` is the SSE ``data:`` payload.

:class:`SketchCompleted` and :class:`SketchFailed` unpack as ``(index, image_path, error)``, which is
what ``for index, image_path, error in generator.generate_streaming_async(...)`` relies on.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from contextlib import aclosing
from dataclasses import asdict, dataclass, field
from typing import Any, ClassVar

__all__ = [
    "RunEvent",
    "RunStarted",
    "StageEvent",
    "SketchPreview",
    "SketchRetry",
    "SketchFallback",
    "SketchCompleted",
    "SketchFailed",
    "RunCompleted",
    "SketchOutcome",
    "drain",
]


@dataclass
class RunEvent:
    event: ClassVar[str] = "event"
    run_id: str
    seq: int

    @property
    def sse_id(self) -> str:
        return f"{self.run_id}:{self.seq}"

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data.pop("seq", None)
        return data


@dataclass
class RunStarted(RunEvent):
    event: ClassVar[str] = "run.started"
    model: str
    num_images: int
    style_id: str
    output_dir: str
    model_reason: str | None = None  # why "auto" picked this model
    seed: int | None = None
    warnings: list[str] = field(default_factory=list)


@dataclass
class StageEvent(RunEvent):
    """``name`` is "prompt_compiled" or "references_retrieved"; ``details`` is stage-specific."""

    event: ClassVar[str] = "stage"
    name: str
    details: dict[str, Any] = field(default_factory=dict)


@dataclass
class SketchPreview(RunEvent):
    event: ClassVar[str] = "sketch.preview"
    index: int
    sequence: int
    mime_type: str
    data_b64: str


@dataclass
class SketchRetry(RunEvent):
    event: ClassVar[str] = "sketch.retry"
    index: int
    attempt: int  # the attempt about to start (2 = first retry)
    max_attempts: int
    reason: str  # the error code that caused the retry
    delay_s: float
    message: str = ""


@dataclass
class SketchFallback(RunEvent):
    """A sketch's call failed for lack of capacity on ``from_model``; it is tried on ``to_model``
    next (a fallback chain, :mod:`generate.fallback`)."""

    event: ClassVar[str] = "sketch.fallback"
    index: int
    from_model: str
    to_model: str
    reason: str  # the error code that made it fall back
    message: str = ""


@dataclass
class SketchCompleted(RunEvent):
    event: ClassVar[str] = "sketch.completed"
    index: int
    file: str  # file name inside the run folder
    path: str  # absolute path
    variation: dict[str, Any]
    latency_s: float
    cost_usd: float
    attempts: int = 1
    width: int = 0
    height: int = 0
    model: str = ""  # the model this sketch came from
    fallbacks: list[dict[str, Any]] = field(
        default_factory=list
    )  # models left first: {model, error_code, message}

    def __iter__(self):  # (index, image_path, error)
        from pathlib import Path

        return iter((self.index, Path(self.path), None))


@dataclass
class SketchFailed(RunEvent):
    event: ClassVar[str] = "sketch.failed"
    index: int
    code: str
    message: str
    retryable: bool
    attempts: int = 1
    finish_reason: str | None = None
    variation: dict[str, Any] = field(default_factory=dict)
    model: str = ""  # the last model tried
    fallbacks: list[dict[str, Any]] = field(default_factory=list)
    # What the sketch was billed, every attempt (its metadata ``cost_usd``): usually 0, more for an
    # image-less answer that still billed its prompt and thinking tokens.
    cost_usd: float = 0.0

    def __iter__(self):  # (index, image_path, error)
        from generate.errors import ModelCallError

        error = ModelCallError(
            self.code, self.message, retryable=self.retryable, finish_reason=self.finish_reason
        )
        return iter((self.index, None, error))


@dataclass
class RunCompleted(RunEvent):
    event: ClassVar[str] = "run.completed"
    status: str  # complete | partial | failed | cancelled
    succeeded: int
    failed: int
    cancelled: int
    cost_usd: float
    wall_s: float
    metadata_path: str
    output_dir: str
    model: str = ""


SketchOutcome = SketchCompleted | SketchFailed


async def drain(events: AsyncIterator[RunEvent], on_event: Callable[[RunEvent], Any] | None = None) -> None:
    """Consume a run's events to the end, handing each to ``on_event``: how the awaitable forms
    (``SketchPipeline.arun``, ``generate.resume.aresume``) run a stream. The stream is closed however
    this ends, so cancelling the awaiting task cancels the run."""
    async with aclosing(events):
        async for event in events:
            if on_event is not None:
                on_event(event)
