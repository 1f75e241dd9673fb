"""The ``openai`` model family: ``openai:<id>`` names, availability, the listing, dry-run estimates.

Registered on import (``generate.adapter`` loads it with the built-ins). It reads only the catalog
(``models.toml``) and the environment: the ``openai`` SDK is imported when an adapter is built
(:meth:`OpenAIFamily.create`), so a run of another model never pays for importing it.

``auto_priority`` 20: after Gemini (10), before the offline trace model, so "auto" picks OpenAI when
only an OpenAI key is configured.
"""

from __future__ import annotations

import importlib.util
import os
from typing import Any

from generate.adapter import Availability, ImageModelAdapter, ModelFamily, register_family
from generate.adapters.openai.catalog import IMAGE_SIZES, PREFIX, estimate_cost, load_catalog, resolve_model
from generate.errors import ConfigError

__all__ = ["OpenAIFamily", "openai_credentials", "KEY_ENV", "BASE_URL_ENV", "QUALITY_ENV"]

KEY_ENV, BASE_URL_ENV, QUALITY_ENV = "OPENAI_API_KEY", "OPENAI_BASE_URL", "SKETCHGEN_OPENAI_QUALITY"


def openai_credentials(api_key: str | None = None) -> tuple[bool, str]:
    """Whether an OpenAI key is configured, and a reason that names the variable, never the value."""
    if api_key:
        return True, "an API key was passed explicitly"
    if os.environ.get(KEY_ENV, "").strip():
        return True, f"{KEY_ENV} is set"
    return False, f"{KEY_ENV} is not set"


class OpenAIFamily(ModelFamily):
    """The ``openai`` family: ``openai:<id>`` names (and bare catalog ids)."""

    name = "openai"
    display_name = "OpenAI GPT Image"
    auto_priority = 20  # after Gemini: "auto" picks OpenAI when only an OpenAI key is configured

    def owns(self, model_name: str) -> bool:
        name = (model_name or "").strip().lower()
        return name.startswith(PREFIX) or load_catalog().get(name) is not None

    def create(self, model_name: str, **options: Any) -> ImageModelAdapter:
        resolve_model(model_name)  # an unknown id is a ConfigError whether or not the SDK is installed
        try:
            from generate.adapters.openai.adapter import OpenAIImageAdapter
        except ModuleNotFoundError as exc:
            if exc.name != "openai":
                raise
            raise ConfigError(
                f"model {model_name!r} needs the openai package: pip install 'openai>=3.57'", field="model"
            ) from None
        return OpenAIImageAdapter(model_name, **options)

    def availability(self) -> Availability:
        """Credentials from the environment, and whether the SDK is installed (no import of it)."""
        ok, reason = openai_credentials()
        if importlib.util.find_spec("openai") is None:
            return Availability(
                False,
                "the openai package is not installed",
                credentials=ok,
                extra_installed=False,
                fix="pip install 'openai>=3.57'",
            )
        if ok:
            return Availability(True, reason, credentials=True)
        return Availability(
            False, f"no OpenAI API key ({reason})", credentials=False, fix=f"set {KEY_ENV} to use OpenAI"
        )

    def _quality(self) -> str:
        quality = os.environ.get(QUALITY_ENV, "").strip().lower()
        return quality or load_catalog().default_quality

    def models(self) -> list[dict[str, Any]]:
        quality = self._quality()
        return [e.describe(quality if quality in e.qualities else "medium") for e in load_catalog().models]

    def default_model(self) -> str | None:
        return PREFIX + load_catalog().default_model

    def estimate_costs(
        self,
        *,
        image_size: str,
        num_references: int,
        input_images: int = 0,
        input_text_chars: int = 0,
        num_images: int = 1,
        conversation_model: str | None = None,
        aspect_ratio: str | None = None,
    ) -> list[dict[str, Any]]:
        """One row per model not shut down, at the configured quality and the size ``aspect_ratio``
        makes on that model (as the adapter's own estimate prices it); a model that does not offer
        the ratio is priced at 1024x1024 with ``image_size`` None (not offered). OpenAI models hold
        no conversation: a multi-turn refinement of another model's sketch reaches one as an edit of
        that sketch (one input image) with the references."""
        if conversation_model is not None:
            input_images, input_text_chars = 1, 0
        quality, rows = self._quality(), []
        for entry in load_catalog().models:
            status = entry.effective_status()
            if status == "shutdown":
                continue
            size = entry.sizes.get(aspect_ratio or "1:1")
            per = estimate_cost(
                entry,
                quality if quality in entry.qualities else "medium",
                size or "1024x1024",
                input_images=num_references + input_images,
                input_text_chars=input_text_chars,
            )
            rows.append(
                {
                    "model": entry.name,
                    "status": status,
                    "image_size": image_size if image_size in IMAGE_SIZES and size else None,
                    "per_image_usd": round(per, 4),
                    "run_usd": round(per * num_images, 4),
                }
            )
        return rows


register_family(OpenAIFamily())
