"""Nano Banana: the Gemini image models through google-genai (>= 3.4).

``NanoBananaAdapter(model)`` makes one image per call: ``generate`` uses the sync client (httpx2),
``agenerate`` / ``astream`` use ``client.aio`` (aiohttp when importable). ``astream`` yields the
thought images of thinking (Pro-family) models as :class:`ModelPreview` objects, then the final
:class:`ModelImage`.

Client set-up happens in one place (:func:`build_client`) and can be replaced by passing
``client=``:

* credentials: ``api_key=`` or ``GEMINI_API_KEY`` / ``GOOGLE_API_KEY`` (the SDK prefers the
  latter), or Vertex AI through the SDK's own variables (``GOOGLE_GENAI_USE_VERTEXAI=true`` +
  ``GOOGLE_CLOUD_PROJECT`` / ``GOOGLE_CLOUD_LOCATION``, Application Default Credentials). Missing
  credentials raise :class:`CredentialsError` when the adapter is built, before any call; for
  Vertex AI that includes ADC, looked up with ``google.auth.default()`` without any network call.
* ``GEMINI_BASE_URL`` (or ``base_url=``) replaces the endpoint — proxies and the fake server.
* the API version is pinned to ``v1beta`` (the 3.x SDK default ``v1`` is unconfirmed for image
  models); Vertex keeps the SDK's ``v1beta1``.
* SDK retries are off: ``HttpRetryOptions(attempts=1)`` means one attempt and, unlike leaving
  ``retry_options`` unset, also disables the aiohttp path's hidden 1–10 s reconnect. Failures
  surface as :class:`ModelCallError` and the generator's retry loop decides.
* the per-call timeout is ``ImageRequest.timeout_s`` (sent to the SDK in milliseconds); the sync
  client also gives up on a connect after 10 s and probes for a vanished peer
  (:mod:`generate.adapters.gemini.http`).

The API key never appears in an error message, log line or repr: an explicit ``api_key=`` is
registered with :mod:`generate.redact`, which also knows the environment's keys.
"""

from __future__ import annotations

import asyncio
import functools
import hashlib
import logging
import os
import ssl
from collections.abc import AsyncIterator, Sequence
from pathlib import Path
from typing import Any

import certifi
from google import genai
from google.genai import types

from generate.adapter import (
    AdapterCapabilities,
    HistoryTurn,
    ImageModelAdapter,
    ImageRequest,
    ModelImage,
    ModelPreview,
    input_load,
)
from generate.adapters.gemini.catalog import (
    ModelEntry,
    check_lifecycle,
    entry_for_unknown,
    estimate_cost,
    is_gemini_image_id,
    load_catalog,
    resolve_model,
)
from generate.adapters.gemini.http import sync_transport
from generate.adapters.gemini.wire import (
    ModelPart,
    ModelTurn,
    ReferenceImage,
    StreamAccumulator,
    UserTurn,
    build_config,
    build_conversation,
    classify_exception,
    downscale_reference,
    parse_response,
    turn_outline,
)
from generate.errors import ConfigError, CredentialsError
from generate.redact import redact, redact_error, redact_exception, register_secret
from generate.sheet_cut import check_cell_size

__all__ = [
    "API_VERSION",
    "NanoBananaAdapter",
    "build_client",
    "gemini_credentials_configured",
]

log = logging.getLogger(__name__)
API_VERSION = "v1beta"
SEED_MIN, SEED_MAX = -(2**31), 2**31 - 1  # generationConfig.seed is an int32
_TRUE = {"1", "true", "yes", "on"}


def _env_true(name: str) -> bool:
    return os.environ.get(name, "").strip().lower() in _TRUE


def _vertex_mode() -> bool:
    return _env_true("GOOGLE_GENAI_USE_VERTEXAI") or _env_true("GOOGLE_GENAI_USE_ENTERPRISE")


