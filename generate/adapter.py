"""The seam between the generator and an image model.

An :class:`ImageModelAdapter` turns one :class:`ImageRequest` (one sketch) into one
:class:`ModelImage`. The generator owns everything around the call: fan-out, concurrency, retries,
post-processing and the run folder. Adapters only talk to their model and say, up front, what they
can do (:class:`AdapterCapabilities`).

Adapters are chosen by name through :func:`get_adapter`. A model family (:class:`ModelFamily`:
Gemini, trace, or a third party's) registers itself with :func:`register_family` and is then asked
for everything the orchestration needs: which names it owns, whether it is available here, its
models and prices, a dry run's cost rows. Built-ins register exactly the way a third-party family
would. :func:`register_adapter` stays for a single adapter without a family (a name or a matcher).

This module imports nothing outside the standard library.
"""

from __future__ import annotations

import abc
import asyncio
import difflib
import inspect
import logging
import threading
from collections.abc import AsyncIterator, Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from generate.errors import ConfigError

__all__ = [
    "AdapterCapabilities",
    "HistoryPart",
    "HistoryTurn",
    "ImageRequest",
    "PromptParts",
    "SheetRequest",
    "ModelImage",
    "ModelPreview",
    "Usage",
    "ImageModelAdapter",
    "input_load",
    "register_adapter",
    "get_adapter",
    "adapter_names",
    "Availability",
    "ModelFamily",
    "register_family",
    "unregister_family",
    "families",
    "family_for",
    "availability_of",
    "models_of",
    "default_model_of",
    "estimate_costs_of",
    "register_known_names",
]

log = logging.getLogger("sketchgen.generate")


@dataclass(frozen=True)
class AdapterCapabilities:
    """What an adapter can honour. The generator validates every request against this first."""

    max_reference_images: int
    aspect_ratios: tuple[str, ...]
    image_sizes: tuple[str, ...]
    images_per_call: int = 1
    streaming_previews: bool = False
    refinement: bool = False
    requires_reference: bool = False  # e.g. the offline trace model draws over a reference
    network: bool = True
    deterministic: bool = False  # same request + seed -> same bytes
    # Calls this adapter serves at once in a process (e.g. 1: one GPU pipeline); None: no cap of its
    # own. The generator queues the rest before their call starts, so a call's timeout excludes the wait.
    max_concurrent_calls: int | None = None
    # Request options honoured beyond the basics: "google_search", "person_generation",
    # "response_modalities" (image only). ``seed`` always shapes the variation plan.
    request_options: frozenset[str] = frozenset()


@dataclass(frozen=True)
class HistoryPart:
    """One part of an earlier model turn, as the model returned it.

    ``text`` or ``image`` (a file holding the image bytes exactly as received); ``thought_signature``
    is the part's signature in base64, exactly as recorded from the wire (None: the part had none).
    """

    text: str | None = None
    image: Path | None = None
    mime_type: str | None = None
    thought_signature: str | None = None


@dataclass(frozen=True)
class HistoryTurn:
    """An earlier turn of a conversation that a refinement continues.

    A ``user`` turn is rebuilt the way its call was sent: ``text`` (the prompt), then its
    ``subject_images`` (images to edit) and ``reference_images``. A ``model`` turn is its ``parts``.
    """

    role: str  # "user" | "model"
    text: str = ""
    reference_images: tuple[Path, ...] = ()
    subject_images: tuple[Path, ...] = ()
    parts: tuple[HistoryPart, ...] = ()


def input_load(input_images: tuple[Path, ...], history: tuple[HistoryTurn, ...]) -> tuple[int, int]:
    """(images, text characters) a call sends as input besides its new prompt and style references:
    the images to edit, and a refinement's whole history (every earlier turn's images and text).
    What a cost estimate counts, for the adapter's own estimate and for a dry run's."""
    images, chars = len(input_images), 0
    for turn in history:
        images += len(turn.reference_images) + len(turn.subject_images)
        images += sum(1 for p in turn.parts if p.image is not None)
        chars += len(turn.text) + sum(len(p.text or "") for p in turn.parts)
    return images, chars


