"""Request and response models of the HTTP API.

Every endpoint declares one of these, so ``/openapi.json`` describes the whole service. The request
model checks what can be checked without the library (types, 3-6 sketches, brief length, formats);
everything that depends on the style registry or the model catalog (unknown style, a ratio or size
the model cannot make) is checked by ``SketchPipeline.validate`` before any paid call, and both kinds
of failure answer 422 with the same :class:`ErrorBody` naming the field.
"""

from __future__ import annotations

import base64
import binascii
import re
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from generate.budget import CostCap
from generate.sheet_cut import SheetLayout

__all__ = [
    "MAX_BRIEF_CHARS",
    "GenerateRequest",
    "GenerateQuery",
    "RefineBody",
    "VaryBody",
    "MAX_UPLOAD_B64_CHARS",
    "SketchError",
    "SketchOut",
    "GenerateResponse",
    "ErrorBody",
    "ErrorItem",
    "AUTH_RESPONSES",
    "not_found_responses",
    "StyleOut",
    "ModelOut",
    "RunSummary",
    "RunList",
    "RunFile",
    "RunDetail",
    "Health",
]

MAX_BRIEF_CHARS = 2000
# base64 of generate.inputs.MAX_INPUT_BYTES (20 MiB), plus room for a data: URL prefix.
MAX_UPLOAD_B64_CHARS = 4 * (20 * 1024 * 1024 + 2) // 3 + 64
MAX_INSTRUCTION_CHARS = 1000
_DATA_URL = re.compile(r"^data:image/[a-z0-9.+-]+;base64,", re.IGNORECASE)
_RESOLUTION = re.compile(r"^\s*(\d{2,5})\s*[xX×]\s*(\d{2,5})\s*$")


def _whole_number_not_boolean(value: Any) -> Any:
    """JSON ``true`` is not a count or a seed: pydantic's lax mode would take it as 1 and run."""
    if isinstance(value, bool):
        raise ValueError("must be a whole number, not true or false")
    return value


