"""GenerationConfig (what the caller asks for) and GenerationResult (what a run produced)."""

from __future__ import annotations

import math
import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from generate.errors import ConfigError
from generate.sheet_cut import SheetLayout

__all__ = [
    "GenerationConfig",
    "GenerationResult",
    "SketchResult",
    "MIN_IMAGES",
    "MAX_IMAGES",
    "PERSON_GENERATION",
    "parse_modalities",
    "DEFAULT_MAX_CONCURRENCY",
    "DEFAULT_TIMEOUT_S",
    "MAX_TIMEOUT_S",
    "check_timeout",
    "check_max_cost",
    "check_environment",
]

MIN_IMAGES = 3
MAX_IMAGES = 6
MODALITIES = {"image": ("IMAGE",), "text+image": ("TEXT", "IMAGE")}
PERSON_GENERATION = ("ALLOW_ALL", "ALLOW_ADULT", "ALLOW_NONE")
# Model calls in flight in one process, all runs together. Gemini is limited by the project's
# quota (requests and images per minute), not by connections: a 429 with RetryInfo says when to come
# back, and the retry loop honours it. A small cap only queues calls locally, where a few hung ones
# (each holding its slot until its timeout) stall everyone. 256 lets the service's default run cap
# (SKETCHGEN_MAX_RUNS = 64) of 4-sketch runs all be in flight at once; what a call in flight costs
# here is a socket, a coroutine and, once answered, one image being converted.
DEFAULT_MAX_CONCURRENCY = 256
# Per call. Pro-class calls at 4K can take minutes (docs/gemini-api-facts.md §11 row 15).
DEFAULT_TIMEOUT_S = 180.0
MAX_TIMEOUT_S = 3600.0
_RATIO = re.compile(r"^\d{1,2}:\d{1,2}$")


def _default_model() -> str:
    return os.environ.get("GEMINI_MODEL", "").strip() or "auto"


def check_timeout(value: object, *, source: str = "timeout_s") -> float:
    """``value`` as a per-call timeout in seconds; ConfigError (field ``timeout_s``) naming ``source``."""
    if isinstance(value, bool):
        value = None
    try:
        seconds = float(value)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        raise ConfigError(f"{source} must be a number of seconds, got {value!r}", field="timeout_s") from None
    if not math.isfinite(seconds) or not 0 < seconds <= MAX_TIMEOUT_S:
        raise ConfigError(
            f"{source} must be more than 0 and at most {MAX_TIMEOUT_S:g} seconds, got {value!r}",
            field="timeout_s",
        )
    return seconds


def check_max_cost(value: object, *, source: str = "max_cost_usd") -> float | None:
    """``value`` as a budget cap in USD (None: no cap); ConfigError (field ``max_cost_usd``) naming
    ``source`` for anything but a finite number above 0 (a cap of 0 or less could never be met)."""
    if value is None:
        return None
    if isinstance(value, bool):
        value = str(value)
    try:
        usd = float(value)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        raise ConfigError(
            f"{source} must be a number of US dollars, got {value!r}", field="max_cost_usd"
        ) from None
    if not math.isfinite(usd) or usd <= 0:
        raise ConfigError(f"{source} must be more than 0 US dollars, got {value!r}", field="max_cost_usd")
    return usd


def _default_timeout() -> float:
    raw = os.environ.get("SKETCHGEN_TIMEOUT_S", "").strip()
    return check_timeout(raw, source="SKETCHGEN_TIMEOUT_S") if raw else DEFAULT_TIMEOUT_S


def _default_concurrency() -> int:
    raw = os.environ.get("SKETCHGEN_MAX_CONCURRENCY", "").strip()
    if not raw:
        return DEFAULT_MAX_CONCURRENCY
    try:
        value = int(raw)
    except ValueError:
        raise ConfigError(
            f"SKETCHGEN_MAX_CONCURRENCY must be a whole number, got {raw!r}", field="max_concurrency"
        ) from None
    if value < 1:
        raise ConfigError("SKETCHGEN_MAX_CONCURRENCY must be at least 1", field="max_concurrency")
    return value


def check_environment() -> None:
    """Raise ConfigError now if ``SKETCHGEN_TIMEOUT_S``, ``SKETCHGEN_MAX_CONCURRENCY`` or
    ``SKETCHGEN_RATE_LIMITS`` is invalid (the service calls this at start-up, so a typo is not
    answered 422 on every request)."""
    from generate.quota import check_rate_limits

    _default_timeout()
    _default_concurrency()
    check_rate_limits()


def default_output_root() -> Path:
    return Path(os.environ.get("SKETCHGEN_OUTPUT_DIR", "").strip() or "generated_outputs")