@dataclass(frozen=True)
class SheetRequest:
    """The grid a sheet call asks for (sheet mode: several sketches in one image).

    ``cols`` x ``rows`` cells; ``cells`` is each cell's (layout, exaggeration) in reading order.
    The prompt already says all of it; this is for adapters that do not read the prompt (trace).
    """

    cols: int
    rows: int
    cells: tuple[tuple[str, str], ...]


@dataclass(frozen=True)
class PromptParts:
    """The pieces a sketch's ``prompt`` was composed from, for models that cannot read all of it.

    ``prompt`` is written for a model that reads long instructions (Gemini). A model with a short
    text window (SDXL's CLIP encoders read 77 tokens) builds its own prompt from these instead,
    most important first, and says what it left out. The generator fills it from the
    :class:`~prompt.spec.PromptSpec` and the style; an adapter that reads ``prompt`` ignores it.
    """

    subject: str  # the brief's subject phrase ("playful golf mascot"), lead-ins stripped
    subject_terms: tuple[str, ...] = ()
    style_name: str = ""
    style_rules: tuple[str, ...] = ()  # the style's own visual rules (the global ones not repeated)
    negatives: tuple[str, ...] = ()  # the style's own avoid-list (the global rules not repeated)
    notes: tuple[str, ...] = ()  # context notes the brief came with
    instruction: str = ""  # a refine or vary run's "what to change" (the designer's words)
    lettering: bool = False  # the brief asks for lettering: "no text" is lifted


@dataclass(frozen=True)
class ImageRequest:
    """One sketch to make. ``prompt`` is the exact, final prompt for this sketch.

    ``input_images`` are the images this sketch edits (the subject, not style references): the
    designer's own drawing, or the parent sketch of a refinement made as an edit. ``history`` is
    the conversation a multi-turn refinement continues (oldest turn first); ``prompt`` is then the
    new user turn. Adapters without ``capabilities.refinement`` are never given a history.
    """

    index: int
    prompt: str
    aspect_ratio: str
    image_size: str
    layout: str
    exaggeration: str
    reference_images: tuple[Path, ...] = ()
    seed: int | None = None
    timeout_s: float = 180.0
    attempt: int = 1
    response_modalities: tuple[str, ...] = ("TEXT", "IMAGE")
    google_search: bool = False  # ground the image in Google Search results
    person_generation: str | None = None  # ALLOW_ALL | ALLOW_ADULT | ALLOW_NONE (Vertex AI only)
    input_images: tuple[Path, ...] = ()
    history: tuple[HistoryTurn, ...] = ()
    sheet: SheetRequest | None = None  # sheet mode: this one call draws a grid of sketches
    prompt_parts: PromptParts | None = None  # what ``prompt`` was built from (None: a bare prompt)


@dataclass
class Usage:
    """Token usage of one call, by modality where the model reports it."""

    prompt_tokens: int = 0
    output_tokens: int = 0
    output_image_tokens: int = 0
    output_text_tokens: int = 0
    thoughts_tokens: int = 0
    total_tokens: int = 0

    def to_dict(self) -> dict[str, int]:
        return dict(self.__dict__)


@dataclass
class ModelImage:
    """The final image of one call, plus everything worth recording about the call."""

    data: bytes
    mime_type: str  # sniffed from the bytes, not trusted from the wire
    model: str  # the model id actually used
    model_version: str | None = None
    response_id: str | None = None
    finish_reason: str | None = None
    text: str | None = None  # model text that came with the image
    thought_signature: str | None = None  # base64
    # Every part of the model's turn as received, in order (kind, thought, mime_type,
    # thought_signature, text, chosen), so that a refinement can send the turn back.
    model_parts: list[dict[str, Any]] = field(default_factory=list)
    usage: Usage = field(default_factory=Usage)
    cost_usd: float = 0.0
    warnings: list[str] = field(default_factory=list)
    extra: dict[str, Any] = field(default_factory=dict)
    # The references this call actually carried, in the order sent: [{name, path, sha256}].
    # None: the adapter does not say. An adapter may set the same list as ``references_sent`` on
    # the ModelCallError of a failed call.
    references_sent: list[dict[str, Any]] | None = None
    grounding: dict[str, Any] | None = None  # Google Search grounding: {queries, sources, ...}
    seed_sent: int | None = None  # the seed the model was given (None: none was sent)
    # The exact text(s) the model was given, by parameter name, when they are not ``request.prompt``
    # (e.g. SDXL's {prompt, prompt_2, negative_prompt, negative_prompt_2}). None: the request's prompt.
    prompt_sent: dict[str, str] | None = None


