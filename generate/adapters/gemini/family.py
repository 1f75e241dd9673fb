"""The Gemini family: Google's Nano Banana image models, as the orchestration sees them.

:class:`GeminiFamily` answers for every name the catalog knows (ids, aliases, ``models/<id>``) and
for any ``gemini-*image*`` id it does not know yet. It registers itself on import, as a third-party
family would. Asking it anything but :meth:`GeminiFamily.create` reads the catalog and the
environment only: no network call, no client (google-genai is imported on first use).
"""

from __future__ import annotations

import os
from typing import Any

from generate.adapter import Availability, ImageModelAdapter, ModelFamily, register_family
from generate.adapters.gemini.catalog import estimate_cost, is_gemini_image_id, load_catalog

__all__ = ["GeminiFamily", "DEFAULT_MODEL"]

DEFAULT_MODEL = "nano-banana"  # what "auto" uses when GEMINI_MODEL is not set
_NO_CREDENTIALS = "no Gemini credentials (GEMINI_API_KEY, GOOGLE_API_KEY or Vertex AI)"


class GeminiFamily(ModelFamily):
    name = "gemini"
    display_name = "Google Gemini (Nano Banana)"
    auto_priority = 10  # "auto" prefers a generating model the user has credentials for

    def owns(self, model_name: str) -> bool:
        key = model_name.strip().removeprefix("models/")
        return load_catalog().get(key) is not None or is_gemini_image_id(model_name)

    def create(self, model_name: str, **options: Any) -> ImageModelAdapter:
        """Options: client, api_key, base_url, allow_retired, include_thoughts, dry_run, ..."""
        from generate.adapters.gemini.adapter import NanoBananaAdapter

        return NanoBananaAdapter(model_name, **options)

    def availability(self) -> Availability:
        from generate.adapters.gemini.adapter import gemini_credentials_configured

        found, how = gemini_credentials_configured()
        if found:
            return Availability(True, f"Gemini credentials found ({how})", credentials=True)
        if how.startswith(("Vertex AI", "GOOGLE_GENAI_USE_VERTEXAI")):  # Vertex chosen but incomplete
            return Availability(False, how, credentials=False)
        return Availability(
            False, _NO_CREDENTIALS, credentials=False, fix="set GEMINI_API_KEY to use Nano Banana"
        )

    def models(self) -> list[dict[str, Any]]:
        return [{**entry.describe(), "network": True} for entry in load_catalog().models]

    def default_model(self) -> str:
        return os.environ.get("GEMINI_MODEL", "").strip() or DEFAULT_MODEL

    def estimate_costs(
        self,
        *,
        image_size: str,
        num_references: int,
        input_images: int = 0,
        input_text_chars: int = 0,
        num_images: int = 1,
        conversation_model: str | None = None,
    ) -> list[dict[str, Any]]:
        """One row per catalog model not shut down (catalog prices; see ``catalog.estimate_cost``)."""
        rows = []
        for entry in load_catalog().models:
            status = entry.effective_status()
            if status == "shutdown":
                continue
            size = image_size if image_size in entry.image_sizes else None
            refs = min(num_references, entry.max_reference_images)
            if conversation_model is None:
                per = estimate_cost(entry, size, refs, input_images=input_images)
            elif entry.id == conversation_model:
                per = estimate_cost(
                    entry, size, 0, input_images=input_images, input_text_chars=input_text_chars
                )
            else:  # could not continue the conversation: it would get the sketch as an edit
                per = estimate_cost(entry, size, refs, input_images=1)
            rows.append(
                {
                    "model": entry.id,
                    "status": status,
                    "image_size": size,
                    "per_image_usd": round(per, 4),
                    "run_usd": round(per * num_images, 4),
                }
            )
        return rows


register_family(GeminiFamily())
