"""A third-party model family, "stub", registered the way an outside package would register one.

One model, ``stub:pencil``: free of network, priced at $0.01 (1K) / $0.02 (2K) per image, available
only while ``STUB_FAMILY_READY`` is set (its credentials, as far as the orchestration can tell).
``registered(priority)`` registers it for the length of a ``with`` block, then removes it.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator
from typing import Any

from generate.adapter import (
    AdapterCapabilities,
    Availability,
    ImageModelAdapter,
    ImageRequest,
    ModelFamily,
    ModelImage,
    register_family,
    unregister_family,
)
from generate.testing import make_image

MODEL = "stub:pencil"
READY_VAR = "STUB_FAMILY_READY"
PRICES = {"1K": 0.01, "2K": 0.02}


class StubAdapter(ImageModelAdapter):
    name = MODEL
    capabilities = AdapterCapabilities(
        max_reference_images=2, aspect_ratios=("1:1", "3:4", "4:3"), image_sizes=tuple(PRICES), network=False
    )

    def generate(self, request: ImageRequest) -> ModelImage:
        return ModelImage(
            data=make_image(256, 256, request.index),
            mime_type="image/png",
            model=MODEL,
            cost_usd=PRICES[request.image_size],
        )

    def estimate_cost(self, request: ImageRequest) -> float:
        return PRICES[request.image_size]


class StubFamily(ModelFamily):
    name = "stub"
    display_name = "Stub pencils"

    def __init__(self, priority: int | None) -> None:
        self.auto_priority = priority

    def owns(self, model_name: str) -> bool:
        return model_name == MODEL

    def create(self, model_name: str, **options: Any) -> ImageModelAdapter:
        return StubAdapter()

    def availability(self) -> Availability:
        if os.environ.get(READY_VAR):
            return Availability(True, f"{READY_VAR} is set", credentials=True)
        return Availability(False, f"{READY_VAR} is not set", credentials=False, fix=f"set {READY_VAR}")

    def models(self) -> list[dict[str, Any]]:
        caps = StubAdapter.capabilities
        return [
            {
                "id": MODEL,
                "display_name": "Stub pencil",
                "aliases": ["pencil-stub"],
                "status": "live",
                "price_per_image_usd": dict(PRICES),
                "aspect_ratios": list(caps.aspect_ratios),
                "image_sizes": list(caps.image_sizes),
                "network": False,
            }
        ]

    def default_model(self) -> str:
        return MODEL

    def estimate_costs(self, *, image_size: str, num_images: int = 1, **_: Any) -> list[dict[str, Any]]:
        per = PRICES.get(image_size, 0.0)
        return [
            {
                "model": MODEL,
                "status": "live",
                "image_size": image_size if image_size in PRICES else None,
                "per_image_usd": per,
                "run_usd": round(per * num_images, 4),
            }
        ]


@contextlib.contextmanager
def registered(priority: int | None = 0) -> Iterator[StubFamily]:
    """The stub family registered with ``auto_priority=priority`` (0: ahead of Gemini's 10)."""
    family = StubFamily(priority)
    register_family(family)
    try:
        yield family
    finally:
        unregister_family(family.name)