@dataclass
class ModelPreview:
    """An interim image (e.g. a Pro thought image) streamed before the final one."""

    data: bytes
    mime_type: str
    sequence: int


class ImageModelAdapter(abc.ABC):
    """Base class for image model adapters.

    Subclasses set :attr:`name` and :attr:`capabilities` and implement :meth:`generate` (blocking;
    called from a worker thread) and :meth:`agenerate` (called on the event loop). Both raise
    :class:`generate.errors.ModelCallError` for a failed call and never retry on their own: the
    generator retries. :meth:`astream` may yield :class:`ModelPreview` objects and must end with
    exactly one :class:`ModelImage`.
    """

    name: str = "abstract"
    capabilities: AdapterCapabilities

    @abc.abstractmethod
    def generate(self, request: ImageRequest) -> ModelImage:
        """Make one image, blocking."""

    async def agenerate(self, request: ImageRequest) -> ModelImage:
        """Make one image without blocking the event loop (default: the blocking call on a thread)."""
        return await asyncio.to_thread(self.generate, request)

    async def astream(self, request: ImageRequest) -> AsyncIterator[ModelPreview | ModelImage]:
        """Yield previews, then the final image (default: just the final image)."""
        yield await self.agenerate(request)

    def estimate_cost(self, request: ImageRequest) -> float:
        """Expected USD cost of one call for ``request`` (0 for free models)."""
        return 0.0

    def check_request(self, *, aspect_ratio: str, image_size: str, num_references: int) -> list[str]:
        """Validate a request shape before any call; raise ConfigError or return warnings."""
        caps = self.capabilities
        if aspect_ratio not in caps.aspect_ratios:
            raise ConfigError(
                f"aspect ratio {aspect_ratio!r} is not offered by model {self.name!r}; "
                f"it offers: {', '.join(caps.aspect_ratios)}",
                field="aspect_ratio",
            )
        if image_size not in caps.image_sizes:
            raise ConfigError(
                f"image size {image_size!r} is not offered by model {self.name!r}; "
                f"it offers: {', '.join(caps.image_sizes)}",
                field="image_size",
            )
        warnings: list[str] = []
        if num_references > caps.max_reference_images:
            warnings.append(
                f"{num_references} reference images retrieved but {self.name} takes at most "
                f"{caps.max_reference_images}; sending the best {caps.max_reference_images}"
            )
        return warnings

    def check_options(
        self,
        *,
        seed: int | None = None,
        google_search: bool = False,
        person_generation: str | None = None,
        response_modalities: tuple[str, ...] = ("TEXT", "IMAGE"),
    ) -> list[str]:
        """Refuse, before any call, a request option this adapter cannot honour (ConfigError naming
        the field); return warnings. The base class checks :attr:`AdapterCapabilities.request_options`."""
        offered = self.capabilities.request_options
        if google_search and "google_search" not in offered:
            raise ConfigError(
                f"model {self.name!r} does not offer Google Search grounding", field="google_search"
            )
        if person_generation and "person_generation" not in offered:
            raise ConfigError(
                f"model {self.name!r} does not take person_generation", field="person_generation"
            )
        if tuple(response_modalities) != ("TEXT", "IMAGE") and "response_modalities" not in offered:
            raise ConfigError(
                f"model {self.name!r} does not take response_modalities", field="response_modalities"
            )
        return []

    def turn_outline(
        self, prompt: str, *, subjects: Sequence[Path] = (), references: Sequence[Path] = ()
    ) -> list[dict[str, str]]:
        """What one call would send, in order, as plain data (what a dry run shows): ``{"text": ...}``
        parts and ``{"image": file name, "mime_type": ...}`` parts. ``subjects`` are the images to edit,
        ``references`` the style references it would carry. Default: the prompt, then each image."""
        images = [*subjects, *references]
        return [{"text": prompt}, *({"image": Path(p).name, "mime_type": "image/*"} for p in images)]

    def check_sheet(self, layout: Any, *, aspect_ratio: str, image_size: str) -> list[str]:
        """Refuse, before any call, a sheet (``layout``: a :class:`generate.sheet_cut.SheetLayout`)
        this model cannot draw at this aspect ratio and size (ConfigError, field ``sheet``); return
        warnings. By default a model makes no sheets."""
        raise ConfigError(
            f"model {self.name!r} does not make sheets (several sketches in one image); "
            "choose a model that does (see `sketchgen models`)",
            field="sheet",
        )

    def close(self) -> None:  # noqa: B027 - optional hook
        """Release clients and connections (sync)."""

    async def aclose(self) -> None:  # noqa: B027 - optional hook
        """Release clients and connections (async)."""

    def describe(self) -> dict[str, Any]:
        """A JSON-ready description for `sketchgen models` and `GET /models`."""
        caps = self.capabilities
        return {
            "name": self.name,
            "max_reference_images": caps.max_reference_images,
            "aspect_ratios": list(caps.aspect_ratios),
            "image_sizes": list(caps.image_sizes),
            "images_per_call": caps.images_per_call,
            "refinement": caps.refinement,
            "network": caps.network,
        }


