"""The SSE events as the HTTP API sends them, as pydantic models, for the OpenAPI schema.

Each model is one event's ``data:`` JSON after :func:`api.sse.event_payload` (server paths replaced
by names and URLs). They forbid extra fields, so a test that validates real events against them
keeps this documentation true. :func:`document_streams` puts them into an OpenAPI document: every
``text/event-stream`` response gets an ``itemSchema`` (the OpenAPI 3.2 form, also what FastAPI's
own SSE routes emit) that is one of the events, each with its ``event`` name and ``data`` schema.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field
from pydantic.json_schema import models_json_schema

__all__ = ["EVENT_MODELS", "document_streams"]


class _Event(BaseModel):
    model_config = ConfigDict(extra="forbid")

    run_id: str


class RunStartedEvent(_Event):
    """``run.started``: the run has a folder and a model."""

    model: str = Field(description="The model actually used (never 'auto').")
    num_images: int
    style_id: str
    model_reason: str | None = Field(default=None, description="Why 'auto' chose this model.")
    seed: int | None = None
    warnings: list[str] = Field(default_factory=list)
    run_url: str = Field(description="GET this for the run's metadata.")


class StageEvent(_Event):
    """``stage``: ``prompt_compiled`` or ``references_retrieved`` (its references by file name)."""

    name: str
    details: dict[str, Any] = Field(default_factory=dict)


class SketchPreviewEvent(_Event):
    """``sketch.preview``: an interim image (Nano Banana Pro's thought images), when asked for."""

    index: int
    sequence: int
    mime_type: str
    data_b64: str


class SketchRetryEvent(_Event):
    """``sketch.retry``: a call failed in a way worth retrying; the next attempt starts after ``delay_s``."""

    index: int
    attempt: int = Field(description="The attempt about to start (2 = the first retry).")
    max_attempts: int
    reason: str = Field(description="The error code that caused the retry.")
    delay_s: float
    message: str = ""


class SketchCompletedEvent(_Event):
    """``sketch.completed``: sent as soon as the sketch's file is written."""

    index: int
    file: str = Field(description="The file's name in the run folder.")
    url: str = Field(description="GET this to download the sketch.")
    variation: dict[str, Any]
    latency_s: float
    cost_usd: float
    attempts: int = 1
    width: int = 0
    height: int = 0
    model: str = Field(default="", description="The model this sketch came from.")
    fallbacks: list[dict[str, Any]] = Field(
        default_factory=list,
        description="Models of a fallback chain this sketch left first: {model, error_code, message, attempts}.",
    )


class SketchFallbackEvent(_Event):
    """``sketch.fallback``: a call failed for lack of capacity; the sketch is tried on the next model."""

    index: int
    from_model: str
    to_model: str
    reason: str = Field(description="The error code that made it fall back, e.g. 'quota_exhausted'.")
    message: str = ""


class SketchFailedEvent(_Event):
    """``sketch.failed``: the sketch settled without an image; the others go on."""

    index: int
    code: str = Field(description="A generate.errors.ErrorCode value, e.g. 'blocked_output'.")
    message: str
    retryable: bool
    attempts: int = 1
    finish_reason: str | None = None
    variation: dict[str, Any] = Field(default_factory=dict)
    model: str = Field(default="", description="The last model tried.")
    fallbacks: list[dict[str, Any]] = Field(default_factory=list)
    cost_usd: float = Field(
        default=0.0,
        description="What the sketch was billed, every attempt: usually 0; more for an answer without "
        "an image that still billed its prompt and thinking tokens.",
    )


class RunCompletedEvent(_Event):
    """``run.completed``: the last event of a run."""

    status: str = Field(description="complete | partial | failed | cancelled")
    succeeded: int
    failed: int
    cancelled: int
    cost_usd: float
    wall_s: float
    model: str = ""
    metadata_url: str
    run_url: str
    contact_sheet_url: str | None = None


class StreamErrorEvent(BaseModel):
    """``error``: the service failed unexpectedly mid-run; the stream ends."""

    model_config = ConfigDict(extra="forbid")

    code: str
    message: str


EVENT_MODELS: dict[str, type[BaseModel]] = {
    "run.started": RunStartedEvent,
    "stage": StageEvent,
    "sketch.preview": SketchPreviewEvent,
    "sketch.retry": SketchRetryEvent,
    "sketch.fallback": SketchFallbackEvent,
    "sketch.completed": SketchCompletedEvent,
    "sketch.failed": SketchFailedEvent,
    "run.completed": RunCompletedEvent,
    "error": StreamErrorEvent,
}


def _item_schema() -> dict[str, Any]:
    variants = []
    for name, model in EVENT_MODELS.items():
        variants.append(
            {
                "type": "object",
                "title": name,
                "description": (model.__doc__ or "").strip().replace("``", "`"),
                "required": ["event", "data"],
                "properties": {
                    "event": {"const": name},
                    "id": {"type": "string", "description": "<run_id>:<seq>"},
                    "data": {
                        "type": "string",
                        "contentMediaType": "application/json",
                        "contentSchema": {"$ref": f"#/components/schemas/{model.__name__}"},
                    },
                },
            }
        )
    return {"oneOf": variants}


def document_streams(schema: dict[str, Any]) -> dict[str, Any]:
    """Add the event models to ``schema``'s components and describe every SSE response. Idempotent."""
    _, defs = models_json_schema(
        [(m, "serialization") for m in EVENT_MODELS.values()], ref_template="#/components/schemas/{model}"
    )
    schema.setdefault("components", {}).setdefault("schemas", {}).update(defs.get("$defs", {}))
    item = _item_schema()
    for operations in schema.get("paths", {}).values():
        for operation in operations.values():
            content = (operation.get("responses", {}).get("200") or {}).get("content") or {}
            if "text/event-stream" in content:
                content["text/event-stream"] = {"itemSchema": item}
    return schema
