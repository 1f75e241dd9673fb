"""Fallback between models: ``"nano-banana-pro,openai:gpt-image-1,trace"``, tried in order per sketch.

A model chain is written as a comma list (CLI ``--model``, the API's ``model`` field, which also
takes a JSON list, ``GenerationConfig.model_name`` as a string or a list). :func:`build_chain`
builds every element's adapter up front, so every unknown name and every missing credential of
the chain is reported in one line before any call: an element the user named but cannot use is an
error, the last one included (a demanding user wants to know their chain is broken before they
rely on it, not when the first quota runs out).

Per sketch, the generator calls the first model; when that sketch's call fails for a lack of
capacity — see :data:`FALLBACK_CODES`: rate limited after its retries, a per-day quota or credits
exhausted, 5xx or overloaded after retries, timeouts and dropped connections — the same sketch is
tried on the next model. Blocked content, bad input, auth and unknown-model errors never fall
back: another model would not fix them (and blocked content must not be laundered through a more
permissive one). Before a run starts, each later model re-checks the request: an image size it
lacks is mapped to its nearest one (with a warning); a multi-turn refinement reaches it as an edit
of the parent's image (a conversation's thought signatures count only for the model that made it);
an aspect ratio, option or reference it lacks puts it out of this run's chain with the reason
(recorded in the sketch's ``fallbacks`` if a sketch gets that far).

This module imports nothing outside the standard library.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import Any

from generate.adapter import ImageModelAdapter, ImageRequest, ModelImage
from generate.errors import ConfigError, CredentialsError, ErrorCode, ModelCallError

__all__ = [
    "FALLBACK_CODES",
    "ModelChain",
    "ChainStep",
    "split_chain",
    "build_chain",
    "plan_chain",
    "falls_back",
]

FALLBACK_CODES = frozenset(
    {
        ErrorCode.RATE_LIMITED,
        ErrorCode.QUOTA_EXHAUSTED,
        ErrorCode.SERVER_ERROR,
        ErrorCode.TIMEOUT,
        ErrorCode.CONNECTION,
    }
)
_SIZE_ORDER = ("256", "512", "1K", "2K", "4K")


def falls_back(error: ModelCallError) -> bool:
    """Whether a sketch whose last call failed with ``error`` may be tried on the next model."""
    return error.code in FALLBACK_CODES


def split_chain(model: str | Sequence[str]) -> list[str]:
    """The model names of ``"a,b,c"`` or ``["a", "b", "c"]``; ConfigError (field ``model``) for
    an empty element or a model named twice."""
    items = model.split(",") if isinstance(model, str) else list(model)
    names = [str(n).strip() for n in items]
    if not names or any(not n for n in names):
        raise ConfigError(
            f"model chain {model!r} has an empty element; write e.g. 'nano-banana-pro,trace'", field="model"
        )
    twice = sorted({n for n in names if names.count(n) > 1})
    if twice:
        raise ConfigError(f"model chain names {', '.join(twice)} more than once", field="model")
    return names


class ModelChain(ImageModelAdapter):
    """Several adapters tried in order per sketch (see the module docstring).

    Outside the generator it stands for its first model: ``name``, ``capabilities``, the request
    checks and direct calls are the first model's; the cost estimate is the dearest member's. ``members`` are all the adapters;
    ``names`` what the user wrote for each.
    """

    def __init__(self, members: Sequence[ImageModelAdapter], names: Sequence[str]) -> None:
        self.members = list(members)
        self.names = list(names)
        first = self.members[0]
        self.name = first.name
        self.capabilities = first.capabilities
        reason = getattr(first, "selection_reason", None)
        chain = " -> ".join(m.name for m in self.members)
        self.selection_reason = f"{reason}; fallback chain: {chain}" if reason else f"fallback chain: {chain}"
        self.lifecycle_warnings = [w for m in self.members for w in getattr(m, "lifecycle_warnings", [])]

    def __repr__(self) -> str:
        return f"ModelChain({[m.name for m in self.members]!r})"

    def generate(self, request: ImageRequest) -> ModelImage:
        return self.members[0].generate(request)

    async def agenerate(self, request: ImageRequest) -> ModelImage:
        return await self.members[0].agenerate(request)

    def astream(self, request: ImageRequest):
        return self.members[0].astream(request)

    def estimate_cost(self, request: ImageRequest) -> float:
        """The dearest member's: a sketch is made by one model of the chain, which one is known
        only as the run goes, so a budget checks against the worst."""
        return max(m.estimate_cost(request) for m in self.members)

    def check_request(self, *, aspect_ratio: str, image_size: str, num_references: int) -> list[str]:
        return self.members[0].check_request(
            aspect_ratio=aspect_ratio, image_size=image_size, num_references=num_references
        )

    def check_options(self, **options: Any) -> list[str]:
        return self.members[0].check_options(**options)

    def close(self) -> None:
        for member in self.members:
            member.close()

    async def aclose(self) -> None:
        for member in self.members:
            await member.aclose()

    def describe(self) -> dict[str, Any]:
        return {**self.members[0].describe(), "fallbacks": [m.name for m in self.members[1:]]}


def build_chain(names: Sequence[str], get_adapter, **options: Any) -> ModelChain:
    """Build every adapter of the chain; any that cannot be built is reported, all in one line.

    Raises CredentialsError when only credentials are missing (so a dry run can still describe
    the chain), else ConfigError; field ``model`` either way. ``get_adapter`` builds one name.
    """
    built: list[ImageModelAdapter] = []
    problems: list[ConfigError] = []
    labels: list[str] = []
    for name in names:
        try:
            built.append(get_adapter(name, **options))
        except ConfigError as exc:
            problems.append(exc)
            labels.append(name)
    if problems:
        for adapter in built:
            adapter.close()
        text = "; ".join(f"{name}: {exc.message}" for name, exc in zip(labels, problems, strict=True))
        message = f"model chain {','.join(names)}: {text}"
        if all(isinstance(p, CredentialsError) for p in problems):
            summary = "; ".join(f"{n}: {p.summary}" for n, p in zip(labels, problems, strict=True))
            raise CredentialsError(message, field="model", summary=summary)
        raise ConfigError(message, field="model")
    return ModelChain(built, names)


@dataclass
class ChainStep:
    """One model of a run's chain: its adapter, the run's requests reshaped for it, or why it is out."""

    adapter: ImageModelAdapter
    requests: list[ImageRequest] | None
    skip_reason: str | None = None
    abort_error: ModelCallError | None = None  # a run-fatal error of this model (e.g. its quota is spent)
    warnings: tuple[str, ...] = ()


def _nearest_size(wanted: str, offered: Sequence[str]) -> str | None:
    if wanted in offered:
        return wanted
    if wanted not in _SIZE_ORDER:
        return None
    rank = _SIZE_ORDER.index(wanted)
    known = [s for s in offered if s in _SIZE_ORDER]
    if not known:
        return None
    # The nearest size; between two equally near, the larger (a sketch is easier to shrink).
    return min(known, key=lambda s: (abs(_SIZE_ORDER.index(s) - rank), -_SIZE_ORDER.index(s)))


def _reshape(
    adapter: ImageModelAdapter, requests: list[ImageRequest], options: dict[str, Any]
) -> tuple[list[ImageRequest] | None, str | None, tuple[str, ...]]:
    """(requests for ``adapter``, None, warnings), or (None, reason it cannot take them, ())."""
    caps = adapter.capabilities
    first = requests[0]
    if first.aspect_ratio not in caps.aspect_ratios:
        return None, f"{adapter.name} does not offer aspect ratio {first.aspect_ratio}", ()
    size = _nearest_size(first.image_size, caps.image_sizes)
    if size is None:
        return None, f"{adapter.name} offers no size near {first.image_size}", ()
    try:
        adapter.check_options(**options)
    except ConfigError as exc:
        return None, exc.message, ()
    warnings: tuple[str, ...] = ()
    if first.history:
        # The conversation (its thought signatures) belongs to the model that made the parent,
        # the chain's first: a later model gets the parent's image to edit instead.
        requests = [_as_edit(r) for r in requests]
        first = requests[0]
        if not first.input_images:
            return None, f"{adapter.name} cannot continue another model's conversation", ()
        warnings += (
            f"fallback {adapter.name} would get the parent sketch as an image to edit: a conversation "
            "continues only with the model that made it",
        )
    if caps.requires_reference and not first.reference_images and not first.input_images:
        return None, f"{adapter.name} draws over reference images and this run has none", ()
    if size != first.image_size:
        warnings += (f"fallback {adapter.name} does not offer {first.image_size}; it would make {size}",)
    refs = first.reference_images[: caps.max_reference_images]
    shaped = [replace(r, image_size=size, reference_images=refs) for r in requests]
    return shaped, None, warnings


def _as_edit(request: ImageRequest) -> ImageRequest:
    """A multi-turn refinement as an edit: the last model turn's image becomes the image to edit,
    the first user turn's references its references, and the history is dropped."""
    images = [p.image for t in request.history if t.role == "model" for p in t.parts if p.image is not None]
    refs = next((t.reference_images for t in request.history if t.role == "user"), ())
    return replace(
        request,
        history=(),
        input_images=(*request.input_images, images[-1]) if images else request.input_images,
        reference_images=request.reference_images or refs,
    )


def plan_chain(
    adapter: ImageModelAdapter, requests: list[ImageRequest], options: dict[str, Any]
) -> list[ChainStep]:
    """The run's chain: the first model takes ``requests`` as they are (the generator checked
    them); each later model gets them reshaped to what it offers, or is out with the reason."""
    members = list(getattr(adapter, "members", None) or [adapter])
    steps = [ChainStep(members[0], list(requests))]
    for member in members[1:]:
        shaped, reason, warnings = _reshape(member, list(requests), options)
        steps.append(ChainStep(member, shaped, skip_reason=reason, warnings=warnings))
    return steps
