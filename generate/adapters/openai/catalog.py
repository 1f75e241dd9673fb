"""The OpenAI GPT Image catalog: ids, lifecycle, sizes, qualities, token rates (``models.toml``).

The figures are data, validated here by pydantic; every value not read on an official page for an
id is listed in that entry's ``unconfirmed`` list.

Contracts:

* :func:`resolve_model` accepts ``openai:<id>`` or a bare catalog id; anything else raises
  ``ConfigError(field="model")`` naming the nearest id and the known ones.
* :meth:`ModelEntry.size_for` maps sketchgen's (aspect ratio, image size) to the OpenAI size string,
  raising ``ConfigError`` that names what the model offers.
* :func:`cost_usd` prices one call from the usage the API returned: input text tokens at the text
  rate, input image tokens at the image-input rate, output tokens (image and any text) at the image
  output rate. :func:`estimate_cost` is the before-the-call guess from the ``output_tokens`` table.
"""

from __future__ import annotations

import datetime as dt
import difflib
import functools
import math
import tomllib
from importlib import resources
from typing import Literal

from pydantic import BaseModel, ConfigDict

from generate.errors import ConfigError

__all__ = [
    "PREFIX",
    "ModelEntry",
    "Catalog",
    "load_catalog",
    "resolve_model",
    "cost_usd",
    "estimate_cost",
    "IMAGE_SIZES",
]

PREFIX = "openai:"
IMAGE_SIZES = ("1K",)  # every OpenAI size offered here is about one megapixel
_PROMPT_TEXT_TOKENS = 350  # a compiled sketch prompt is ~1.2-1.6k characters
_INPUT_IMAGE_TOKENS = 1300  # an input image of ~1 MP, high fidelity off (UNCONFIRMED: varies with size)

Status = Literal["live", "deprecated", "shutdown"]


