"""The ``local`` family: diffusion models on this machine (``local:<id>``), through diffusers.

Registers itself on import, as a third-party family would. Importing it needs neither the optional
extra nor any weights: :meth:`LocalFamily.availability` reports what is missing, and
:meth:`LocalFamily.create` refuses with one ConfigError line naming the command to run, before any
call. Nothing here downloads (``sketchgen weights --local ID`` does).
"""

from __future__ import annotations

from typing import Any

from generate.adapter import Availability, ImageModelAdapter, ModelFamily, register_family
from generate.adapters.diffusers.catalog import (
    ASPECT_BUCKETS,
    EXTRA_HINT,
    FAMILY,
    IMAGE_SIZES,
    MODELS,
    extra_installed,
    find_weights,
    missing_weights_message,
    spec_for,
)
from generate.errors import ConfigError

__all__ = ["LocalFamily"]


class LocalFamily(ModelFamily):
    """The ``local:`` models. Never chosen by "auto": a run that silently takes minutes of GPU or
    CPU time (and gigabytes of weights) must be asked for by name."""

    name = FAMILY
    display_name = "Local diffusion (diffusers)"
    auto_priority = None

    def owns(self, model_name: str) -> bool:
        return model_name == FAMILY or model_name.startswith(f"{FAMILY}:")

    def create(self, model_name: str, **options: Any) -> ImageModelAdapter:
        if model_name == FAMILY:
            model_name = self.default_model()
        spec = spec_for(model_name)
        if not extra_installed():
            raise ConfigError(f"{spec.name} needs the local extra: {EXTRA_HINT}", field="model")
        weights = find_weights(spec)
        if weights is None:
            raise ConfigError(missing_weights_message(spec), field="model")
        from generate.adapters.diffusers.adapter import LocalDiffusionAdapter

        return LocalDiffusionAdapter(spec, weights, **options)

    def availability(self) -> Availability:
        if not extra_installed():
            return Availability(
                False,
                EXTRA_HINT,
                extra_installed=False,
                weights_present=False,
                fix="pip install 'sketchgen[local]'",
            )
        ready = [s for s in MODELS.values() if find_weights(s) is not None]
        if not ready:
            spec = MODELS[self.default_model().split(":", 1)[1]]
            return Availability(
                False,
                f"no weights: run `sketchgen weights --local {spec.id}`",
                extra_installed=True,
                weights_present=False,
                fix=f"sketchgen weights --local {spec.id}",
            )
        return Availability(
            True,
            f"weights on disk for {', '.join(s.name for s in ready)}",
            extra_installed=True,
            weights_present=True,
        )

    def models(self) -> list[dict[str, Any]]:
        return [
            {
                "id": spec.name,
                "display_name": spec.display_name,
                "aliases": [],
                "status": "live",
                "price_per_image_usd": {size: 0.0 for size in IMAGE_SIZES},
                "aspect_ratios": list(ASPECT_BUCKETS),
                "image_sizes": list(IMAGE_SIZES),
                "max_reference_images": 14,
                "network": False,
                "google_search": False,
                "person_generation": False,
                "deterministic": True,
                "notes": spec.note,
                "unconfirmed": list(spec.unconfirmed),
            }
            for spec in MODELS.values()
        ]

    def default_model(self) -> str:
        return MODELS["sdxl-scribble"].name

    def auto_label(self, model_name: str) -> str:
        return f"the local diffusion model {model_name!r}"

    def estimate_costs(self, *, image_size: str, num_references: int, **_: Any) -> list[dict[str, Any]]:
        return [
            {
                "model": s.name,
                "status": "live",
                "image_size": image_size,
                "per_image_usd": 0.0,
                "run_usd": 0.0,
            }
            for s in MODELS.values()
        ]


register_family(LocalFamily())
