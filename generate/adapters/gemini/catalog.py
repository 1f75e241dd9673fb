"""The Gemini image model catalog: ids, aliases, lifecycle, pixels, tokens and prices.

The figures are data (``generate/adapters/gemini/models.toml``), validated here by pydantic. Every value that
is not documented for an id is listed in that entry's ``unconfirmed`` list.

Contracts:

* :func:`resolve_model` accepts an id, an alias (``nano-banana``, ``nano-banana-pro``) or
  ``models/<id>``; anything else raises ``ConfigError(field="model")`` with the nearest name.
* :func:`check_lifecycle` raises ``ConfigError(field="model")`` for a model past its shutdown date
  (the message names the live replacement) and returns warnings for a deprecated one.
* :func:`cost_usd` prices a call from its reported usage per modality: image output tokens at the
  image rate, text and thinking tokens at the text rate, prompt tokens at the input rate. A blocked
  image (0 image tokens) costs no image price. :func:`estimate_cost` is the before-the-call guess.
  A sketch made through the Batch API costs ``batch_price_factor`` (documented: 50 %) of either.
"""

from __future__ import annotations

import datetime as dt
import difflib
import functools
import re
import tomllib
from importlib import resources
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from generate.adapter import Usage
from generate.errors import ConfigError
from generate.sheet_cut import SHEET_LAYOUTS

__all__ = [
    "ModelEntry",
    "Catalog",
    "load_catalog",
    "resolve_model",
    "entry_for_unknown",
    "is_gemini_image_id",
    "check_lifecycle",
    "cost_usd",
    "estimate_cost",
    "known_model_names",
]

Status = Literal["live", "deprecated", "shutdown", "shutdown-listed"]
_GEMINI_IMAGE_ID = re.compile(r"gemini-[a-z0-9.\-]*image[a-z0-9.\-]*")
_TEXT_TOKENS_PER_PROMPT = 350  # a compiled sketch prompt is ~1.2-1.6k characters