@dataclass
class GenerationConfig:
    """Options for one run. Validated on construction; every error names its field.

    ``resolution``: when set (the default), every sketch file is exactly this (width, height);
    ``None`` keeps the model's own pixel size. ``aspect_ratio`` ``None`` means the style's default.
    ``model_name`` defaults to ``$GEMINI_MODEL``, else "auto" (Nano Banana when Gemini credentials
    are configured, otherwise the offline ``trace`` model). A list, or a comma list
    (``"nano-banana-pro,trace"``), is a fallback chain tried in order per sketch
    (:mod:`generate.fallback`); it is kept as the comma string, and :attr:`model_chain` lists it.

    Request options, checked against the model (its catalog entry) before any call:

    * ``seed`` shapes the variation plan and the trace model's output, and is sent to Gemini as
      ``generationConfig.seed`` — best effort there: the same seed does not promise the same image.
    * ``response_modalities``: ``("TEXT", "IMAGE")`` (the default) or ``("IMAGE",)``; also written
      as the strings ``"text+image"`` / ``"image"``. Image-only cannot be combined with
      ``google_search`` (Google: image-only does not work with grounding).
    * ``google_search``: ground the image in Google Search results (models whose catalog entry
      says ``google_search = true``); the queries and sources are recorded per sketch.
    * ``person_generation``: ``ALLOW_ALL`` / ``ALLOW_ADULT`` / ``ALLOW_NONE``; Vertex AI only (the
      Gemini API does not take it, and it is refused there before any call).

    ``max_cost_usd``: a cap on the run's worst-case cost (see :mod:`generate.budget`); a run whose
    estimate is over it is refused before any call. ``None``: no cap.

    ``sheet`` (``"2x2"``, ``"3x2"``, ``"2x3"``, ``"3x3"``: columns x rows) makes every sketch from one
    call, one per cell of a grid (:mod:`generate.sheet`); ``num_images`` then defaults to the cell
    count and must equal it when given (ConfigError, field ``num_images``). Whether the model and
    size can hold the grid is checked when the run is prepared (field ``sheet``).
    """

    num_images: int | None = None  # None: 4, or with ``sheet`` the sheet's cell count
    resolution: tuple[int, int] | None = (1024, 1024)
    aspect_ratio: str | None = None
    image_size: str = "1K"
    model_name: str | list[str] = field(default_factory=_default_model)
    seed: int | None = None
    timeout_s: float = field(default_factory=_default_timeout)  # per call; $SKETCHGEN_TIMEOUT_S
    max_attempts: int = 4
    max_concurrency: int = field(default_factory=_default_concurrency)
    output_dir: Path | str | None = None
    enforce_grayscale: bool = True
    initial_backoff_s: float = 1.0
    max_backoff_s: float = 60.0
    stream_previews: bool = False
    response_modalities: tuple[str, ...] | str = ("TEXT", "IMAGE")
    google_search: bool = False
    person_generation: str | None = None
    # A first run makes 3-6 sketches; a refinement or variation of one sketch may make 1-6.
    min_images: int = MIN_IMAGES
    # Runs sharing a group count as one owner in the process-wide schedulers (a model's pace and
    # the call slots): a batch passes its id, so its runs together share fairly with an interactive
    # run instead of each taking a share of their own. None: the run is its own owner.
    schedule_group: str | None = None
    max_cost_usd: float | None = None
    # Sheet mode: "2x2", "3x2", "2x3" or "3x3" (columns x rows): one call, one image holding that
    # grid of variations, cut into one sketch per cell (see generate.sheet).
    sheet: str | None = None

    def __post_init__(self) -> None:
        if self.min_images not in range(1, MIN_IMAGES + 1):
            raise ConfigError(f"min_images must be from 1 to {MIN_IMAGES}", field="min_images")
        lo, hi = self.min_images, MAX_IMAGES
        if self.sheet is not None:
            layout = SheetLayout.parse(self.sheet)
            self.sheet = layout.name
            if self.num_images is None:
                self.num_images = layout.cells
            elif self.num_images != layout.cells:
                raise ConfigError(
                    f"num_images {self.num_images!r} does not match sheet {layout.name} ({layout.cells} cells): "
                    f"leave num_images out or set it to {layout.cells}",
                    field="num_images",
                )
            lo = hi = layout.cells
        elif self.num_images is None:
            self.num_images = 4
        if isinstance(self.num_images, bool) or not isinstance(self.num_images, int):
            raise ConfigError(f"num_images must be a whole number from {lo} to {hi}", field="num_images")
        if not lo <= self.num_images <= hi:
            raise ConfigError(
                f"num_images must be from {lo} to {hi}, got {self.num_images}",
                field="num_images",
            )
        if self.resolution is not None:
            try:
                w, h = (int(v) for v in self.resolution)
            except (TypeError, ValueError):
                raise ConfigError(
                    "resolution must be (width, height) in pixels", field="resolution"
                ) from None
            if not (64 <= w <= 8192 and 64 <= h <= 8192):
                raise ConfigError(
                    f"resolution must be between 64 and 8192 pixels a side, got {w}x{h}", field="resolution"
                )
            self.resolution = (w, h)
        if self.aspect_ratio is not None and not _RATIO.match(self.aspect_ratio):
            raise ConfigError(
                f"aspect_ratio must look like '16:9', got {self.aspect_ratio!r}", field="aspect_ratio"
            )
        self.image_size = str(self.image_size).strip()
        if self.image_size.lower() in {"1k", "2k", "4k"}:
            self.image_size = self.image_size.upper()  # the API rejects lowercase sizes
        if isinstance(self.model_name, list | tuple) or "," in str(self.model_name or ""):
            from generate.fallback import split_chain

            self.model_name = ",".join(split_chain(self.model_name))  # a fallback chain, one string
        if not self.model_name or not str(self.model_name).strip():
            raise ConfigError("model_name must not be empty", field="model")
        if self.seed is not None and (isinstance(self.seed, bool) or not isinstance(self.seed, int)):
            raise ConfigError("seed must be a whole number", field="seed")
        self.timeout_s = check_timeout(self.timeout_s)
        self.max_cost_usd = check_max_cost(self.max_cost_usd)
        if not 1 <= self.max_attempts <= 10:
            raise ConfigError("max_attempts must be from 1 to 10", field="max_attempts")
        if self.max_concurrency < 1:
            raise ConfigError("max_concurrency must be at least 1", field="max_concurrency")
        self.response_modalities = parse_modalities(self.response_modalities)
        if not isinstance(self.google_search, bool):
            raise ConfigError("google_search must be true or false", field="google_search")
        if self.google_search and self.response_modalities == ("IMAGE",):
            raise ConfigError(
                "response_modalities image-only cannot be combined with google_search "
                "(grounding needs text and image); use text+image",
                field="response_modalities",
            )
        if self.person_generation is not None:
            value = str(self.person_generation).strip().upper()
            if value not in PERSON_GENERATION:
                raise ConfigError(
                    f"person_generation must be one of {', '.join(PERSON_GENERATION)}, "
                    f"got {self.person_generation!r}",
                    field="person_generation",
                )
            self.person_generation = value

    @property
    def model_chain(self) -> list[str]:
        """The model names tried in order per sketch (one name: no fallback)."""
        return [n.strip() for n in str(self.model_name).split(",")]

    def request_options(self) -> dict[str, Any]:
        """The options every :class:`ImageRequest` of the run carries (see the class docstring)."""
        return {
            "seed": self.seed,
            "google_search": self.google_search,
            "person_generation": self.person_generation,
            "response_modalities": self.response_modalities,
        }

    @property
    def output_root(self) -> Path:
        return Path(self.output_dir) if self.output_dir is not None else default_output_root()


