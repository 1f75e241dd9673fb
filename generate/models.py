"""The models a user can pick, for `sketchgen models` and `GET /models`."""

from __future__ import annotations

from typing import Any

__all__ = ["list_models"]


def list_models() -> list[dict[str, Any]]:
    """Every selectable model: "auto", the offline "trace" model, then the Gemini catalog.

    Each entry has at least ``id``, ``display_name``, ``status``, ``price_per_image_usd``,
    ``aspect_ratios``, ``image_sizes`` and ``network``; concrete models also say whether they take
    ``google_search`` and ``person_generation``. "auto"'s ``resolves_to`` is the ``id`` of another
    entry (an alias such as ``nano-banana`` is resolved to its catalog id), so a client can show that
    model's sizes and prices. Building this makes no network call and needs no credentials.
    """
    from generate.adapters.gemini.catalog import load_catalog, resolve_model
    from generate.adapters.trace.adapter import TraceAdapter
    from generate.auto import choose_model
    from generate.errors import ConfigError

    chosen, reason = choose_model()
    if chosen != "trace":
        try:
            chosen = resolve_model(chosen).id
        except ConfigError:  # a gemini-*image* id the catalog does not know yet: named as given
            pass
    trace = TraceAdapter()
    caps = trace.capabilities
    out: list[dict[str, Any]] = [
        {
            "id": "auto",
            "display_name": "Automatic",
            "aliases": [],
            "status": "live",
            "price_per_image_usd": {},
            "aspect_ratios": [],
            "image_sizes": [],
            "network": None,
            "resolves_to": chosen,
            "notes": reason,
        },
        {
            "id": "trace",
            "display_name": "Trace (offline)",
            "aliases": [],
            "status": "live",
            "price_per_image_usd": {size: 0.0 for size in caps.image_sizes},
            "aspect_ratios": list(caps.aspect_ratios),
            "image_sizes": list(caps.image_sizes),
            "max_reference_images": caps.max_reference_images,
            "network": False,
            "google_search": "google_search" in caps.request_options,
            "person_generation": "person_generation" in caps.request_options,
            "notes": "Traces a reference image into a rough pencil sketch with the sketch's layout and "
            "exaggeration; no key, no network, no cost. A tracing aid and dry-run model, not text-to-image.",
        },
    ]
    for entry in load_catalog().models:
        out.append({**entry.describe(), "network": True})
    return out
