"""The tools' inputs and outputs as pydantic models: the one source of truth for their JSON schemas.

The MCP server (:mod:`mcp_server.server`) publishes ``input.model_json_schema()`` as each tool's
``inputSchema`` and ``output.model_json_schema()`` as its ``outputSchema``; :mod:`generate.tools`
turns the same models into OpenAI / Gemini function declarations. This module imports pydantic and
the library's own limits only, never the MCP SDK, so a function-calling agent that does not speak
MCP can use it without the SDK being importable.

Inputs are flat (strings, numbers, booleans), so every function-calling dialect takes their schema
as it is. ``None`` means "the style's or the model's default", as in :class:`generate.pipeline.RunRequest`.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, TypeAdapter, field_validator

from generate.budget import CostCap
from generate.iterate import MAX_INSTRUCTION_CHARS
from generate.pipeline import MAX_BRIEF_CHARS

__all__ = [
    "ToolSpec",
    "TOOL_SPECS",
    "tool_spec",
    "GenerateSketchesInput",
    "EstimateCostInput",
    "RefineSketchInput",
    "VarySketchInput",
    "ListStylesInput",
    "ListModelsInput",
    "GetRunInput",
    "ListRunsInput",
    "ToolErrorOut",
    "ToolErrorResult",
    "SketchOut",
    "ThumbnailsOut",
    "RunOut",
    "CostRowOut",
    "EstimateOut",
    "StyleOut",
    "StylesOut",
    "ModelOut",
    "ModelsOut",
    "RunFileOut",
    "RunDetailOut",
    "RunListItemOut",
    "RunListOut",
    "OVER_BUDGET",
    "NOT_FOUND",
]

# Tool error codes beside generate.errors.ErrorCode's (which cover a model call's failures).
OVER_BUDGET = "over_budget"  # the estimate is above max_cost_usd: refused before any model call
NOT_FOUND = "not_found"  # no such run, or no such file in it

_STRICT = ConfigDict(extra="forbid")

# Every image size any model family offers (list_models says which model offers which).
ImageSize = Literal["512", "1K", "2K", "4K"]
RunStatus = Literal["complete", "partial", "failed", "cancelled", "running", "interrupted"]
_STYLE_ID = r"^[a-z0-9][a-z0-9-]{0,63}$"  # style.models.Style's id rule
_RUN_ID = r"^\d{8}_\d{6}(?:_\d{1,4})?$"  # generate.runs.RUN_ID_PATTERN
_NAME = r"[A-Za-z0-9][A-Za-z0-9._:/@-]*"
_MODEL = rf"^{_NAME}(?: *, *{_NAME})*$"  # one model, or a fallback chain as a comma list
_ASPECT = r"^\d{1,2}:\d{1,2}$"
_DATE_CHARS = 40  # an ISO 8601 time with offset and microseconds is 32


# -- inputs -----------------------------------------------------------------------------------------
class _RunShape(BaseModel):
    model_config = _STRICT

    brief: str = Field(
        min_length=1, max_length=MAX_BRIEF_CHARS, description='What to sketch, e.g. "playful golf mascot".'
    )
    style_id: str = Field(
        default="vintage-mascot",
        max_length=64,
        pattern=_STYLE_ID,
        description="A house style id (see list_styles).",
    )
    num_images: int | None = Field(
        default=None, ge=3, le=6, description="3-6 sketches; default: the style's."
    )
    model: str = Field(
        default="auto",
        max_length=300,
        pattern=_MODEL,
        description="auto, trace (offline, free), nano-banana, nano-banana-pro or a model id (see list_models); "
        "a fallback chain as a comma list ('nano-banana-pro,trace'): a sketch whose call fails for capacity "
        "is tried on the next model.",
    )
    aspect_ratio: str | None = Field(
        default=None,
        max_length=5,
        pattern=_ASPECT,
        description="e.g. 1:1, 3:4, 16:9 (what the model offers); default: the style's.",
    )
    image_size: ImageSize = Field(default="1K", description="512, 1K, 2K or 4K (what the model offers).")
    seed: int | None = Field(
        default=None,
        ge=-(2**31),
        le=2**31 - 1,  # Gemini's seed is an int32
        description="Same seed, same variation plan (Gemini: best effort for the pixels).",
    )

    def run_request(self) -> dict[str, Any]:
        """The fields :class:`generate.pipeline.RunRequest` takes, unset ones left to its defaults."""
        return self.model_dump(exclude_none=True, exclude={"max_cost_usd"})


class GenerateSketchesInput(_RunShape):
    max_cost_usd: CostCap = Field(
        default=None,
        gt=0,
        allow_inf_nan=False,
        description="Refuse the call, before any model call, when the estimated cost is above this (USD).",
    )


class EstimateCostInput(_RunShape):
    """The same request as generate_sketches: nothing is called, nothing is paid."""


class _IterateShape(BaseModel):
    model_config = _STRICT

    run_id: str = Field(
        min_length=1,
        max_length=40,
        pattern=_RUN_ID,
        description="The run the sketch belongs to (see list_runs).",
    )
    index: int = Field(ge=0, le=63, description="Which sketch of that run (0-based).")


class RefineSketchInput(_IterateShape):
    instruction: str = Field(
        min_length=1, max_length=MAX_INSTRUCTION_CHARS, description='What to change, e.g. "bigger grin".'
    )
    num_images: int = Field(default=1, ge=1, le=6, description="1-6 revised sketches.")


class VarySketchInput(_IterateShape):
    instruction: str = Field(
        default="", max_length=MAX_INSTRUCTION_CHARS, description="Optional extra change for every variation."
    )
    num_images: int = Field(default=4, ge=1, le=6, description="1-6 variations.")


class ListStylesInput(BaseModel):
    model_config = _STRICT


class ListModelsInput(BaseModel):
    model_config = _STRICT


class GetRunInput(BaseModel):
    model_config = _STRICT

    run_id: str = Field(min_length=1, max_length=40, pattern=_RUN_ID, description="A run id (see list_runs).")
    thumbnails: bool = Field(default=False, description="Also return small previews of its sketches.")


class ListRunsInput(BaseModel):
    model_config = _STRICT

    style_id: str | None = Field(default=None, max_length=64, description="Only runs of this style.")
    model: str | None = Field(
        default=None, max_length=100, description="Only runs of this model (id or alias)."
    )
    status: RunStatus | None = Field(default=None, description="Only runs with this status.")
    since: str | None = Field(
        default=None, max_length=_DATE_CHARS, description="YYYY-MM-DD or an ISO 8601 time."
    )
    until: str | None = Field(
        default=None, max_length=_DATE_CHARS, description="YYYY-MM-DD or an ISO 8601 time."
    )
    limit: int = Field(default=20, ge=1, le=200)
    offset: int = Field(default=0, ge=0, le=10**9)

    @field_validator("since", "until")
    @classmethod
    def _a_date(cls, value: str | None) -> str | None:
        """Checked here, so that the error names the field (generate.runs reads the same forms)."""
        if value and value.strip():
            try:
                datetime.fromisoformat(value.strip())
            except ValueError:
                raise ValueError("must be YYYY-MM-DD or an ISO 8601 time") from None
        return value


# -- outputs ----------------------------------------------------------------------------------------
class ToolErrorOut(BaseModel):
    code: str = Field(
        description="A generate.errors.ErrorCode value (blocked_output, rate_limited, invalid_request, ...), "
        f"or {OVER_BUDGET!r} / {NOT_FOUND!r}."
    )
    message: str = Field(description="What went wrong and what to do about it.")
    retryable: bool = Field(default=False, description="Calling again unchanged may succeed.")
    field: str | None = Field(default=None, description="The input field at fault, when there is one.")


class ToolErrorResult(BaseModel):
    """``structuredContent`` of a call the tool refused (``isError: true``): no run was made."""

    error: ToolErrorOut


class SketchOut(BaseModel):
    index: int
    status: str = Field(description="completed | failed | cancelled")
    file: str | None = None
    uri: str | None = Field(
        default=None, description="sketchgen://runs/{run_id}/{file}: read it as a resource."
    )
    layout: str | None = None
    exaggeration: str | None = None
    model: str | None = Field(
        default=None,
        description="The model this sketch came from (of a fallback chain: the one that made it).",
    )
    fallbacks: list[str] = Field(
        default_factory=list, description="Models of the chain this sketch left first, in order."
    )
    error: ToolErrorOut | None = None
    attempts: int = 0
    latency_s: float | None = None
    cost_usd: float = 0.0


class ThumbnailsOut(BaseModel):
    count: int = Field(description="Image content blocks in this result.")
    max_px: int = Field(description="Longest side of each thumbnail.")
    total_bytes: int
    omitted: list[int] = Field(
        default_factory=list, description="Sketch indexes left out to stay under the size cap."
    )
    note: str = ""


class RunOut(BaseModel):
    """A finished run (generate_sketches, refine_sketch, vary_sketch)."""

    run_id: str
    status: str = Field(description="complete | partial | failed | cancelled")
    model: str = Field(description="The model actually used (never 'auto').")
    style_id: str | None = None
    num_images: int
    succeeded: int
    failed: int
    cancelled: int = 0
    cost_usd: float
    wall_s: float
    sketches: list[SketchOut]
    metadata_uri: str
    contact_sheet_uri: str | None = None
    warnings: list[str] = Field(default_factory=list)
    parent: dict[str, Any] | None = Field(
        default=None, description="For refine / vary: the sketch it came from."
    )
    thumbnails: ThumbnailsOut | None = None
    error: ToolErrorOut | None = Field(default=None, description="Set when no sketch could be made.")


class CostRowOut(BaseModel):
    model: str
    status: str | None = None
    image_size: str | None = None
    per_image_usd: float
    run_usd: float


class EstimateOut(BaseModel):
    model: str = Field(description="The model the run would use.")
    num_images: int
    aspect_ratio: str
    image_size: str
    run_usd: float | None = Field(description="Estimated cost of the run on that model; null if unknown.")
    per_image_usd: float | None = None
    estimates: list[CostRowOut] = Field(description="The same run on every selectable model.")
    warnings: list[str] = Field(default_factory=list)


class StyleOut(BaseModel):
    id: str
    name: str
    description: str
    aspect_ratio: str
    num_images: int
    visual_rules: list[str] = Field(default_factory=list)


class StylesOut(BaseModel):
    styles: list[StyleOut]


class ModelOut(BaseModel):
    model_config = ConfigDict(extra="allow")

    id: str = Field(description="Pass as `model`.")
    display_name: str | None = None
    status: str | None = None
    aspect_ratios: list[str] = Field(default_factory=list)
    image_sizes: list[str] = Field(default_factory=list)
    price_per_image_usd: dict[str, float] = Field(default_factory=dict)
    network: bool | None = None


class ModelsOut(BaseModel):
    models: list[ModelOut]


class RunFileOut(BaseModel):
    name: str
    uri: str
    size: int
    mime_type: str


class _RunHeader(BaseModel):
    """What a past run's record says of it, in get_run and list_runs alike."""

    run_id: str
    timestamp: str | None = None
    status: str | None = None
    style_id: str | None = None
    model: str | None = None
    brief: str | None = None
    num_images: int | None = None
    succeeded: int = 0
    failed: int = 0
    cancelled: int = 0
    cost_usd: float = 0.0