def gemini_credentials_configured(api_key: str | None = None) -> tuple[bool, str]:
    """Whether Gemini credentials are configured, and a reason that names variables, never values."""
    if api_key:
        return True, "an API key was passed explicitly"
    for var in ("GOOGLE_API_KEY", "GEMINI_API_KEY"):
        if os.environ.get(var, "").strip():
            return True, f"{var} is set"
    if _vertex_mode():
        if not os.environ.get("GOOGLE_CLOUD_PROJECT", "").strip():
            return False, "GOOGLE_GENAI_USE_VERTEXAI is set but GOOGLE_CLOUD_PROJECT is not"
        missing = _vertex_adc_missing()
        if missing:
            return False, missing
        return (
            True,
            "Vertex AI: GOOGLE_GENAI_USE_VERTEXAI, GOOGLE_CLOUD_PROJECT and Application Default Credentials",
        )
    return False, "neither GEMINI_API_KEY nor GOOGLE_API_KEY is set"


class _NoNetwork:
    """A google-auth transport that answers every request at once with 404 and sends nothing.

    ``google.auth.default()`` ends by pinging the GCE metadata server, three tries with backoff
    (seconds) on a machine that is not on GCE. Handed this transport, the ping fails at once and
    google-auth falls back to its local SMBIOS check, so finding ADC reads files only.
    """

    class _Response:
        status = 404
        headers: dict[str, str] = {}
        data = b""

    def __call__(self, url, method="GET", body=None, headers=None, timeout=None, **kwargs):
        return self._Response()