@dataclass(frozen=True)
class Availability:
    """Whether a family can make images here and now, and one line saying why or what to do."""

    available: bool
    reason: str  # e.g. "GEMINI_API_KEY set", "install the extra: pip install 'sketchgen[local]'"
    credentials: bool | None = None  # None: the family needs none
    extra_installed: bool | None = None  # None: the family needs no optional extra
    weights_present: bool | None = None  # None: the family needs no local weights
    fix: str = ""  # what to do to make it available ("set GEMINI_API_KEY to use Nano Banana"); "": nothing

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form, as the model listing carries it."""
        return dict(self.__dict__)


class ModelFamily(abc.ABC):
    """A family of models behind one adapter (Gemini, OpenAI, local diffusion, trace, ...).

    The orchestration (pipeline, ``auto``, the model listing, dry-run cost estimates) knows model
    families only through this interface, so a third-party family registered with
    :func:`register_family` appears everywhere a built-in does. Building a family object, and every
    method here except :meth:`create`, makes no network call and loads no weights.
    """

    name: str = "abstract"  # short id: "gemini", "openai", "local", "trace"
    display_name: str = ""
    # Families "auto" may choose when available, lowest first; None: never chosen by "auto".
    auto_priority: int | None = None

    @abc.abstractmethod
    def owns(self, model_name: str) -> bool:
        """Whether ``model_name`` (an id, alias or ``family:model`` name) belongs to this family."""

    @abc.abstractmethod
    def create(self, model_name: str, **options: Any) -> ImageModelAdapter:
        """Build the adapter for one of this family's model names (raises ConfigError/CredentialsError)."""

    @abc.abstractmethod
    def availability(self) -> Availability:
        """Credentials found, extra installed, weights present: cheap, offline, never raises."""

    @abc.abstractmethod
    def models(self) -> list[dict[str, Any]]:
        """Entries for `sketchgen models` / ``GET /models``: at least ``id``, ``display_name``,
        ``aliases``, ``status``, ``price_per_image_usd`` ({size: USD}), ``aspect_ratios``,
        ``image_sizes``, ``network``; the listing adds ``family``, ``available`` and ``availability``."""

    def default_model(self) -> str | None:
        """The model name "auto" uses when it picks this family."""
        return None

    def auto_label(self, model_name: str) -> str:
        """How "auto"'s reason line names this family's model when it falls back to it."""
        return f"{model_name!r} ({self.display_name or self.name})"

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
        """Rows of a dry run's cost table, one per selectable model of this family:
        ``{"model", "status", "image_size", "per_image_usd", "run_usd"}`` (default: none).

        ``aspect_ratio``: the run's, for families whose price depends on it (OpenAI's sizes); a
        family written before it existed is simply not passed it (:func:`estimate_costs_of`).

        ``input_images`` / ``input_text_chars``: what a call sends besides its prompt and
        ``num_references`` style references (:func:`input_load`: the images to edit, a refinement's
        history). ``conversation_model`` is set for a multi-turn refinement: the adapter name whose
        conversation it continues. That model gets the history (and no new references); any other
        model could not continue it and would get the sketch as one image to edit, with the references.
        """
        return []