class RunDetailOut(_RunHeader):
    sketches: list[SketchOut] = Field(default_factory=list)
    files: list[RunFileOut] = Field(default_factory=list)
    parent: dict[str, Any] | None = None
    children: list[dict[str, Any]] = Field(default_factory=list)
    thumbnails: ThumbnailsOut | None = None


class RunListItemOut(_RunHeader):
    kind: str = "generate"
    metadata_uri: str


class RunListOut(BaseModel):
    runs: list[RunListItemOut]
    next_offset: int | None = Field(description="Pass as offset for the next page; null on the last page.")


# -- the tools ---------------------------------------------------------------------------------------
@dataclass(frozen=True)
class ToolSpec:
    name: str
    title: str
    description: str
    input: type[BaseModel]
    output: type[BaseModel]
    read_only: bool = True

    def input_schema(self) -> dict[str, Any]:
        return self.input.model_json_schema()

    def output_schema(self) -> dict[str, Any]:
        """The output model *or* :class:`ToolErrorResult`: a client that checks every
        ``structuredContent`` against ``outputSchema`` (error results too) finds both valid."""
        schema = TypeAdapter(self.output | ToolErrorResult).json_schema()
        return {"type": "object", "title": self.output.__name__, **schema}


TOOL_SPECS: tuple[ToolSpec, ...] = (
    ToolSpec(
        "generate_sketches",
        "Generate concept sketches",
        "Make 3-6 grayscale, draw-over-ready concept sketches for a design brief in a house style. "
        "Returns the run (ids, per-sketch status and errors, cost), small thumbnails, and the full "
        "files as sketchgen:// resources. Costs money on Gemini models: call estimate_cost first or "
        "pass max_cost_usd.",
        GenerateSketchesInput,
        RunOut,
        read_only=False,
    ),
    ToolSpec(
        "refine_sketch",
        "Refine one sketch",
        "Revise one sketch of an earlier run with an instruction; makes a child run.",
        RefineSketchInput,
        RunOut,
        read_only=False,
    ),
    ToolSpec(
        "vary_sketch",
        "Vary one sketch",
        "More sketches like one sketch of an earlier run: same subject, new layouts and exaggeration.",
        VarySketchInput,
        RunOut,
        read_only=False,
    ),
    ToolSpec(
        "estimate_cost",
        "Estimate a run's cost",
        "What generate_sketches would cost with these inputs, on the model it would use and on every "
        "other model. Calls no model.",
        EstimateCostInput,
        EstimateOut,
    ),
    ToolSpec(
        "list_styles", "List house styles", "The house styles a run can use.", ListStylesInput, StylesOut
    ),
    ToolSpec(
        "list_models",
        "List models",
        "The selectable models with their sizes, aspect ratios and prices.",
        ListModelsInput,
        ModelsOut,
    ),
    ToolSpec(
        "get_run", "Get a run", "One past run: its sketches, cost and files.", GetRunInput, RunDetailOut
    ),
    ToolSpec("list_runs", "List runs", "Past runs, newest first, with filters.", ListRunsInput, RunListOut),
)

_BY_NAME = {spec.name: spec for spec in TOOL_SPECS}


def tool_spec(name: str) -> ToolSpec | None:
    return _BY_NAME.get(name)
