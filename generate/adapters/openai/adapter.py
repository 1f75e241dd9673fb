"""OpenAI GPT Image models (``openai:gpt-image-1.5``, ``openai:gpt-image-2.5-flare``, ...) via the ``openai`` SDK.

``OpenAIImageAdapter(model)`` makes one image per call:

* no image to send: ``images.generate``; style references and/or an image to edit (a designer's
  drawing, a refined sketch's parent): ``images.edit`` with every image in ``image[]`` (the image to
  edit first, then the references, 16 at most) and a note appended to the prompt that says which is
  which;
* ``generate`` uses the sync client, ``agenerate`` / ``astream`` the async one; ``astream`` asks for
  ``partial_images`` (default 2) with ``stream=true`` and yields each partial image as a
  :class:`ModelPreview`, then the final :class:`ModelImage`;
* size from the aspect ratio (the catalog's table: 1:1 -> 1024x1024, 3:2 -> 1536x1024,
  2:3 -> 1024x1536, more ratios on gpt-image-2 and later), image size "1K" only, ``quality`` from
  ``quality=`` or ``SKETCHGEN_OPENAI_QUALITY`` (default medium), ``output_format=png``, ``n=1``;
  OpenAI image models take no seed (the seed still shapes the variation plan);
* cost from the returned ``usage`` (input text / input image / output tokens) and the dated rates
  in ``models.toml``; the estimate, with a warning, when an answer carries no usage;
* answers: ``data[0].b64_json`` (what GPT Image models return); an answer carrying ``data[0].url``
  instead (DALL-E style, or a gateway) is downloaded (``data:`` URLs decoded), without the API key;
* credentials: ``api_key=`` or ``OPENAI_API_KEY``; ``OPENAI_BASE_URL`` (or ``base_url=``) replaces
  the endpoint (a bare ``http://host:port`` gets the API's ``/v1``); ``OPENAI_ORG_ID`` /
  ``OPENAI_PROJECT_ID`` are read by the SDK itself. Missing key: :class:`CredentialsError` when the adapter is built, before any call.
  The key is registered with :mod:`generate.redact` (which also reads ``OPENAI_API_KEY`` itself);
* SDK retries are off (``max_retries=0``) and the per-call timeout is ``ImageRequest.timeout_s``:
  failures surface as :class:`ModelCallError` (:mod:`generate.adapters.openai.errors`) and the
  generator's retry loop decides;
* a shut-down model (gpt-image-1) is refused against OpenAI's own endpoint; with ``OPENAI_BASE_URL``
  (a gateway that may still serve it) or ``allow_retired`` it is called, with a warning.

The family (``openai:*`` names, availability, listing, estimates) is
:mod:`generate.adapters.openai.family`, which imports this module, and so the SDK, only when an
adapter is built.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import functools
import hashlib
import io
import json
import logging
import os
import urllib.parse
from collections.abc import AsyncIterator, Sequence
from pathlib import Path
from typing import Any, NoReturn

import httpx2  # the openai SDK's own HTTP library
import openai
from PIL import Image, UnidentifiedImageError

from generate.adapter import (
    AdapterCapabilities,
    ImageModelAdapter,
    ImageRequest,
    ModelImage,
    ModelPreview,
    Usage,
    input_load,
)
from generate.adapters.openai.catalog import (
    IMAGE_SIZES,
    PREFIX,
    ModelEntry,
    cost_usd,
    estimate_cost,
    load_catalog,
    resolve_model,
)
from generate.adapters.openai.errors import classify_exception, error_for_event
from generate.adapters.openai.family import BASE_URL_ENV, KEY_ENV, QUALITY_ENV, openai_credentials
from generate.errors import ConfigError, CredentialsError, ErrorCode, ModelCallError
from generate.postprocess import sniff_mime
from generate.redact import redact_error, redact_exception, register_secret

__all__ = ["OpenAIImageAdapter", "edit_prompt"]

log = logging.getLogger(__name__)
INPUT_MAX_PX = 1536  # input images are billed by size: a reference needs no more than this
URL_IMAGE_MAX_BYTES = 64 * 1024 * 1024  # a downloaded answer image larger than this is refused
_SENDABLE = {"image/png", "image/jpeg", "image/webp"}


def _credentials_error(model: str) -> CredentialsError:
    return CredentialsError(
        f"model {model!r} needs an OpenAI API key: set {KEY_ENV} (and {BASE_URL_ENV} for another "
        "endpoint), or run offline with --model trace",
        field="model",
        summary=f"no OpenAI API key ({KEY_ENV} is not set)",
    )


@functools.lru_cache(maxsize=64)
def _input_image(path: str, mtime_ns: int, size: int) -> tuple[bytes, str, str]:
    """An image to send, read once per (file, version): (bytes, mime, sha256 of the file).

    PNG, JPEG and WebP up to :data:`INPUT_MAX_PX` go as they are; anything else, or anything larger,
    is re-encoded as PNG (alpha flattened onto white: references are line art on paper).
    """
    raw = Path(path).read_bytes()
    sha = hashlib.sha256(raw).hexdigest()
    mime = sniff_mime(raw)
    with Image.open(io.BytesIO(raw)) as img:
        if mime in _SENDABLE and max(img.size) <= INPUT_MAX_PX:
            return raw, mime, sha
        img.thumbnail((INPUT_MAX_PX, INPUT_MAX_PX))
        rgba = img.convert("RGBA")
    flat = Image.new("RGB", rgba.size, (255, 255, 255))
    flat.paste(rgba, mask=rgba.getchannel("A"))
    out = io.BytesIO()
    flat.save(out, format="PNG")
    return out.getvalue(), "image/png", sha


def _decode(b64: str) -> tuple[bytes, str]:
    """(bytes, sniffed mime) of a base64 image; BAD_IMAGE (retryable) when it is not one."""
    try:
        data = base64.b64decode(b64, validate=True)
    except (binascii.Error, ValueError):
        raise ModelCallError(
            ErrorCode.BAD_IMAGE, "OpenAI's image is not valid base64", retryable=True
        ) from None
    mime = sniff_mime(data)
    if mime is None:
        raise ModelCallError(ErrorCode.BAD_IMAGE, "OpenAI's image bytes are not an image", retryable=True)
    return data, mime


def _base_url(value: str | None) -> str | None:
    """``OPENAI_BASE_URL`` as the SDK needs it: a bare ``scheme://host[:port]`` (no path) gets the
    API's ``/v1``; any other path (a gateway's own prefix) is kept as written."""
    value = (value or "").strip()
    if not value:
        return None
    parts = urllib.parse.urlsplit(value)
    if parts.scheme and parts.netloc and parts.path in ("", "/"):
        return value.rstrip("/") + "/v1"
    return value


def _first_image(response: Any, timeout_s: float | None) -> tuple[Any, Any, Any]:
    """(b64_json, usage, revised_prompt) of an ImagesResponse; BAD_RESPONSE for a body of another shape
    (the SDK builds its models without validating them). An item with a ``url`` and no ``b64_json``
    is fetched here (blocking: async callers run this in a thread)."""
    data = getattr(response, "data", None)
    if not isinstance(data, list) or (data and not hasattr(data[0], "b64_json")):
        raise ModelCallError(ErrorCode.BAD_RESPONSE, "OpenAI's answer has no image list", retryable=True)
    item = data[0] if data else None
    b64, url = getattr(item, "b64_json", None), getattr(item, "url", None)
    if not b64 and isinstance(url, str) and url:
        b64 = _fetch_url(url, timeout_s)
    return b64, getattr(response, "usage", None), getattr(item, "revised_prompt", None)


def _is_json(stream: Any) -> bool:
    """Whether a streamed call was answered with a plain JSON body instead of server-sent events."""
    response = getattr(stream, "response", None)
    ctype = str(getattr(response, "headers", {}).get("content-type", "")).lower()
    return ctype.startswith("application/json")


def _fetch_url(url: str, timeout_s: float | None) -> str:
    """The base64 of the image at an answer's ``url``: a ``data:`` URL decoded, an http(s) one
    downloaded with a plain client (never the API key: the image host is not the API). The URL
    itself never enters an error (signed URLs carry tokens)."""
    if url.startswith("data:"):
        header, _, payload = url.partition(",")
        if not header.endswith(";base64"):
            raise ModelCallError(ErrorCode.BAD_IMAGE, "OpenAI's data: URL is not base64", retryable=True)
        return payload
    if urllib.parse.urlsplit(url).scheme not in ("http", "https"):
        raise ModelCallError(ErrorCode.BAD_RESPONSE, "OpenAI's image URL is not http(s)", retryable=True)
    try:
        with httpx2.Client(timeout=timeout_s or 60.0, follow_redirects=True) as client:
            with client.stream("GET", url) as answer:
                if answer.status_code != 200:
                    raise ModelCallError(
                        ErrorCode.BAD_RESPONSE,
                        f"OpenAI's image URL answered HTTP {answer.status_code}",
                        retryable=True,
                        http_status=answer.status_code,
                    )
                body = bytearray()
                for chunk in answer.iter_bytes():
                    body += chunk
                    if len(body) > URL_IMAGE_MAX_BYTES:
                        raise ModelCallError(
                            ErrorCode.BAD_IMAGE, "OpenAI's image URL serves more than 64 MiB", retryable=True
                        )
    except httpx2.TimeoutException:
        raise ModelCallError(
            ErrorCode.TIMEOUT, "downloading OpenAI's image timed out", retryable=True
        ) from None
    except httpx2.HTTPError as exc:
        raise ModelCallError(
            ErrorCode.CONNECTION, f"downloading OpenAI's image failed ({type(exc).__name__})", retryable=True
        ) from None
    return base64.b64encode(bytes(body)).decode("ascii")


def edit_prompt(prompt: str, subjects: int, references: int) -> str:
    """The prompt of an edits call: what each attached image is, in the order sent."""
    lines = []
    if subjects:
        which = "Image 1 is" if subjects == 1 else f"Images 1-{subjects} are"
        lines.append(
            f"{which} the drawing to work from: keep its subject, design and key features, change what "
            "the text asks, and redraw it under the sketch rules."
        )
    if references:
        first, last = subjects + 1, subjects + references
        which = (
            f"Image {first} is a style reference"
            if references == 1
            else f"Images {first}-{last} are style references"
        )
        lines.append(
            f"{which} from the studio's library, not a subject to edit: take only the drawing style and "
            "construction; do not copy the subject, pose, composition or lettering."
        )
    return prompt if not lines else f"{prompt}\n\nAttached images, in order: {' '.join(lines)}"


class OpenAIImageAdapter(ImageModelAdapter):
    """One GPT Image model from the catalog (``openai:<id>`` or the bare id)."""

    def __init__(
        self,
        model: str | None = None,
        *,
        client: openai.OpenAI | None = None,
        async_client: openai.AsyncOpenAI | None = None,
        api_key: str | None = None,
        base_url: str | None = None,
        quality: str | None = None,
        partial_images: int = 2,
        allow_retired: bool = False,
        dry_run: bool = False,
        **_ignored: Any,
    ) -> None:
        """``dry_run=True`` builds no client and needs no key: the adapter describes the model
        (capabilities, checks, cost) and refuses every call. Options meant for other families are ignored."""
        catalog = load_catalog()
        self.entry: ModelEntry = resolve_model(model or catalog.default_model)
        self.name = self.entry.name
        self.requested_name = model or self.name
        base_url = _base_url(base_url or os.environ.get(BASE_URL_ENV))
        self.lifecycle_warnings = self._lifecycle(allow_retired or base_url is not None)
        self.quality = (quality or os.environ.get(QUALITY_ENV, "")).strip().lower() or catalog.default_quality
        if self.quality not in self.entry.qualities:
            raise ConfigError(
                f"quality {self.quality!r} is not offered by model {self.name!r}; it offers: "
                f"{', '.join(self.entry.qualities)} (set with {QUALITY_ENV})",
                field="quality",
            )
        if not 0 <= partial_images <= 3:  # the API's own bounds
            raise ConfigError(f"partial_images must be 0 to 3, got {partial_images}", field="partial_images")
        self.partial_images = partial_images
        self.capabilities = AdapterCapabilities(
            max_reference_images=self.entry.max_input_images,
            aspect_ratios=self.entry.aspect_ratios,
            image_sizes=IMAGE_SIZES,
            images_per_call=1,
            streaming_previews=partial_images > 0,
            refinement=False,  # no conversation: a refinement is an edit of the parent sketch
            network=True,
            request_options=frozenset({"response_modalities"}),  # it only ever makes an image
        )
        register_secret(api_key)
        self._dry_run = dry_run and client is None and async_client is None
        self._owns = client is None, async_client is None
        self._client, self._aclient = client, async_client
        self._aclient_loop: asyncio.AbstractEventLoop | None = None
        # The key is trimmed: one pasted with a newline or CRLF is an invalid header, which the SDK
        # reports as a connection error (retried forever, never naming the key).
        key = (api_key or os.environ.get(KEY_ENV, "")).strip() or None
        self._common = {"api_key": key, "base_url": base_url, "max_retries": 0}
        if not self._dry_run and (client is None or async_client is None):
            if not openai_credentials(api_key)[0]:
                raise _credentials_error(self.requested_name)
            self._client = client or openai.OpenAI(**self._common)

    def _async_images(self) -> Any:
        """The async client's ``images``: one client per event loop (its connections belong to the
        loop that opened them, and a library user may run several ``asyncio.run`` in turn)."""
        if not self._owns[1]:
            return self._aclient.images
        loop = asyncio.get_running_loop()
        if self._aclient is None or self._aclient_loop is not loop:
            self._aclient, self._aclient_loop = openai.AsyncOpenAI(**self._common), loop
        return self._aclient.images

    def __repr__(self) -> str:
        return f"OpenAIImageAdapter(model={self.name!r}, quality={self.quality!r})"

    def _lifecycle(self, allowed: bool) -> list[str]:
        status, entry = self.entry.effective_status(), self.entry
        instead = f" Use {PREFIX}{entry.replaced_by} instead." if entry.replaced_by else ""
        if status == "shutdown":
            when = f" on {entry.shutdown.isoformat()}" if entry.shutdown else ""
            if not allowed:
                raise ConfigError(
                    f"model {self.name!r} was shut down by OpenAI{when}.{instead} (An endpoint that still "
                    f"serves it: set {BASE_URL_ENV}, or --allow-retired.)",
                    field="model",
                )
            return [f"model {self.name!r} was shut down by OpenAI{when}; calling it anyway.{instead}"]
        if status == "deprecated":
            return [f"model {self.name!r} is deprecated.{instead}"]
        return []

    # ---- request preparation (files are read here, off the event loop in async paths) ---------
    def _prepare(self, request: ImageRequest) -> tuple[dict[str, Any], bool, list[str], list[dict]]:
        """(SDK keyword arguments, whether it is an edit, warnings, references sent {name, path, sha256})."""
        warnings: list[str] = []
        sent: list[dict[str, Any]] = []
        files: list[tuple[str, bytes, str]] = []

        def add(paths, what: str, record: bool) -> int:
            count = 0
            for path in paths:
                path = Path(path)
                if len(files) >= self.entry.max_input_images:
                    limit = self.entry.max_input_images
                    warnings.append(f"{what} {path.name} not sent: {self.name} takes at most {limit} images")
                    continue
                try:
                    st = path.stat()
                    data, mime, sha = _input_image(str(path), st.st_mtime_ns, st.st_size)
                except (OSError, ValueError, UnidentifiedImageError, Image.DecompressionBombError) as exc:
                    warnings.append(f"{what} {path.name} not sent: it cannot be read ({type(exc).__name__})")
                    continue
                files.append((path.name, data, mime))
                count += 1
                if record:
                    sent.append({"name": path.name, "path": str(path), "sha256": sha})
            return count

        subjects = add(request.input_images, "input image", False)
        references = add(request.reference_images, "reference", True)
        kwargs: dict[str, Any] = {
            "model": self.entry.id,
            "n": 1,
            "size": self.entry.size_for(request.aspect_ratio, request.image_size),
            "quality": self.quality,
            "output_format": "png",
            "timeout": request.timeout_s,
        }
        if not files:
            kwargs["prompt"] = request.prompt
            return kwargs, False, warnings, sent
        kwargs["prompt"] = edit_prompt(request.prompt, subjects, references)
        kwargs["image"] = files
        # Keep a designer's drawing faithfully; style references only need their style taken.
        fidelity = "high" if subjects else "low"
        if fidelity in self.entry.input_fidelity:
            kwargs["input_fidelity"] = fidelity
        return kwargs, True, warnings, sent

    def _check_live(self) -> None:
        """A dry-run adapter refuses every call, naming what a real run needs."""
        if not self._dry_run:
            return
        if not openai_credentials()[0]:
            raise _credentials_error(self.requested_name)
        raise CredentialsError(
            f"model {self.name!r} was built for a dry run and makes no calls", field="model"
        )

    # ---- answers ------------------------------------------------------------------------------
    def _image(
        self,
        b64: Any,
        usage: Any,
        revised_prompt: Any,
        request: ImageRequest,
        kwargs: dict[str, Any],
        edit: bool,
        warnings: list[str],
        sent: list[dict],
    ) -> ModelImage:
        if not isinstance(b64, str) or not b64:
            raise ModelCallError(ErrorCode.NO_IMAGE, "OpenAI answered without an image", retryable=True)
        data, mime = _decode(b64)
        tokens, cost, source = self._usage(usage, request, kwargs, warnings)
        return ModelImage(
            data=data,
            mime_type=mime,
            model=self.name,
            model_version=self.entry.id,
            text=revised_prompt if isinstance(revised_prompt, str) else None,
            usage=tokens,
            cost_usd=cost,
            warnings=warnings,  # the model's lifecycle is the run's warning (check_request), not each sketch's
            references_sent=sent,
            extra={
                "endpoint": "images/edits" if edit else "images/generations",
                "size": kwargs["size"],
                "quality": self.quality,
                "input_images": len(kwargs.get("image", ())),
                **({"input_fidelity": kwargs["input_fidelity"]} if "input_fidelity" in kwargs else {}),
                "cost_source": source,
                "prices_as_of": self.entry.prices_as_of,
            },
        )

    def _usage(
        self, usage: Any, request: ImageRequest, kwargs: dict[str, Any], warnings: list[str]
    ) -> tuple[Usage, float, str]:
        """(tokens, USD, "usage" | "estimate"): priced from the answer's usage when it has one."""
        try:
            return self._priced(usage, kwargs)
        except (TypeError, ValueError, AttributeError):
            warnings.append("OpenAI's answer carried no readable usage: the cost is the catalog's estimate")
            return Usage(), self.estimate_cost(request), "estimate"

    def _priced(self, usage: Any, kwargs: dict[str, Any]) -> tuple[Usage, float, str]:
        if usage is None or not hasattr(usage, "output_tokens"):
            raise ValueError("no usage")
        details = getattr(usage, "input_tokens_details", None)
        text_in = int(getattr(details, "text_tokens", 0) or 0)
        image_in = int(getattr(details, "image_tokens", 0) or 0)
        input_tokens = int(getattr(usage, "input_tokens", 0) or 0)
        if details is None:  # no split: a prompt without images is all text
            text_in, image_in = (input_tokens, 0) if "image" not in kwargs else (0, input_tokens)
        output = int(getattr(usage, "output_tokens", 0) or 0)
        out_details = getattr(usage, "output_tokens_details", None)
        out_image = int(getattr(out_details, "image_tokens", output) if out_details else output)
        out_text = int(getattr(out_details, "text_tokens", 0) if out_details else 0)
        tokens = Usage(
            prompt_tokens=input_tokens,
            output_tokens=output,
            output_image_tokens=out_image,
            output_text_tokens=out_text,
            total_tokens=int(getattr(usage, "total_tokens", 0) or input_tokens + output),
        )
        return tokens, cost_usd(self.entry, text_in=text_in, image_in=image_in, output=output), "usage"

    def _raise_failure(self, exc: Exception, sent: list[dict], *, after_output: bool = False) -> NoReturn:
        """Raise the redacted ModelCallError for ``exc`` (carrying the references sent), or ``exc``
        itself when it is no call failure. ``exc`` stays the cause unless its text shows a secret."""
        err = classify_exception(exc, after_output=after_output)
        if err is None:
            raise exc
        redact_error(err)
        err.references_sent = sent
        if err is not exc:
            err.__cause__ = exc
        redact_exception(err)
        raise err from err.__cause__

    # ---- calls --------------------------------------------------------------------------------
    def generate(self, request: ImageRequest) -> ModelImage:
        self._check_live()
        kwargs, edit, warnings, sent = self._prepare(request)
        try:
            images = self._client.images
            response = images.edit(**kwargs) if edit else images.generate(**kwargs)
            answer = _first_image(response, request.timeout_s)
            return self._image(*answer, request, kwargs, edit, warnings, sent)
        except Exception as exc:
            self._raise_failure(exc, sent)

    async def agenerate(self, request: ImageRequest) -> ModelImage:
        self._check_live()
        kwargs, edit, warnings, sent = await asyncio.to_thread(self._prepare, request)
        try:
            images = self._async_images()
            response = await (images.edit(**kwargs) if edit else images.generate(**kwargs))
            answer = await asyncio.to_thread(_first_image, response, request.timeout_s)
            return self._image(*answer, request, kwargs, edit, warnings, sent)
        except Exception as exc:
            self._raise_failure(exc, sent)

    async def astream(self, request: ImageRequest) -> AsyncIterator[ModelPreview | ModelImage]:
        """Partial images as previews, then the final image (``*.completed`` event). An endpoint
        that answers a plain JSON ``ImagesResponse`` instead of events gives the final image alone;
        a partial image that cannot be decoded is skipped.

        The SDK stream is closed in ``finally``: a consumer who stops early, or is cancelled,
        releases the HTTP response mid-body, which closes the connection."""
        self._check_live()
        kwargs, edit, warnings, sent = await asyncio.to_thread(self._prepare, request)
        kwargs.update(stream=True, partial_images=self.partial_images)
        previews, final, stream = 0, None, None
        try:
            images = self._async_images()
            stream = await (images.edit(**kwargs) if edit else images.generate(**kwargs))
            if _is_json(stream):  # an endpoint that does not stream answered the whole image at once
                body = json.loads(await stream.response.aread())
                response = openai.types.ImagesResponse.construct(**body) if isinstance(body, dict) else None
                answer = await asyncio.to_thread(_first_image, response, request.timeout_s)
                final = self._image(*answer, request, kwargs, edit, warnings, sent)
            else:
                async for event in stream:
                    kind = str(getattr(event, "type", "") or "")
                    if kind.endswith(".partial_image"):
                        try:
                            data, mime = _decode(getattr(event, "b64_json", None) or "")
                        # A preview is a courtesy: a broken one is not the sketch's failure.
                        except ModelCallError:
                            log.debug("OpenAI sent a partial image that is not an image: skipped")
                            continue
                        previews += 1
                        index = getattr(event, "partial_image_index", None)  # optional on the wire
                        sequence = index if isinstance(index, int) else previews - 1
                        yield ModelPreview(data=data, mime_type=mime, sequence=sequence)
                    elif kind.endswith(".completed"):
                        final = self._image(
                            getattr(event, "b64_json", None),
                            getattr(event, "usage", None),
                            None,
                            request,
                            kwargs,
                            edit,
                            warnings,
                            sent,
                        )
                        break
                    else:
                        # An error event whose data has no "error" key (the SDK raises on those itself);
                        # any other event (a progress note a newer API may add) carries no image: skip it.
                        extra = getattr(event, "model_extra", None) or {}
                        if kind == "error" or kind.endswith(".failed") or "code" in extra:
                            raise error_for_event(extra.get("error") or extra, after_output=previews > 0)
        except Exception as exc:
            self._raise_failure(exc, sent, after_output=previews > 0)
        finally:
            if stream is not None:
                await stream.close()
        if final is None:
            raise ModelCallError(
                ErrorCode.NO_IMAGE, "OpenAI's stream ended without a final image", retryable=True
            )
        yield final

    # ---- description, cost, checks --------------------------------------------------------------
    def estimate_cost(self, request: ImageRequest) -> float:
        images, text = input_load(request.input_images, request.history)
        try:
            size = self.entry.size_for(request.aspect_ratio, request.image_size)
        except ConfigError:
            size = "1024x1024"
        return estimate_cost(
            self.entry,
            self.quality,
            size,
            input_images=images + len(request.reference_images),
            input_text_chars=text,
        )

    def turn_outline(
        self, prompt: str, *, subjects: Sequence[Path] = (), references: Sequence[Path] = ()
    ) -> list[dict[str, str]]:
        """What one call sends, as a dry run shows it: the prompt (with the note on the attached
        images when there are any), then the images in order, 16 at most."""
        images = [*subjects, *references][: self.entry.max_input_images]
        kept_subjects = min(len(subjects), len(images))
        text = edit_prompt(prompt, kept_subjects, len(images) - kept_subjects) if images else prompt
        mime = {".png": "image/png", ".jpg": "image/jpeg", ".jpeg": "image/jpeg", ".webp": "image/webp"}
        parts = [{"text": text}]
        parts += [
            {"image": Path(p).name, "mime_type": mime.get(Path(p).suffix.lower(), "image/png")}
            for p in images
        ]
        return parts

    def check_request(self, *, aspect_ratio: str, image_size: str, num_references: int) -> list[str]:
        self.entry.size_for(aspect_ratio, image_size)  # ConfigError naming what the model offers
        return [
            *self.lifecycle_warnings,
            *super().check_request(
                aspect_ratio=aspect_ratio, image_size=image_size, num_references=num_references
            ),
        ]

    def check_options(self, *, seed: int | None = None, **options: Any) -> list[str]:
        warnings = super().check_options(seed=seed, **options)
        if seed is not None:
            warnings.append(
                f"{self.name} takes no seed: the seed shapes the variation plan only, images differ run to run"
            )
        return warnings

    def describe(self) -> dict[str, Any]:
        return {**super().describe(), **self.entry.describe(self.quality), "name": self.name}

    # ---- closing -------------------------------------------------------------------------------
    def close(self) -> None:
        if self._client is not None and self._owns[0]:
            self._client.close()

    async def aclose(self) -> None:
        if self._aclient is not None and self._owns[1]:
            if (
                self._aclient_loop is asyncio.get_running_loop()
            ):  # another loop's client cannot be closed here
                await self._aclient.close()
            self._aclient = None
        self.close()