def parse_modalities(value: Any) -> tuple[str, ...]:
    """``("TEXT", "IMAGE")`` or ``("IMAGE",)`` from a tuple/list or ``"text+image"`` / ``"image"``."""
    if isinstance(value, str):
        key = value.strip().lower().replace(",", "+").replace(" ", "")
        if key in ("image+text", "text+image"):
            key = "text+image"
        if key not in MODALITIES:
            raise ConfigError(
                f"response_modalities must be 'image' or 'text+image', got {value!r}",
                field="response_modalities",
            )
        return MODALITIES[key]
    try:
        names = {str(v).strip().upper() for v in value}
    except TypeError:
        raise ConfigError(
            "response_modalities must be 'image' or 'text+image'", field="response_modalities"
        ) from None
    for modalities in MODALITIES.values():
        if names == set(modalities):
            return modalities
    raise ConfigError(
        f"response_modalities must be ['IMAGE'] or ['TEXT', 'IMAGE'], got {sorted(names)}",
        field="response_modalities",
    )


@dataclass
class SketchResult:
    """One sketch's outcome, at its own index."""

    index: int
    status: str  # "completed" | "failed" | "cancelled"
    path: Path | None = None
    file: str | None = None
    variation: dict[str, Any] = field(default_factory=dict)
    error: dict[str, Any] | None = None  # {code, message, retryable, ...}
    attempts: int = 0
    latency_s: float | None = None
    cost_usd: float = 0.0
    record: dict[str, Any] = field(default_factory=dict)  # the full per-sketch metadata record
    model: str | None = None  # the model this sketch came from (the last one tried if it failed)
    # Models of a fallback chain this sketch left first, in order: {model, error_code, message, attempts}.
    fallbacks: list[dict[str, Any]] = field(default_factory=list)


@dataclass
class GenerationResult:
    """What a run produced. ``images`` lists the written sketch paths in index order (failed ones left out)."""

    run_id: str
    status: str  # complete | partial | failed | cancelled
    images: list[Path]
    sketches: list[SketchResult]
    metadata_path: Path
    output_dir: Path
    timestamp: str
    model: str
    cost_usd: float
    wall_s: float
    image_errors: dict[int, dict[str, Any]] = field(default_factory=dict)
    prompt_spec: Any = None
    reference_images: list[Path] = field(default_factory=list)
    config: GenerationConfig | None = None
    contact_sheet_path: Path | None = None
    warnings: list[str] = field(default_factory=list)
    # A refine / vary / edit run: ``parent`` {run_id, index, instruction, kind, ...} (None for an
    # edit of the designer's own image) and ``iteration`` {kind, path, reason, ...}, as in metadata.
    parent: dict[str, Any] | None = None
    iteration: dict[str, Any] | None = None
