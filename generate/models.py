"""The models a user can pick, for `sketchgen models` and `GET /models`, asked of every registered family."""

from __future__ import annotations

from typing import Any

from generate.adapter import availability_of, families, models_of

__all__ = ["list_models", "list_families", "listed_id"]


def list_families() -> list[dict[str, Any]]:
    """Every registered family: ``name``, ``display_name``, ``auto_priority`` and its availability
    (``available``, ``reason``, ``credentials``, ``extra_installed``, ``weights_present``, ``fix``)."""
    return [
        {
            "name": f.name,
            "display_name": f.display_name or f.name,
            "auto_priority": f.auto_priority,
            **availability_of(f).to_dict(),
        }
        for f in families()
    ]


def list_models() -> list[dict[str, Any]]:
    """Every selectable model: "auto", then each family's models in registration order.

    Each entry has at least ``id``, ``display_name``, ``status``, ``price_per_image_usd``,
    ``aspect_ratios``, ``image_sizes`` and ``network``; a family's models add ``family``,
    ``available`` and ``availability`` (the family's :class:`generate.adapter.Availability` as a
    dict, with its ``reason`` line). "auto"'s ``resolves_to`` is the ``id`` of another entry (an
    alias such as ``nano-banana`` is resolved to its id), so a client can show that model's sizes
    and prices. Building this makes no network call and needs no credentials.
    """
    from generate.auto import choose_model

    out: list[dict[str, Any]] = []
    for family in families():
        availability = availability_of(family).to_dict()
        for entry in models_of(family):
            out.append(
                {
                    **entry,
                    "family": family.name,
                    "available": availability["available"],
                    "availability": availability,
                }
            )
    chosen, reason = choose_model()
    auto = {
        "id": "auto",
        "display_name": "Automatic",
        "aliases": [],
        "status": "live",
        "price_per_image_usd": {},
        "aspect_ratios": [],
        "image_sizes": [],
        "network": None,
        "resolves_to": listed_id(chosen, out) or chosen,  # an id the listing lacks: named as given
        "notes": reason,
    }
    return [auto, *out]


def listed_id(name: str, entries: list[dict[str, Any]] | None = None) -> str | None:
    """The listed ``id`` that ``name`` (an id, an alias or ``models/<id>``, any case) names, or None."""
    if entries is None:
        entries = [entry for family in families() for entry in models_of(family)]
    key = name.strip().removeprefix("models/").lower()
    for entry in entries:
        if key == entry["id"].lower() or key in (a.lower() for a in entry.get("aliases") or ()):
            return entry["id"]
    return None
