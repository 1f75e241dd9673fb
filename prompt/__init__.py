"""Brief -> PromptSpec (:class:`PromptCompiler`) and the per-sketch variation plan."""

# The generate package imports the compiler, and the compiler imports generate's errors and
# adapter types: generate is loaded first, whole, so that `from prompt.compiler import ...` as a
# program's first import does not meet a half-loaded module.
import generate  # noqa: F401  (isort: keep first)
from prompt.compiler import (
    DEFAULT_TOKEN_BUDGET,
    TOKEN_BUDGET_ENV,
    PromptCompiler,
    PromptTrimmedWarning,
    asks_for_lettering,
    estimate_tokens,
)
from prompt.spec import PromptSpec, SketchVariation
from prompt.variation import (
    DEFAULT_LAYOUT_ORDER,
    EXAGGERATION_LEVELS,
    LAYOUTS,
    MAX_SKETCHES,
    MIN_SKETCHES,
    plan_variations,
    variation_block,
)

__all__ = [
    "PromptCompiler",
    "PromptSpec",
    "SketchVariation",
    "PromptTrimmedWarning",
    "plan_variations",
    "variation_block",
    "estimate_tokens",
    "asks_for_lettering",
    "LAYOUTS",
    "DEFAULT_LAYOUT_ORDER",
    "EXAGGERATION_LEVELS",
    "MIN_SKETCHES",
    "MAX_SKETCHES",
    "DEFAULT_TOKEN_BUDGET",
    "TOKEN_BUDGET_ENV",
]