class GenerateRequest(BaseModel):
    """One run: what ``POST /generate``, ``POST /generate-stream`` (JSON body) and
    ``GET /generate-stream`` (query parameters) accept. Unset fields take the style's or the
    library's defaults."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    brief: str = Field(
        min_length=1,
        max_length=MAX_BRIEF_CHARS,
        description="What to sketch, in the designer's words.",
        examples=["playful golf mascot"],
    )
    style_id: str = Field(
        default="vintage-mascot",
        min_length=1,
        max_length=64,
        description="A style id from GET /styles.",
        examples=["vintage-mascot"],
    )
    num_images: int | None = Field(
        default=None, ge=3, le=6, description="How many sketches (3-6); default: the style's."
    )
    model: str | None = Field(
        default=None,
        max_length=400,
        description="A model name or alias from GET /models ('auto', 'trace', 'nano-banana', ...); "
        "default: $GEMINI_MODEL, else 'auto'. A fallback chain, tried in order per sketch when a "
        "call fails for capacity or quota: a comma list 'nano-banana-pro,trace' or a JSON list.",
    )
    aspect_ratio: str | None = Field(
        default=None,
        pattern=r"^\d{1,2}:\d{1,2}$",
        description="'W:H', one the model supports; default: the style's.",
        examples=["1:1"],
    )
    image_size: str | None = Field(
        default=None,
        max_length=8,
        description="The model's image size ('1K', '2K', '4K', ...).",
        examples=["1K"],
    )
    resolution: str | None = Field(
        default=None,
        description="Exact pixel size of each sketch file, 'WIDTHxHEIGHT' (a [w, h] list is accepted "
        "in JSON); default: the library's.",
        examples=["1024x1024"],
    )
    seed: int | None = Field(
        default=None,
        ge=-(2**63),
        le=2**63 - 1,
        description="Same seed, same variation plan (and trace output). Sent to Gemini models as "
        "generationConfig.seed, which they honour best effort only; Gemini takes -2147483648 to "
        "2147483647.",
    )
    response_modalities: Literal["text+image", "image"] | None = Field(
        default=None,
        description="What the model answers with: 'text+image' (default) or 'image' (image only; "
        "not with google_search).",
    )
    google_search: bool | None = Field(
        default=None,
        description="Ground the sketches in Google Search results (models whose GET /models entry "
        "has google_search: true); the queries and sources are recorded per sketch.",
    )
    person_generation: Literal["ALLOW_ALL", "ALLOW_ADULT", "ALLOW_NONE"] | None = Field(
        default=None,
        description="Whether people may be drawn. Vertex AI only: refused (422) in Gemini API mode.",
    )
    top_k: int | None = Field(default=None, ge=0, le=14, description="How many reference images to retrieve.")
    sheet: Literal["2x2", "3x2", "2x3", "3x3"] | None = Field(
        default=None,
        description="Sheet mode: one call for a grid of sketches (columns x rows), cut into one sketch "
        "per cell; num_images is then the cell count. Layouts per model and size: GET /models "
        "(sheet_layouts).",
    )
    allow_retired: bool | None = Field(
        default=None,
        description="Run a model past its shutdown date anyway, for an endpoint that still serves it; "
        "default: no (such a model is refused with 422 naming its replacement).",
    )
    previews: bool | None = Field(
        default=None,
        description="Stream interim images as sketch.preview events where the model makes them "
        "(Nano Banana Pro's thought images); default: no.",
    )
    timeout_s: float | None = Field(
        default=None,
        le=3600,
        allow_inf_nan=False,
        description="Seconds (more than 0) each model call may take before it is abandoned (and "
        "retried); default: the service's $SKETCHGEN_TIMEOUT_S, else 180.",
        examples=[60],
    )
    max_cost_usd: CostCap = Field(
        default=None,
        allow_inf_nan=False,
        description="A cap in USD (more than 0): a run whose worst-case cost estimate is over it is "
        "refused with 422 (field max_cost_usd) before any model call.",
        examples=[0.6],
    )
    image_base64: str | None = Field(
        default=None,
        description="The designer's own drawing or photo, base64 (standard or URL-safe; a data: URL is "
        "accepted): every sketch redraws it. PNG, JPEG or WebP judged by its bytes, at most 20 MiB.",
    )
    references_base64: list[str] = Field(
        default_factory=list,
        max_length=14,
        description="Extra reference images for this run, base64 like image_base64; sent before what "
        "retrieval found, at most what the model takes.",
    )

    @field_validator("image_base64", "references_base64")
    @classmethod
    def _decodable(cls, value: Any) -> Any:
        for item in [value] if isinstance(value, str) else value or []:
            if len(item) > MAX_UPLOAD_B64_CHARS:  # checked here for a clear message, not by max_length
                raise ValueError("the image is larger than 20 MiB, the limit")
            try:
                _b64decode(item)
            except (binascii.Error, ValueError):
                raise ValueError("not valid base64") from None
        return value

    def image_bytes(self) -> bytes:
        return _b64decode(self.image_base64 or "")

    def reference_bytes(self) -> list[bytes]:
        return [_b64decode(item) for item in self.references_base64]

    @field_validator("model", mode="before")
    @classmethod
    def _chain_list(cls, value: Any) -> Any:
        """A JSON list of model names is the same chain as their comma list."""
        if isinstance(value, list):
            if not all(isinstance(v, str) for v in value):
                raise ValueError("model must be a name or a list of names")
            return ",".join(v.strip() for v in value)
        return value

    @field_validator("num_images", "seed", "top_k", mode="before")
    @classmethod
    def _not_a_boolean(cls, value: Any) -> Any:
        return _whole_number_not_boolean(value)

    @model_validator(mode="before")
    @classmethod
    def _sheet_count(cls, data: Any) -> Any:
        return SheetLayout.drop_matching_count(data)

    @field_validator("brief")
    @classmethod
    def _brief_has_words(cls, value: str) -> str:
        if not any(ch.isalnum() for ch in value):
            raise ValueError("the brief must contain words")
        return value

    @field_validator("timeout_s")
    @classmethod
    def _timeout_positive(cls, value: float | None) -> float | None:
        if value is not None and value <= 0:
            raise ValueError(f"must be more than 0 seconds (got {value:g})")
        return value

    @field_validator("resolution", mode="before")
    @classmethod
    def _resolution_text(cls, value: Any) -> Any:
        if isinstance(value, (list, tuple)):
            if len(value) != 2:
                raise ValueError("resolution must be [width, height]")
            value = f"{value[0]}x{value[1]}"
        if value is None or value == "":
            return None
        match = _RESOLUTION.match(str(value))
        if not match:
            raise ValueError("resolution must look like '1024x1024'")
        return f"{int(match[1])}x{int(match[2])}"

    def resolution_tuple(self) -> tuple[int, int] | None:
        if not self.resolution:
            return None
        width, height = self.resolution.lower().split("x")
        return int(width), int(height)


class GenerateQuery(GenerateRequest):
    """``GET /generate-stream``'s query parameters: the request, plus ``token`` for EventSource."""

    token: str | None = Field(
        default=None, description="The API token, for EventSource clients that cannot send headers."
    )

    def to_request(self) -> GenerateRequest:
        return GenerateRequest.model_validate(self.model_dump(exclude={"token"}))


