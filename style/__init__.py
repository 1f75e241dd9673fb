"""House styles: the :class:`Style` model, the global sketch rules and the :class:`StyleRegistry`."""

from style.models import GLOBAL_NEGATIVE_RULES, GLOBAL_SKETCH_RULES, Exaggeration, Style
from style.registry import BUILTIN_STYLES_DIR, STYLES_DIR_ENV, StyleRegistry, load_style_file

__all__ = [
    "Style",
    "Exaggeration",
    "GLOBAL_SKETCH_RULES",
    "GLOBAL_NEGATIVE_RULES",
    "StyleRegistry",
    "load_style_file",
    "BUILTIN_STYLES_DIR",
    "STYLES_DIR_ENV",
]