class _QuietGceProbe(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        return "Compute Engine" not in record.getMessage()


_QUIET_GCE_PROBE = _QuietGceProbe()


# Set by Google's serverless runtimes, whose credentials come from the metadata server only.
_MANAGED_RUNTIME_VARS = ("K_SERVICE", "CLOUD_RUN_JOB", "FUNCTION_TARGET", "GAE_SERVICE")


def _vertex_adc_missing() -> str | None:
    """Why Vertex AI has no Application Default Credentials, or None when it has them.

    Looks where the SDK will (``google.auth.default()``): ``GOOGLE_APPLICATION_CREDENTIALS``,
    gcloud's ``application_default_credentials.json``, a GCE machine (its SMBIOS name); on Cloud Run,
    Cloud Functions or App Engine (their own variables set) the platform's metadata server is
    trusted. No network call.
    """
    import google.auth
    from google.auth.exceptions import DefaultCredentialsError

    gce_log = logging.getLogger("google.auth._default")
    if _QUIET_GCE_PROBE not in gce_log.filters:  # "not on GCE" is an answer here, not a warning
        gce_log.addFilter(_QUIET_GCE_PROBE)
    try:
        google.auth.default(request=_NoNetwork())
    except DefaultCredentialsError as exc:
        explicit = os.environ.get("GOOGLE_APPLICATION_CREDENTIALS", "").strip()
        if not explicit and any(os.environ.get(var) for var in _MANAGED_RUNTIME_VARS):
            # Cloud Run, Cloud Functions and App Engine serve credentials from their metadata server,
            # which the no-network probe cannot see (they have no GCE SMBIOS name): trust the platform.
            return None
        if explicit:  # the file is there but unreadable or not credentials: say which and why
            detail = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
            return f"Vertex AI: GOOGLE_APPLICATION_CREDENTIALS ({explicit}) is not usable: {detail}"
        return (
            "Vertex AI is configured but no Application Default Credentials were found: "
            "run `gcloud auth application-default login`, or set GOOGLE_APPLICATION_CREDENTIALS "
            "to a service-account key file"
        )
    return None


def _credentials_error(model: str, reason: str) -> CredentialsError:
    if _vertex_mode():  # the user chose Vertex AI: name what it lacks, not the API-key route
        return CredentialsError(
            f"model {model!r} cannot use Vertex AI: {reason} (or run offline with --model trace)",
            field="model",
            summary=reason,  # names Vertex AI and what it lacks
        )
    return CredentialsError(
        f"model {model!r} needs Gemini credentials ({reason}): set GEMINI_API_KEY (or GOOGLE_API_KEY, or "
        "Vertex AI via GOOGLE_GENAI_USE_VERTEXAI + GOOGLE_CLOUD_PROJECT), or run offline with --model trace",
        field="model",
        summary=f"no Gemini credentials ({reason})",
    )


@functools.lru_cache(maxsize=4)
def _tls_contexts(cert_file: str | None, cert_dir: str | None) -> tuple[ssl.SSLContext, ssl.SSLContext]:
    """The TLS contexts google-genai would build for a client, built once per process.

    Left to itself the SDK loads the trust store three times for every client (~30 ms each),
    which made each run (and each HTTP request to the service) pay ~100 ms before its first call.
    Same choices as the SDK: httpx2's OS trust store for the sync client unless SSL_CERT_FILE /
    SSL_CERT_DIR are set; certifi (or those variables) for aiohttp.
    """
    if cert_file or cert_dir:
        sync_ctx = ssl.create_default_context(cafile=cert_file, capath=cert_dir)
    else:
        import httpx2

        sync_ctx = httpx2.create_ssl_context()
    async_ctx = ssl.create_default_context(cafile=cert_file or certifi.where(), capath=cert_dir)
    return sync_ctx, async_ctx


def build_client(
    *, api_key: str | None = None, base_url: str | None = None, model: str = "nano-banana"
) -> genai.Client:
    """The one place a google-genai client is made (see the module docstring for the settings)."""
    register_secret(api_key)  # from here on, no channel out of the process shows it
    ok, reason = gemini_credentials_configured(api_key)
    if not ok:
        raise _credentials_error(model, reason)
    base_url = base_url or os.environ.get("GEMINI_BASE_URL", "").strip() or None
    tls: dict[str, Any] = {}
    if not _vertex_mode():  # Vertex may need a client-certificate context: leave that to the SDK
        sync_ctx, async_ctx = _tls_contexts(os.environ.get("SSL_CERT_FILE"), os.environ.get("SSL_CERT_DIR"))
        tls = {
            # verify stays for the SDK's own checks; the transport (which carries it too) bounds
            # connects and probes for a vanished peer (generate/adapters/gemini/http.py).
            "client_args": {"verify": sync_ctx, "transport": sync_transport(sync_ctx)},
            "async_client_args": {"ssl": async_ctx},
        }
    http_options = types.HttpOptions(
        base_url=base_url,
        api_version=None if _vertex_mode() else API_VERSION,
        retry_options=types.HttpRetryOptions(attempts=1),
        **tls,
    )
    try:
        return genai.Client(api_key=api_key or None, http_options=http_options)
    except ValueError as exc:  # the SDK's own set-up checks (project/location, missing key, ...)
        raise CredentialsError(
            f"could not set up the Gemini client for {model!r}: {redact(str(exc))}", field="model"
        ) from None


@functools.lru_cache(maxsize=64)
def _reference_bytes(path: str, mtime_ns: int, size: int, max_px: int) -> tuple[bytes, str, str]:
    """A reference read and downscaled once per (file, version): (bytes, mime, sha256 of the file)."""
    raw = Path(path).read_bytes()
    data, mime = downscale_reference(raw, max_px)
    return data, mime, hashlib.sha256(raw).hexdigest()


def _entry_for(model: str) -> ModelEntry:
    try:
        return resolve_model(model)
    except ConfigError:
        if is_gemini_image_id(model):
            log.warning("model %r is not in the catalog; using Nano Banana Pro's figures for it", model)
            return entry_for_unknown(model)
        raise


class NanoBananaAdapter(ImageModelAdapter):
    """One Gemini image model (an id or alias from the catalog, or any ``gemini-*image*`` id)."""

    def __init__(
        self,
        model: str = "nano-banana",
        *,
        client: genai.Client | None = None,
        api_key: str | None = None,
        base_url: str | None = None,
        allow_retired: bool = False,
        include_thoughts: bool | None = None,
        reference_max_px: int = 1536,
        dry_run: bool = False,
    ) -> None:
        """``dry_run=True`` builds no client and needs no credentials: the adapter describes the
        model (capabilities, checks, cost) and refuses every call."""
        self.entry = _entry_for(model)
        self.requested_name = model
        self.name = self.entry.id
        try:
            self.lifecycle_warnings = check_lifecycle(self.entry)
        except ConfigError as exc:
            if not allow_retired:
                raise
            self.lifecycle_warnings = [exc.message]
        for warning in self.lifecycle_warnings:
            log.warning("%s", warning)
        self.capabilities = AdapterCapabilities(
            max_reference_images=self.entry.max_reference_images,
            aspect_ratios=self.entry.aspect_ratios,
            image_sizes=self.entry.image_sizes,
            images_per_call=1,
            streaming_previews=self.entry.thinking == "always",
            refinement=True,  # multi-turn with the model's own signed image (see gemini_wire)
            network=True,
            request_options=frozenset(
                {"response_modalities"}
                | ({"google_search"} if self.entry.google_search else set())
                | ({"person_generation"} if self.entry.person_generation else set())
            ),
        )
        self._include_thoughts = include_thoughts
        self._reference_max_px = reference_max_px
        register_secret(api_key)
        self._owns_client = client is None and not dry_run
        self._client = client
        if client is None and not dry_run:
            self._client = build_client(api_key=api_key, base_url=base_url, model=model)
        elif client is None:
            self._client = _DryRunClient(model)

    def __repr__(self) -> str:
        return f"NanoBananaAdapter(model={self.entry.id!r}, requested={self.requested_name!r})"

    # ---- request preparation (files are read here, off the event loop in async paths) ---------
    def _images(
        self, paths, role: str, warnings: list[str], sent: list[dict[str, Any]] | None = None
    ) -> list[ReferenceImage]:
        """Read (and downscale) images for a user turn; an unreadable one is left out with a warning."""
        out: list[ReferenceImage] = []
        what = "input image" if role == "subject" else "reference"
        for path in paths:
            path = Path(path)
            try:
                st = path.stat()
                data, mime, sha = _reference_bytes(
                    str(path), st.st_mtime_ns, st.st_size, self._reference_max_px
                )
            except (OSError, ValueError) as exc:
                warnings.append(f"{what} {path.name} not sent: it cannot be read ({type(exc).__name__})")
                continue
            out.append(ReferenceImage(data=data, mime_type=mime, name=path.name, role=role, sha256=sha))
            if sent is not None:
                sent.append({"name": path.name, "path": str(path), "sha256": sha})
        return out

    def _user_turn(self, text, references, subjects, warnings, sent=None) -> UserTurn:
        """A user turn as a first call lays it out: the image to edit first, then the style references."""
        images = self._images(subjects, "subject", warnings)
        room = max(0, self.entry.max_reference_images - len(images))  # the limit is for all images
        images += self._images(references[:room], "style", warnings, sent)
        return UserTurn(prompt=text, references=images)

    def _model_turn(self, turn: HistoryTurn) -> ModelTurn:
        parts = []
        for part in turn.parts:
            # The model's own image goes back as the bytes it sent, never re-encoded.
            data = Path(part.image).read_bytes() if part.image is not None else None
            parts.append(
                ModelPart(
                    text=part.text,
                    data=data,
                    mime_type=part.mime_type,
                    thought_signature=part.thought_signature,
                )
            )
        return ModelTurn(parts=parts)

    def _prepare(
        self, request: ImageRequest
    ) -> tuple[list[types.Content], types.GenerateContentConfig, list[str], list[dict[str, Any]]]:
        """The call's contents and config, warnings, and the references it carries ({name, path, sha256})."""
        warnings: list[str] = []
        # The style references the call carries, in any turn (what metadata records as sent): a
        # refinement's references ride in the history's first user turn.
        sent: list[dict[str, Any]] = []
        turns: list[UserTurn | ModelTurn] = []
        for turn in request.history:
            if turn.role == "model":
                turns.append(self._model_turn(turn))
            else:
                turns.append(
                    self._user_turn(turn.text, turn.reference_images, turn.subject_images, warnings, sent)
                )
        turns.append(
            self._user_turn(request.prompt, request.reference_images, request.input_images, warnings, sent)
        )
        contents = build_conversation(turns)
        config = build_config(self.entry, request, include_thoughts=self._include_thoughts)
        return contents, config, warnings, sent

    def _failure(self, exc: Exception, sent: list[dict[str, Any]]) -> Exception:
        """The ModelCallError for ``exc`` (key redacted, carrying the references the call sent), or
        ``exc`` itself if it is not a call failure.

        ``exc`` becomes the error's cause unless its own text shows a secret (the SDK's messages
        quote the answer, which a proxy may have filled with the key): then it is left out."""
        err = classify_exception(exc)
        if err is None:
            return exc
        redact_error(err)
        err.references_sent = sent
        err.__cause__ = exc
        return redact_exception(err)

    def _done(self, image: ModelImage, warnings: list[str], sent: list[dict[str, Any]]) -> ModelImage:
        image.warnings[:0] = warnings
        image.references_sent = sent
        return image

    # ---- calls --------------------------------------------------------------------------------
    def generate(self, request: ImageRequest) -> ModelImage:
        contents, config, warnings, sent = self._prepare(request)
        try:
            response = self._client.models.generate_content(
                model=self.entry.id, contents=contents, config=config
            )
            return self._done(parse_response(response, self.entry, request), warnings, sent)
        except Exception as exc:
            failure = self._failure(exc, sent)
            if failure is exc:
                raise
            raise failure from failure.__cause__  # None when the cause would show a secret

    async def agenerate(self, request: ImageRequest) -> ModelImage:
        contents, config, warnings, sent = await asyncio.to_thread(self._prepare, request)
        try:
            response = await self._client.aio.models.generate_content(
                model=self.entry.id, contents=contents, config=config
            )
            return self._done(parse_response(response, self.entry, request), warnings, sent)
        except Exception as exc:
            failure = self._failure(exc, sent)
            if failure is exc:
                raise
            raise failure from failure.__cause__  # None when the cause would show a secret

    async def astream(self, request: ImageRequest) -> AsyncIterator[ModelPreview | ModelImage]:
        """Thought images as previews, then the final image.

        The SDK stream is read by a helper task, so that a consumer who stops early (``aclose()``)
        or is cancelled cancels the read itself: the HTTP response is released mid-body, which
        closes the connection and lets the server stop working on it. Closing the SDK's generator
        alone would leave its inner generators, and the connection, open until garbage collection.
        """
        contents, config, warnings, sent = await asyncio.to_thread(self._prepare, request)
        acc = StreamAccumulator(self.entry, request)
        chunks: asyncio.Queue[Any] = asyncio.Queue()
        done = object()

        async def pump() -> None:
            try:
                stream = await self._client.aio.models.generate_content_stream(
                    model=self.entry.id, contents=contents, config=config
                )
                async for chunk in stream:
                    chunks.put_nowait(chunk)
                chunks.put_nowait(done)
            except Exception as exc:  # handed to the consumer, classified there
                chunks.put_nowait(exc)

        reader = asyncio.create_task(pump(), name=f"gemini-stream-{request.index}")
        try:
            while (item := await chunks.get()) is not done:
                if isinstance(item, Exception):
                    failure = self._failure(item, sent)
                    if failure is item:
                        raise item
                    raise failure from failure.__cause__  # None when the cause would show a secret
                for preview in acc.feed(item):
                    yield preview
            final = acc.finish()
        finally:
            if not reader.done():
                reader.cancel()
                await asyncio.wait({reader}, timeout=5)
        yield self._done(final, warnings, sent)

    # ---- description, cost, checks --------------------------------------------------------------
    def estimate_cost(self, request: ImageRequest) -> float:
        """Image price + prompt, including every image and text of the history sent as input."""
        images, text = input_load(request.input_images, request.history)
        return estimate_cost(
            self.entry,
            request.image_size,
            len(request.reference_images),
            input_images=images,
            input_text_chars=text,
        )

    def check_request(self, *, aspect_ratio: str, image_size: str, num_references: int) -> list[str]:
        return [
            *self.lifecycle_warnings,
            *super().check_request(
                aspect_ratio=aspect_ratio, image_size=image_size, num_references=num_references
            ),
        ]

    def check_options(
        self,
        *,
        seed: int | None = None,
        google_search: bool = False,
        person_generation: str | None = None,
        response_modalities: tuple[str, ...] = ("TEXT", "IMAGE"),
    ) -> list[str]:
        """The catalog's checks, plus what the API itself refuses (before any call)."""
        if seed is not None and not SEED_MIN <= seed <= SEED_MAX:
            raise ConfigError(
                f"seed must be from {SEED_MIN} to {SEED_MAX} for Gemini models (the API's seed is a "
                f"32-bit integer), got {seed}",
                field="seed",
            )
        if google_search and not self.entry.google_search:
            with_search = [
                e.id for e in load_catalog().models if e.google_search and e.effective_status() == "live"
            ]
            raise ConfigError(
                f"model {self.entry.id!r} does not offer Google Search grounding; models that do: "
                f"{', '.join(with_search) or 'none'}",
                field="google_search",
            )
        if person_generation and not _vertex_mode():
            # The SDK raises ValueError for it in Gemini API mode; the API has no such field there.
            raise ConfigError(
                "person_generation is only offered on Vertex AI (GOOGLE_GENAI_USE_VERTEXAI=true); "
                "the Gemini API does not take it",
                field="person_generation",
            )
        return super().check_options(
            seed=seed,
            google_search=google_search,
            person_generation=person_generation,
            response_modalities=response_modalities,
        )

    def check_sheet(self, layout: Any, *, aspect_ratio: str, image_size: str) -> list[str]:
        """The catalog's recommended sheets for the size, and cells of at least MIN_CELL_PX a side."""
        offered = self.entry.sheet_layouts.get(image_size, ())
        if layout.name not in offered:
            sizes = [f"{size}: {', '.join(names)}" for size, names in self.entry.sheet_layouts.items()]
            raise ConfigError(
                f"sheet {layout.name} is not offered by {self.entry.id} at image size {image_size}; "
                f"it offers {'; '.join(sizes) or 'no sheets'}",
                field="sheet",
            )
        check_cell_size(
            layout,
            self.entry.pixels(aspect_ratio, image_size),
            model=self.entry.id,
            where=f"{aspect_ratio} {image_size}",
        )
        return []

    def describe(self) -> dict[str, Any]:
        return {
            **super().describe(),
            **self.entry.describe(),
            "name": self.entry.id,
            "requested": self.requested_name,
        }

    def turn_outline(
        self, prompt: str, *, subjects: Sequence[Path] = (), references: Sequence[Path] = ()
    ) -> list[dict[str, str]]:
        """The user turn as :func:`generate.adapters.gemini.wire.turn_outline` lays it out: the images
        to edit first, then the style references, each with its label."""
        sent = [ReferenceImage(b"", "image/jpeg", name=Path(p).name, role="subject") for p in subjects]
        sent += [ReferenceImage(b"", "image/jpeg", name=Path(p).name) for p in references]
        return turn_outline(prompt, sent)

    # ---- closing -------------------------------------------------------------------------------
    def close(self) -> None:
        if self._owns_client:
            self._client.close()

    async def aclose(self) -> None:
        if self._owns_client:
            await self._client.aio.aclose()
            self._client.close()


class _DryRunClient:
    """Stands in for the google-genai client of a dry-run adapter: any use is a CredentialsError."""

    def __init__(self, model: str) -> None:
        self._model = model

    def __getattr__(self, name: str) -> Any:
        ok, reason = gemini_credentials_configured()
        raise _credentials_error(self._model, reason if not ok else "this adapter was built for a dry run")