def _b64decode(text: str) -> bytes:
    """Standard or URL-safe base64, padded or not, optionally as a data: URL."""
    text = _DATA_URL.sub("", text.strip()).replace("-", "+").replace("_", "/")
    return base64.b64decode(text + "=" * (-len(text) % 4), validate=True)


class RefineBody(BaseModel):
    """``POST /runs/{run_id}/sketches/{index}/refine`` (and ``-stream``): a child run revising the sketch."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    instruction: str = Field(
        min_length=1,
        max_length=MAX_INSTRUCTION_CHARS,
        description="What to change, in the designer's words.",
        examples=["make the cap bigger, keep the pose"],
    )
    num_images: int = Field(default=1, ge=1, le=6, description="How many takes (1-6).")
    model: str | None = Field(default=None, max_length=100, description="Default: the parent's model.")
    seed: int | None = Field(default=None, ge=-(2**63), le=2**63 - 1)
    previews: bool = False

    @field_validator("num_images", "seed", mode="before")
    @classmethod
    def _not_a_boolean(cls, value: Any) -> Any:
        return _whole_number_not_boolean(value)


class VaryBody(RefineBody):
    """``POST /runs/{run_id}/sketches/{index}/vary`` (and ``-stream``): more like the sketch."""

    instruction: str = Field(
        default="", max_length=MAX_INSTRUCTION_CHARS, description="Optional extra change."
    )
    num_images: int = Field(default=4, ge=1, le=6, description="How many variations (1-6).")


class SketchError(BaseModel):
    code: str = Field(description="A generate.errors.ErrorCode value, e.g. 'blocked_output'.")
    message: str
    retryable: bool = False


class SketchOut(BaseModel):
    index: int
    status: str = Field(description="completed | failed | cancelled")
    file: str | None = None
    url: str | None = Field(default=None, description="GET this to download the sketch.")
    error: SketchError | None = None
    variation: dict[str, Any] = Field(default_factory=dict)
    attempts: int = 0
    latency_s: float | None = None
    cost_usd: float = 0.0
    model: str | None = Field(
        default=None, description="The model this sketch came from (the last one tried if it failed)."
    )
    fallbacks: list[dict[str, Any]] = Field(
        default_factory=list,
        description="Models of a fallback chain this sketch left first: {model, error_code, message, attempts}.",
    )
    sheet: dict[str, Any] | None = Field(
        default=None,
        description="Sheet mode: {layout, cell: [row, col], box: [x0, y0, x1, y1] or null, source}; "
        "cost_usd is the cell's share of the one call.",
    )


class GenerateResponse(BaseModel):
    run_id: str
    status: str = Field(description="complete | partial | failed | cancelled")
    model: str = Field(description="The model actually used (never 'auto').")
    style_id: str | None = None
    num_images: int
    succeeded: int
    failed: int
    cost_usd: float
    wall_s: float
    sketches: list[SketchOut]
    run_url: str
    metadata_url: str
    contact_sheet_url: str | None = None
    warnings: list[str] = Field(default_factory=list)
    parent: dict[str, Any] | None = Field(
        default=None, description="For a refine / vary run: {run_id, index, instruction, kind, ...}."
    )
    iteration: dict[str, Any] | None = Field(
        default=None,
        description="For a refine / vary / edit run: {kind, path: multi_turn | edit, reason, ...}.",
    )


class ErrorItem(BaseModel):
    loc: list[str | int]
    msg: str
    type: str


class ErrorBody(BaseModel):
    """Every 4xx/5xx the API itself produces. ``field`` names the culprit when there is one."""

    message: str
    field: str | None = None
    detail: list[ErrorItem] | str | None = None
    code: str | None = Field(
        default=None, description="A machine-readable reason where one helps: `budget_exceeded`."
    )


AUTH_RESPONSES: dict[int | str, dict[str, Any]] = {
    401: {"model": ErrorBody, "description": "API token missing or wrong"},
}
"""The OpenAPI ``responses`` of an endpoint behind ``SKETCHGEN_API_TOKEN``."""


def not_found_responses(what: str) -> dict[int | str, dict[str, Any]]:
    """:data:`AUTH_RESPONSES` plus the 404 of an endpoint that names a ``what`` ("run", "style")."""
    return {**AUTH_RESPONSES, 404: {"model": ErrorBody, "description": f"No such {what}"}}


class StyleOut(BaseModel):
    """A house style, without server-side paths."""

    id: str
    name: str
    description: str
    visual_rules: list[str]
    negative_rules: list[str]
    aspect_ratio: str
    num_images: int
    layouts: list[str] | None = None
    exaggeration: list[str] | None = None
    keywords: list[str] = Field(default_factory=list)
    builtin: bool = True
    reference_dirs: int = Field(default=0, description="How many reference folders the style uses.")


class ModelOut(BaseModel):
    """One entry of the model catalog (``generate.models.list_models``); extra fields pass through."""

    model_config = ConfigDict(extra="allow")

    id: str = Field(description="Pass as `model` in a run request.")
    display_name: str | None = None
    status: str | None = Field(default=None, description="Lifecycle status, e.g. 'live', 'deprecated'.")
    aspect_ratios: list[str] = Field(default_factory=list, description="Empty: decided when resolved.")
    image_sizes: list[str] = Field(default_factory=list)
    price_per_image_usd: dict[str, float] = Field(default_factory=dict)
    network: bool | None = None
    family: str | None = Field(default=None, description="The model family, e.g. 'gemini', 'trace'.")
    available: bool | None = Field(default=None, description="Whether its family can make images here now.")
    availability: dict[str, Any] | None = Field(
        default=None,
        description="The family's availability: available, reason (one line), credentials, "
        "extra_installed, weights_present (null: not needed), fix (what to do).",
    )


class RunSummary(BaseModel):
    model_config = ConfigDict(extra="allow")

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
    billed: dict[str, float] = Field(
        default_factory=dict,
        description="What the run was billed on each UTC day (YYYY-MM-DD: USD): its start day, and the "
        "day of each resume that billed anything. Spend and the daily budget count it so.",
    )
    favourite: bool = False
    url: str = Field(description="GET this for the run's metadata.")
    image_urls: list[str] = Field(default_factory=list)
    contact_sheet_url: str | None = None


class CatalogState(BaseModel):
    building: bool = Field(
        description="The run catalog is being built from the run folders now: the list may be short."
    )
    indexed: int | None = Field(default=None, description="While building: the runs catalogued so far.")


class RunList(BaseModel):
    runs: list[RunSummary]
    limit: int
    offset: int
    next_offset: int | None = Field(description="Pass as offset for the next page; null on the last page.")
    catalog: CatalogState | None = Field(
        default=None,
        description="The run catalog's state; null where the run folders are read instead of a catalog.",
    )


class RunFile(BaseModel):
    name: str
    url: str
    size: int
    content_type: str


class RunDetail(BaseModel):
    """A run's ``metadata.json`` as written by the library, plus ``files`` with their URLs."""

    model_config = ConfigDict(extra="allow")

    run_id: str
    status: str | None = None
    files: list[RunFile] = Field(default_factory=list)
    favourite: bool = Field(default=False, description="Starred (PUT /runs/{run_id}/favourite).")
    parent: dict[str, Any] | None = Field(default=None, description="The run this one refines, if any.")
    children: list[dict[str, Any]] = Field(
        default_factory=list,
        description="Runs made from this one's sketches: {run_id, url, kind, index, ...}.",
    )


class Health(BaseModel):
    status: str = "ok"
    version: str
    runs_in_flight: int
    max_runs: int
    auth_required: bool