class ModelEntry(BaseModel):
    """One GPT Image model. Rates are USD per 1M tokens."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    id: str
    display_name: str
    status: Status
    deprecated: dt.date | None = None
    shutdown: dt.date | None = None
    replaced_by: str | None = None
    sizes: dict[str, str]  # aspect ratio -> "WIDTHxHEIGHT"
    qualities: tuple[str, ...]
    input_fidelity: tuple[str, ...] = ()  # values the model takes; () means the field is not sent
    text_input_per_mtok: float
    image_input_per_mtok: float
    image_output_per_mtok: float
    output_tokens: dict[str, dict[str, int]]  # quality -> size -> tokens of one image
    max_input_images: int = 16  # the edits endpoint takes up to 16 images [sdk]
    unconfirmed: tuple[str, ...] = ()
    notes: str = ""
    prices_as_of: str = ""

    @property
    def name(self) -> str:
        return PREFIX + self.id

    @property
    def aspect_ratios(self) -> tuple[str, ...]:
        return tuple(self.sizes)

    def effective_status(self, today: dt.date | None = None) -> Status:
        """The status on ``today``: a shutdown date in the past means shut down."""
        if self.shutdown is not None and self.shutdown <= (today or dt.date.today()):
            return "shutdown"
        return self.status

    def size_for(self, aspect_ratio: str, image_size: str = "1K") -> str:
        """The OpenAI ``size`` string for a sketchgen aspect ratio and image size."""
        if image_size not in IMAGE_SIZES:
            raise ConfigError(
                f"image size {image_size!r} is not offered by model {self.name!r}; it offers: "
                f"{', '.join(IMAGE_SIZES)} (quality low/medium/high is set with SKETCHGEN_OPENAI_QUALITY)",
                field="image_size",
            )
        size = self.sizes.get(aspect_ratio)
        if size is None:
            raise ConfigError(
                f"aspect ratio {aspect_ratio!r} is not offered by model {self.name!r}; it offers: "
                f"{', '.join(self.sizes)}",
                field="aspect_ratio",
            )
        return size

    def image_tokens(self, quality: str, size: str) -> int:
        """Estimated output tokens of one image (tables are for the three standard sizes; others
        scale by pixel area; qualities above ``high`` count as ``high``)."""
        table = self.output_tokens.get(quality) or self.output_tokens["high"]
        if size in table:
            return table[size]
        width, height = (int(v) for v in size.split("x"))
        return math.ceil(table["1024x1024"] * width * height / (1024 * 1024))

    def price_per_image(self, quality: str, size: str = "1024x1024") -> float:
        return round(self.image_tokens(quality, size) * self.image_output_per_mtok / 1_000_000, 6)

    def describe(self, quality: str) -> dict:
        """The entry for `sketchgen models` / ``GET /models``."""
        return {
            "id": self.name,
            "display_name": self.display_name,
            "aliases": [self.id],
            "status": self.effective_status(),
            "shutdown": self.shutdown.isoformat() if self.shutdown else None,
            "replaced_by": PREFIX + self.replaced_by if self.replaced_by else None,
            "aspect_ratios": list(self.aspect_ratios),
            "image_sizes": list(IMAGE_SIZES),
            "sizes": dict(self.sizes),
            "qualities": list(self.qualities),
            "quality": quality,
            "max_reference_images": self.max_input_images,
            "network": True,
            "price_per_image_usd": {"1K": self.price_per_image(quality)},
            "rates_per_mtok_usd": {
                "text_input": self.text_input_per_mtok,
                "image_input": self.image_input_per_mtok,
                "image_output": self.image_output_per_mtok,
            },
            "prices_as_of": self.prices_as_of,
            "unconfirmed": list(self.unconfirmed),
        }


class Catalog(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    schema_version: int
    prices_as_of: str
    price_source: str
    default_model: str
    default_quality: str
    models: tuple[ModelEntry, ...]

    def get(self, name: str) -> ModelEntry | None:
        key = (name or "").strip().lower().removeprefix(PREFIX)
        return next((e for e in self.models if e.id == key), None)


@functools.lru_cache(maxsize=1)
def load_catalog() -> Catalog:
    """Load and validate ``generate/adapters/openai/models.toml`` (cached; it ships in the package)."""
    raw = tomllib.loads(
        resources.files("generate.adapters.openai").joinpath("models.toml").read_text("utf-8")
    )
    tables = raw.pop("size_tables")
    tokens = raw.pop("output_tokens")
    models = []
    for item in raw.get("models", []):
        item = dict(item)
        table = item.pop("size_table")
        if table not in tables:
            raise ConfigError(
                f"models.toml: {item.get('id')}: unknown size_table {table!r}", field="size_table"
            )
        models.append(
            {**item, "sizes": tables[table], "output_tokens": tokens, "prices_as_of": raw["prices_as_of"]}
        )
    catalog = Catalog.model_validate({**raw, "models": models})
    if catalog.get(catalog.default_model) is None:
        raise ConfigError(
            f"models.toml: default_model {catalog.default_model!r} is not listed", field="default_model"
        )
    return catalog


def resolve_model(name: str) -> ModelEntry:
    """The entry for ``openai:<id>`` or ``<id>``; ConfigError(field="model") otherwise."""
    catalog = load_catalog()
    entry = catalog.get(name)
    if entry is not None:
        return entry
    names = [e.name for e in catalog.models]
    close = difflib.get_close_matches((name or "").strip().lower(), names, n=1, cutoff=0.5)
    hint = f"; did you mean {close[0]!r}?" if close else ""
    raise ConfigError(f"unknown OpenAI image model {name!r}{hint} Known: {', '.join(names)}", field="model")


def cost_usd(entry: ModelEntry, *, text_in: int, image_in: int, output: int) -> float:
    """USD cost of one call from its reported usage (see the module docstring)."""
    cost = (
        text_in * entry.text_input_per_mtok
        + image_in * entry.image_input_per_mtok
        + output * entry.image_output_per_mtok
    ) / 1_000_000
    return round(cost, 6)


def estimate_cost(
    entry: ModelEntry, quality: str, size: str, *, input_images: int = 0, input_text_chars: int = 0
) -> float:
    """Expected USD cost of one image before the call: the image, the prompt, every input image."""
    return cost_usd(
        entry,
        text_in=_PROMPT_TEXT_TOKENS + -(-input_text_chars // 4),
        image_in=min(input_images, entry.max_input_images) * _INPUT_IMAGE_TOKENS,
        output=entry.image_tokens(quality, size),
    )