class ModelEntry(BaseModel):
    """One Gemini image model. Prices are USD per 1M tokens unless named ``price_per_image``."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    id: str
    display_name: str
    aliases: tuple[str, ...] = ()
    family: Literal["flash", "pro"]
    status: Status
    released: dt.date | None = None
    deprecated: dt.date | None = None
    shutdown: dt.date | None = None
    replaced_by: str | None = None
    aspect_ratios: tuple[str, ...]
    image_sizes: tuple[str, ...]
    default_image_size: str
    supports_image_size: bool
    pixels_1k: dict[str, tuple[int, int]] = Field(default_factory=dict)
    size_scale: dict[str, float]
    tokens_per_image: dict[str, int]
    price_per_image: dict[str, float]
    image_output_per_mtok: float
    text_output_per_mtok: float
    input_per_mtok: float
    input_image_tokens: int
    max_reference_images: int
    thinking: Literal["none", "optional", "always"]
    typical_thoughts_tokens: int = 0
    google_search: bool = False  # takes tools=[{google_search:{}}] (Grounding with Google Search)
    person_generation: bool = False  # takes imageConfig.personGeneration (Vertex AI only)
    # Sheet mode: per image size, the grids ("2x2", "3x2", ...: columns x rows) recommended there.
    sheet_layouts: dict[str, tuple[str, ...]] = Field(default_factory=dict)
    unconfirmed: tuple[str, ...] = ()
    notes: str = ""
    price_table_date: str = ""
    # The Batch API's price as a share of the standard one (the catalog's ``batch_price_factor``
    # unless an entry sets its own): every figure above times this, for a sketch made in a batch job.
    batch_price_factor: float = Field(default=0.5, gt=0, le=1)

    @model_validator(mode="after")
    def _consistent(self) -> ModelEntry:
        for table in ("size_scale", "tokens_per_image", "price_per_image"):
            missing = set(self.image_sizes) - set(getattr(self, table))
            if missing:
                raise ValueError(f"{table} lacks sizes {sorted(missing)}")
        if self.default_image_size not in self.image_sizes:
            raise ValueError(f"default_image_size {self.default_image_size!r} not in image_sizes")
        if set(self.sheet_layouts) - set(self.image_sizes):
            raise ValueError(
                f"sheet_layouts names sizes {sorted(set(self.sheet_layouts) - set(self.image_sizes))}"
            )
        unknown = {name for names in self.sheet_layouts.values() for name in names} - set(SHEET_LAYOUTS)
        if unknown:
            raise ValueError(f"sheet_layouts has unknown layouts {sorted(unknown)}")
        if self.pixels_1k and set(self.aspect_ratios) - set(self.pixels_1k):
            raise ValueError(
                f"pixel table lacks ratios {sorted(set(self.aspect_ratios) - set(self.pixels_1k))}"
            )
        return self

    @property
    def names(self) -> tuple[str, ...]:
        return (self.id, *self.aliases)

    def pixels(self, aspect_ratio: str, image_size: str | None = None) -> tuple[int, int] | None:
        """Expected output width x height, or None where the catalog does not know it."""
        size = image_size if image_size in self.size_scale else self.default_image_size
        base = self.pixels_1k.get(aspect_ratio)
        if base is None:
            return None
        scale = self.size_scale[size]
        return (round(base[0] * scale), round(base[1] * scale))

    def effective_status(self, today: dt.date | None = None) -> Status:
        """The status on ``today``: a listed shutdown date in the past means shut down."""
        today = today or dt.date.today()
        if self.status == "shutdown":
            return "shutdown"
        if self.shutdown is not None and today >= self.shutdown:
            return "shutdown-listed" if self.status == "shutdown-listed" else "shutdown"
        return self.status

    def describe(self) -> dict:
        """JSON-ready summary for ``sketchgen models`` / ``GET /models``."""
        return {
            "id": self.id,
            "display_name": self.display_name,
            "aliases": list(self.aliases),
            "status": self.effective_status(),
            "released": _iso(self.released),
            "deprecated": _iso(self.deprecated),
            "shutdown": _iso(self.shutdown),
            "replaced_by": self.replaced_by,
            "price_per_image_usd": dict(self.price_per_image),
            "batch_price_per_image_usd": {
                size: round(price * self.batch_price_factor, 4)
                for size, price in self.price_per_image.items()
            },
            "price_table_date": self.price_table_date,
            "tokens_per_image": dict(self.tokens_per_image),
            "max_reference_images": self.max_reference_images,
            "aspect_ratios": list(self.aspect_ratios),
            "image_sizes": list(self.image_sizes),
            "thinking": self.thinking,
            "google_search": self.google_search,
            "person_generation": self.person_generation,
            "sheet_layouts": {size: list(names) for size, names in self.sheet_layouts.items()},
            "unconfirmed": list(self.unconfirmed),
            "notes": self.notes,
        }


class Catalog(BaseModel):
    """The whole catalog file."""

    model_config = ConfigDict(frozen=True)

    schema_version: int
    price_table_date: str
    price_source: str
    batch_price_factor: float = Field(default=0.5, gt=0, le=1)
    batch_price_source: str = ""
    models: tuple[ModelEntry, ...]

    def by_name(self) -> dict[str, ModelEntry]:
        return {name.lower(): entry for entry in self.models for name in entry.names}

    def get(self, model_id: str) -> ModelEntry | None:
        return self.by_name().get(model_id.lower())


def _iso(value: dt.date | None) -> str | None:
    return value.isoformat() if value else None


@functools.lru_cache(maxsize=1)
def load_catalog() -> Catalog:
    """Load and validate ``generate/adapters/gemini/models.toml`` (cached; the file ships in the package)."""
    raw = tomllib.loads(
        resources.files("generate.adapters.gemini").joinpath("models.toml").read_text("utf-8")
    )
    tables = raw.pop("pixel_tables", {})
    models = []
    for item in raw.get("models", []):
        item = dict(item)
        table = item.pop("pixel_table", None)
        if table is not None:
            if table not in tables:
                raise ConfigError(
                    f"models.toml: {item.get('id')}: unknown pixel_table {table!r}", field="pixel_table"
                )
            item["pixels_1k"] = {k: tuple(v) for k, v in tables[table].items()}
        item["price_table_date"] = raw["price_table_date"]
        item.setdefault("batch_price_factor", raw.get("batch_price_factor", 0.5))
        models.append(item)
    catalog = Catalog.model_validate({**raw, "models": models})
    seen: dict[str, str] = {}
    for entry in catalog.models:
        for name in entry.names:
            if name.lower() in seen:
                raise ConfigError(
                    f"models.toml: name {name!r} used by {seen[name.lower()]} and {entry.id}", field="aliases"
                )
            seen[name.lower()] = entry.id
    return catalog


def known_model_names() -> list[str]:
    """Every catalog id and alias (for "did you mean" hints)."""
    return [name for entry in load_catalog().models for name in entry.names]


def is_gemini_image_id(name: str) -> bool:
    """True for ``gemini-*image*`` ids (optionally ``models/``-prefixed) the catalog may not know yet."""
    return _GEMINI_IMAGE_ID.fullmatch(name.lower().removeprefix("models/")) is not None


def resolve_model(name: str) -> ModelEntry:
    """The catalog entry for an id, alias or ``models/<id>``; ConfigError(field="model") otherwise."""
    key = (name or "").strip().removeprefix("models/")
    entry = load_catalog().get(key)
    if entry is not None:
        return entry
    names = known_model_names()
    close = difflib.get_close_matches(key, names, n=1, cutoff=0.5)
    hint = f"; did you mean {close[0]!r}?" if close else ""
    raise ConfigError(f"unknown Gemini image model {name!r}{hint} Known: {', '.join(names)}", field="model")


def entry_for_unknown(model_id: str) -> ModelEntry:
    """An entry for a ``gemini-*image*`` id missing from the catalog: Pro figures, all unconfirmed.

    Lets a newly released id be used before the catalog is updated; cost figures are a guess and the
    entry says so in ``unconfirmed``.
    """
    base = resolve_model("gemini-3-pro-image")
    model_id = model_id.removeprefix("models/")
    return base.model_copy(
        update={
            "id": model_id,
            "display_name": model_id,
            "aliases": (),
            "status": "live",
            "released": None,
            "replaced_by": None,
            "unconfirmed": (
                "not in the catalog: capabilities, pixels and prices assumed equal to gemini-3-pro-image",
            ),
            "notes": "Unknown to the catalog; treated like Nano Banana Pro.",
        }
    )


def check_lifecycle(entry: ModelEntry, today: dt.date | None = None) -> list[str]:
    """Raise ConfigError for a shut-down model; return warnings for a deprecated one."""
    status = entry.effective_status(today)
    replacement = f" Use {entry.replaced_by!r} instead." if entry.replaced_by else ""
    if status in ("shutdown", "shutdown-listed"):
        when = f" on {entry.shutdown.isoformat()}" if entry.shutdown else ""
        verb = "is listed for shutdown" if status == "shutdown-listed" else "was shut down"
        raise ConfigError(
            f"model {entry.id!r} {verb}{when} and no longer answers.{replacement}"
            " (If your endpoint still serves it: allow_retired=True, or --allow-retired.)",
            field="model",
        )
    if status == "deprecated":
        since = f" since {entry.deprecated.isoformat()}" if entry.deprecated else ""
        until = (
            f"; shutdown {entry.shutdown.isoformat()}" if entry.shutdown else "; shutdown date not announced"
        )
        return [f"model {entry.id!r} is deprecated{since}{until}.{replacement}"]
    return []


def cost_usd(entry: ModelEntry, usage: Usage) -> float:
    """USD cost of one call from its usage, per modality (see module docstring)."""
    text_tokens = usage.output_text_tokens
    if not text_tokens and usage.output_tokens > usage.output_image_tokens:
        text_tokens = usage.output_tokens - usage.output_image_tokens
    cost = (
        usage.prompt_tokens * entry.input_per_mtok
        + usage.output_image_tokens * entry.image_output_per_mtok
        + (text_tokens + usage.thoughts_tokens) * entry.text_output_per_mtok
    ) / 1_000_000
    return round(cost, 6)


def estimate_cost(
    entry: ModelEntry,
    image_size: str | None = None,
    num_refs: int = 0,
    *,
    input_images: int = 0,
    input_text_chars: int = 0,
) -> float:
    """Expected USD cost of one image before the call: image price + prompt + typical thinking.

    ``input_images`` / ``input_text_chars``: what else goes in as input besides the prompt and the
    references, e.g. a refinement's history (earlier prompts, references, the model's own image)
    or an image to edit. Input images are priced at ``input_image_tokens`` each, text at ~4
    characters a token.
    """
    size = image_size if image_size in entry.price_per_image else entry.default_image_size
    refs = min(num_refs, entry.max_reference_images)
    prompt_tokens = (
        _TEXT_TOKENS_PER_PROMPT + (refs + input_images) * entry.input_image_tokens + -(-input_text_chars // 4)
    )
    cost = (
        entry.price_per_image[size]
        + prompt_tokens * entry.input_per_mtok / 1_000_000
        + entry.typical_thoughts_tokens * entry.text_output_per_mtok / 1_000_000
    )
    return round(cost, 6)
