"""PromptSpec and the per-sketch variation: the data the prompt stage hands to the generator."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field

__all__ = ["PromptSpec", "SketchVariation"]


class PromptSpec(BaseModel):
    """A compiled brief. ``prompt_text`` is what is sent before per-sketch variation is added."""

    model_config = ConfigDict(frozen=True)

    brief: str
    intent: str
    refined_intent: str
    subject_terms: list[str] = Field(default_factory=list)
    style_id: str
    visual_rules: list[str] = Field(default_factory=list)
    negative_constraints: list[str] = Field(default_factory=list)
    context_notes: list[str] = Field(default_factory=list)
    compiler: str = "template-v1"
    token_estimate: int = 0
    token_budget: int = 0
    trimmed: bool = False
    prompt_text: str


class SketchVariation(BaseModel):
    """One sketch's deliberate variation; recorded per sketch in metadata."""

    model_config = ConfigDict(frozen=True)

    index: int
    layout: str  # e.g. "centered-hero", "three-quarter", "close-up-bust", ...
    layout_description: str
    exaggeration: str  # "subtle" | "moderate" | "bold"
    exaggeration_description: str
    prompt: str  # the exact prompt for this sketch