_FAMILIES: dict[str, ModelFamily] = {}


def register_family(family: ModelFamily) -> None:
    """Register a model family (a ``ModelFamily`` instance); its model names then resolve through
    :func:`get_adapter`, and "auto", the model listing and dry-run estimates ask it. Registering a
    family under a name already taken replaces that family."""
    with _LOCK:
        _FAMILIES[family.name] = family


def unregister_family(name: str) -> None:
    """Remove the family registered as ``name`` (a no-op when there is none)."""
    with _LOCK:
        _FAMILIES.pop(name, None)


def families() -> list[ModelFamily]:
    """Every registered family, built-ins included, in registration order."""
    _load_builtins()
    return list(_FAMILIES.values())


def availability_of(family: ModelFamily) -> Availability:
    """``family.availability()``; a family that breaks its never-raises contract is reported
    unavailable, naming the error type only (its message could carry a secret), so one broken
    third-party family cannot take "auto" or the model listing down."""
    try:
        return family.availability()
    except Exception as exc:  # noqa: BLE001 - any failure of a plug-in's check means "not usable"
        return Availability(False, f"its availability check failed ({type(exc).__name__})")


def _plugin_failed(family: ModelFamily, what: str, exc: Exception) -> None:
    # The error type only: a plug-in's message could carry a secret.
    log.warning("model family %r: %s failed (%s); skipping it there", family.name, what, type(exc).__name__)


def models_of(family: ModelFamily) -> list[dict[str, Any]]:
    """``family.models()``, keeping only entries with a string ``id``; a family whose listing
    raises lists nothing (logged), so one broken plug-in cannot take the listing, the "did you
    mean" hints or any other model's resolution down."""
    try:
        entries = list(family.models())
    except Exception as exc:  # noqa: BLE001 - a plug-in's bug must not break the other families
        _plugin_failed(family, "models()", exc)
        return []
    return [e for e in entries if isinstance(e, dict) and isinstance(e.get("id"), str)]


def default_model_of(family: ModelFamily) -> str | None:
    """``family.default_model()``, or None (logged) when it raises."""
    try:
        model = family.default_model()
    except Exception as exc:  # noqa: BLE001
        _plugin_failed(family, "default_model()", exc)
        return None
    return model if isinstance(model, str) and model else None


def estimate_costs_of(family: ModelFamily, **kwargs: Any) -> list[dict[str, Any]]:
    """``family.estimate_costs(**kwargs)``, or no rows (logged) when it raises. Keywords the family's
    method does not take (added to the interface after it was written) are left out."""
    try:
        params = inspect.signature(family.estimate_costs).parameters.values()
        if not any(p.kind is inspect.Parameter.VAR_KEYWORD for p in params):
            names = {p.name for p in params}
            kwargs = {k: v for k, v in kwargs.items() if k in names}
        return list(family.estimate_costs(**kwargs))
    except Exception as exc:  # noqa: BLE001
        _plugin_failed(family, "estimate_costs()", exc)
        return []


def _owns(family: ModelFamily, model_name: str) -> bool:
    try:
        return bool(family.owns(model_name))
    except Exception as exc:  # noqa: BLE001
        _plugin_failed(family, "owns()", exc)
        return False


def family_for(model_name: str) -> ModelFamily | None:
    """The family that owns ``model_name``, or None (a family whose ``owns`` raises owns nothing)."""
    for family in families():
        if _owns(family, model_name):
            return family
    return None


# name -> factory(model_name: str, **options) -> ImageModelAdapter
AdapterFactory = Callable[..., ImageModelAdapter]
_REGISTRY: dict[str, AdapterFactory] = {}
_MATCHERS: list[tuple[Callable[[str], bool], AdapterFactory]] = []
_LOCK = threading.Lock()


