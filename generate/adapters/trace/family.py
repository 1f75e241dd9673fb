"""The trace family: the one offline ``trace`` model, always available, free, chosen by "auto" last.

Registers itself on import, as a third-party family would.
"""

from __future__ import annotations

from typing import Any

from generate.adapter import Availability, ImageModelAdapter, ModelFamily, register_family

__all__ = ["TraceFamily"]

_NOTES = (
    "Traces a reference image into a rough pencil sketch with the sketch's layout and exaggeration; "
    "no key, no network, no cost. A tracing aid and dry-run model, not text-to-image."
)


def _adapter(**options: Any) -> ImageModelAdapter:
    from generate.adapters.trace.adapter import TraceAdapter

    return TraceAdapter(**options)


def _sheet_layouts(adapter: ImageModelAdapter) -> dict[str, list[str]]:
    """The sheets the adapter's own check takes at each size for a square image (as a Gemini
    catalog's ``sheet_layouts``, which ignore the ratio too); at a narrow ratio a layout whose cells
    would be too small is still refused at the request, saying why."""
    from generate.errors import ConfigError
    from generate.sheet_cut import SHEET_LAYOUTS, SheetLayout

    offered: dict[str, list[str]] = {}
    for size in adapter.capabilities.image_sizes:
        for name in SHEET_LAYOUTS:
            try:
                adapter.check_sheet(SheetLayout.parse(name), aspect_ratio="1:1", image_size=size)
            except ConfigError:
                continue
            offered.setdefault(size, []).append(name)
    return offered


class TraceFamily(ModelFamily):
    name = "trace"
    display_name = "Trace (offline)"
    auto_priority = 1000  # the fallback when no generating model is available

    def owns(self, model_name: str) -> bool:
        return model_name == "trace"

    def create(self, model_name: str, **options: Any) -> ImageModelAdapter:
        """The factory ignores options meant for other adapters (client, api_key, ...)."""
        return _adapter(**options)

    def availability(self) -> Availability:
        return Availability(True, "offline: needs no key, no network, no weights")

    def models(self) -> list[dict[str, Any]]:
        adapter = _adapter()
        caps = adapter.capabilities
        return [
            {
                "id": "trace",
                "display_name": self.display_name,
                "aliases": [],
                "status": "live",
                "price_per_image_usd": {size: 0.0 for size in caps.image_sizes},
                "aspect_ratios": list(caps.aspect_ratios),
                "image_sizes": list(caps.image_sizes),
                "max_reference_images": caps.max_reference_images,
                "network": False,
                "google_search": "google_search" in caps.request_options,
                "person_generation": "person_generation" in caps.request_options,
                "sheet_layouts": _sheet_layouts(adapter),
                "notes": _NOTES,
            }
        ]

    def default_model(self) -> str:
        return "trace"

    def auto_label(self, model_name: str) -> str:
        return "the offline 'trace' model, which traces reference images rather than generating from text"

    def estimate_costs(self, *, image_size: str, num_images: int = 1, **_: Any) -> list[dict[str, Any]]:
        sizes = _adapter().capabilities.image_sizes
        size = image_size if image_size in sizes else None
        return [
            {"model": "trace", "status": "live", "image_size": size, "per_image_usd": 0.0, "run_usd": 0.0}
        ]


register_family(TraceFamily())
