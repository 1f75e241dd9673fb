"""The "auto" model: Nano Banana when Gemini credentials are configured, else the offline trace model.

The choice and its reason travel with the adapter (``selection_reason``) into the run's events,
metadata and CLI output, so nobody mistakes a traced sketch for a generated one.
"""

from __future__ import annotations

import logging
import os

from generate.adapter import ImageModelAdapter, get_adapter, register_adapter

__all__ = ["choose_model", "AUTO_GEMINI_DEFAULT"]

log = logging.getLogger("sketchgen.generate")
AUTO_GEMINI_DEFAULT = "nano-banana"


def choose_model() -> tuple[str, str]:
    """(model name, one-line reason) that "auto" resolves to right now."""
    from generate.adapters.gemini.adapter import gemini_credentials_configured

    configured, how = gemini_credentials_configured()
    if configured:
        model = os.environ.get("GEMINI_MODEL", "").strip() or AUTO_GEMINI_DEFAULT
        return model, f"auto: Gemini credentials found ({how}), using {model}"
    if how.startswith(("Vertex AI", "GOOGLE_GENAI_USE_VERTEXAI")):  # Vertex chosen but incomplete: say what
        return "trace", (
            f"auto: {how}; so using the offline 'trace' model, which traces reference images rather than "
            "generating from text"
        )
    return "trace", (
        "auto: no Gemini credentials (GEMINI_API_KEY, GOOGLE_API_KEY or Vertex AI), so using the offline "
        "'trace' model, which traces reference images rather than generating from text; "
        "set GEMINI_API_KEY to use Nano Banana, or pass --model trace to choose it explicitly"
    )


def _auto_factory(name: str, **options) -> ImageModelAdapter:
    model, reason = choose_model()
    adapter = get_adapter(model, **options)
    adapter.selection_reason = reason
    if model == "trace":
        log.warning("%s", reason)
    return adapter


register_adapter("auto", _auto_factory)