def register_adapter(
    name: str | None, factory: AdapterFactory, *, matches: Callable[[str], bool] | None = None
) -> None:
    """Register an adapter factory under ``name`` and/or for every model name ``matches`` accepts.

    The factory is called as ``factory(model_name, **options)``. Built-in adapters use this too.
    """
    with _LOCK:
        if name is not None:
            _REGISTRY[name] = factory
        if matches is not None:
            _MATCHERS.append((matches, factory))


def adapter_names() -> list[str]:
    """Every name registered with :func:`register_adapter`, and every family model's id and aliases."""
    _load_builtins()
    return sorted(set(_REGISTRY) | set(_family_model_names()))


def _family_model_names() -> list[str]:
    names: list[str] = []
    for family in families():
        for entry in models_of(family):
            names.extend([entry["id"], *(entry.get("aliases") or ())])
    return names


def get_adapter(model_name: str, **options: Any) -> ImageModelAdapter:
    """Build the adapter for ``model_name`` ("trace", "nano-banana", a Gemini model id, "auto", ...).

    A name registered with :func:`register_adapter` wins, then the first family that owns the name,
    then :func:`register_adapter` matchers. A comma list (``"nano-banana-pro,trace"``) builds a
    :class:`generate.fallback.ModelChain` of every element, reporting every element that cannot be
    built in one ConfigError. Raises ConfigError naming the nearest known name (family model ids
    and aliases included) when nothing matches.
    """
    if "," in model_name:
        from generate.fallback import build_chain, split_chain

        return build_chain(split_chain(model_name), get_adapter, **options)
    _load_builtins()
    factory = _REGISTRY.get(model_name)
    if factory is None:
        owner = family_for(model_name)
        if owner is not None:
            return owner.create(model_name, **options)
        for matches, candidate in _MATCHERS:
            if matches(model_name):
                factory = candidate
                break
    if factory is None:
        known = adapter_names() + _extra_known_names()
        close = difflib.get_close_matches(model_name, known, n=1, cutoff=0.5)
        hint = f"; did you mean {close[0]!r}?" if close else ""
        raise ConfigError(
            f"unknown model {model_name!r}{hint} Known: {', '.join(sorted(set(known)))}",
            field="model",
        )
    return factory(model_name, **options)


_EXTRA_NAMES: list[Callable[[], list[str]]] = []


def register_known_names(provider: Callable[[], list[str]]) -> None:
    """Let an adapter contribute names to "did you mean" hints (a family's models are in them already)."""
    _EXTRA_NAMES.append(provider)


def _extra_known_names() -> list[str]:
    names: list[str] = []
    for provider in _EXTRA_NAMES:
        names.extend(provider())
    return names


_BUILTINS_LOADED = False
# Re-entrant: importing a built-in calls register_family (which takes _LOCK, not this one), and a
# built-in that looks another up while it loads must not deadlock its own thread.
_BUILTINS_LOCK = threading.RLock()


def _load_builtins() -> None:
    """Import the built-in family modules once; each registers itself on import, as a third-party
    family would. A built-in module that is not there is skipped; a family module imports its
    optional dependencies lazily (in ``create`` / ``availability``), so a missing extra never breaks
    the registry.

    The flag is raised only after every import has finished, under a lock, so a concurrent first
    caller waits for the full registry instead of reading a half-filled one.
    """
    global _BUILTINS_LOADED
    if _BUILTINS_LOADED:
        return
    with _BUILTINS_LOCK:
        if _BUILTINS_LOADED:
            return
        import importlib

        for module in (
            "generate.adapters.gemini.family",
            "generate.adapters.trace.family",
            "generate.adapters.openai.family",
            "generate.adapters.diffusers.family",  # imports without the optional `local` extra
            "generate.auto",
        ):
            try:
                importlib.import_module(module)
            except ModuleNotFoundError as exc:  # a built-in not written yet must not break the others
                if exc.name != module:
                    raise
        _BUILTINS_LOADED = True
