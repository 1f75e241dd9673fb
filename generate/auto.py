"""The "auto" model: the available family with the lowest ``auto_priority`` (Gemini first, trace last).

Families are asked through :class:`generate.adapter.ModelFamily` only, so a registered third-party
family takes part like a built-in. The choice and its reason travel with the adapter
(``selection_reason``) into the run's events, metadata and CLI output, so nobody mistakes a traced
sketch for a generated one.
"""

from __future__ import annotations

import logging

from generate.adapter import (
    ImageModelAdapter,
    availability_of,
    default_model_of,
    families,
    get_adapter,
    register_adapter,
)
from generate.errors import ConfigError

__all__ = ["choose_model"]

log = logging.getLogger("sketchgen.generate")


def _choose() -> tuple[str, str, bool]:
    """(model name, reason, fell back past a preferred family)."""
    candidates = sorted((f for f in families() if f.auto_priority is not None), key=lambda f: f.auto_priority)
    skipped = []
    for family in candidates:
        availability = availability_of(family)
        if not availability.available:
            skipped.append(availability)
            continue
        model = default_model_of(family)
        if model is None:  # available, but names no model for "auto" to use
            continue
        if not skipped:
            return model, f"auto: {availability.reason}, using {model}", False
        why = "; ".join(a.reason for a in skipped)
        fixes = [a.fix for a in skipped if a.fix]
        todo = f"{', '.join(fixes)}, or pass" if fixes else "pass"
        return (
            model,
            f"auto: {why}, so using {family.auto_label(model)}; {todo} --model {model} to choose it explicitly",
            True,
        )
    why = "; ".join(a.reason for a in skipped) or "no model family is registered"
    raise ConfigError(f"auto: no model is available here ({why})", field="model")


def choose_model() -> tuple[str, str]:
    """(model name, one-line reason) that "auto" resolves to right now."""
    model, reason, _ = _choose()
    return model, reason


def _auto_factory(name: str, **options) -> ImageModelAdapter:
    model, reason, fell_back = _choose()
    adapter = get_adapter(model, **options)
    adapter.selection_reason = reason
    if fell_back:
        log.warning("%s", reason)
    return adapter


register_adapter("auto", _auto_factory)
