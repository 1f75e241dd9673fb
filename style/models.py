"""The Style data model: what a house style file must contain.

Style files are TOML (``tomllib`` is in the standard library, and TOML's comments suit hand-edited
files). Validation is pydantic; :mod:`style.registry` turns a validation failure into a
:class:`generate.errors.StyleError` naming the file and the field.
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

__all__ = ["Style", "GLOBAL_SKETCH_RULES", "GLOBAL_NEGATIVE_RULES", "Exaggeration"]

Exaggeration = Literal["subtle", "moderate", "bold"]

# Every style inherits these (DESIGN §2.1); the prompt compiler always includes them.
GLOBAL_SKETCH_RULES: tuple[str, ...] = (
    "black and white or grayscale only",
    "rough pencil or loose ink linework",
    "thick, confident outlines",
    "minimal interior detail",
    "clean, plain white background",
    "easy for a designer to draw over",
    "looks like a 10-15 minute human concept sketch",
)
GLOBAL_NEGATIVE_RULES: tuple[str, ...] = (
    "no colour",
    "no gradients",
    "no textures or halftone fills",
    "no photorealism or 3D rendering",
    "no typography, lettering or logos unless the brief asks for them",
)


class Style(BaseModel):
    """A house style. ``source`` is the file it was loaded from (None for styles built in code)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    id: str = Field(pattern=r"^[a-z0-9][a-z0-9-]{0,63}$")
    name: str = Field(min_length=1)
    description: str = Field(min_length=1)
    visual_rules: list[str] = Field(default_factory=list)
    negative_rules: list[str] = Field(default_factory=list)
    # Folders of reference images; relative paths are resolved against the style file's folder.
    reference_dirs: list[Path] = Field(default_factory=list)
    # File names, relative paths or glob patterns of references never to retrieve.
    do_not_use: list[str] = Field(default_factory=list)
    aspect_ratio: str = Field(default="1:1", pattern=r"^\d{1,2}:\d{1,2}$")
    num_images: int = Field(default=4, ge=3, le=6)
    layouts: list[str] | None = None  # override the default layout cycle (names from prompt.variation)
    exaggeration: list[Exaggeration] | None = None  # override the default exaggeration cycle
    keywords: list[str] = Field(default_factory=list)  # extra subject words for lexical retrieval
    source: Path | None = None

    @field_validator("visual_rules", "negative_rules", "do_not_use", "keywords")
    @classmethod
    def _no_blank_entries(cls, value: list[str]) -> list[str]:
        cleaned = [v.strip() for v in value]
        if any(not v for v in cleaned):
            raise ValueError("entries must not be blank")
        return cleaned
