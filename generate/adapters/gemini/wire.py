"""Pure request building and response parsing for Gemini image calls (no network, no files).

Request (docs/gemini-api-facts.md §4): one user turn holding the prompt text, then each reference
image inline right after a text part that labels it (what it is and how to use it: see
:func:`turn_outline`); ``responseModalities`` ``["TEXT", "IMAGE"]`` (default) or ``["IMAGE"]``;
``imageConfig{aspectRatio, imageSize}`` with the size uppercase and omitted for models that do not
take it, plus ``personGeneration`` when asked (Vertex AI only); ``seed`` when set (best effort per
the SDK: not a promise of the same image); ``tools [{googleSearch: {}}]`` when grounding is asked;
no ``systemInstruction`` (2.5 Flash Image rejects it), never ``candidateCount`` (> 1 is a 400).
Thinking models get ``thinkingConfig{includeThoughts: true}`` so thought images can be streamed as
previews. The per-call timeout goes in ``http_options.timeout`` in **ms**.

Response (§5, §9.2): the final image is the last non-thought image part; if there is none and the
candidate finished normally, the last image part of any kind. Everything else becomes a typed
:class:`ModelCallError` (see :mod:`generate.adapters.gemini.errors`). The mime type is sniffed from the
bytes, because JPEG labelled ``image/png`` happens.

Error classification lives in :mod:`generate.adapters.gemini.errors` and is re-exported here.
"""

from __future__ import annotations

import base64
import io
import logging
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from google.genai import types
from PIL import Image

from generate.adapter import ImageRequest, ModelImage, ModelPreview, Usage
from generate.adapters.gemini.catalog import ModelEntry, cost_usd
from generate.adapters.gemini.errors import (
    BLOCKED_OUTPUT_REASONS,
    classify_api_error,
    classify_exception,
    error_for_finish_reason,
    parse_duration,
)
from generate.errors import ErrorCode, ModelCallError
from generate.postprocess import sniff_mime

__all__ = [
    "BLOCKED_OUTPUT_REASONS",
    "REFERENCE_MAX_PX",
    "sniff_mime",
    "downscale_reference",
    "ReferenceImage",
    "REFERENCE_ROLES",
    "reference_label",
    "references_note",
    "turn_outline",
    "build_contents",
    "build_conversation",
    "UserTurn",
    "ModelTurn",
    "ModelPart",
    "model_parts_record",
    "build_config",
    "grounding_record",
    "usage_from_metadata",
    "parse_response",
    "StreamAccumulator",
    "classify_exception",
    "classify_api_error",
    "error_for_finish_reason",
    "parse_duration",
]

log = logging.getLogger(__name__)
REFERENCE_MAX_PX = 1536
_NORMAL_FINISH = {None, "STOP", "FINISH_REASON_UNSPECIFIED"}


def downscale_reference(data: bytes, max_px: int = REFERENCE_MAX_PX, quality: int = 90) -> tuple[bytes, str]:
    """Re-encode a reference image as JPEG no larger than ``max_px`` on its long side.

    A JPEG already within the limit is passed through untouched. Transparency is flattened onto
    white (references are line art on paper). Raises ``ValueError`` for bytes that are not an image.
    """
    with Image.open(io.BytesIO(data)) as img:
        if sniff_mime(data) == "image/jpeg" and max(img.size) <= max_px:
            return data, "image/jpeg"
        img.load()
        if img.mode in ("RGBA", "LA", "P"):
            rgba = img.convert("RGBA")
            flat = Image.new("RGB", rgba.size, (255, 255, 255))
            flat.paste(rgba, mask=rgba.getchannel("A"))
            img = flat
        elif img.mode not in ("RGB", "L"):
            img = img.convert("RGB")
        img.thumbnail((max_px, max_px), Image.Resampling.LANCZOS)
        out = io.BytesIO()
        img.save(out, format="JPEG", quality=quality, optimize=True)
        return out.getvalue(), "image/jpeg"


@dataclass(frozen=True)
class ReferenceImage:
    """One image attached to a user turn, with what the model is told about it.

    ``role`` is a key of :data:`REFERENCE_ROLES`; ``name`` (the file name) goes in its label so the
    model, the dry run and the metadata name the same image; ``sha256`` is of the file on disk.
    """

    data: bytes
    mime_type: str
    name: str = ""
    role: str = "style"
    sha256: str | None = None


# role -> (what the image is, how to use it). Google's guidance for several input images: say what
# each one is and what to take from it, in the turn, next to the image. An unexplained image plus
# text reads as "edit this image", and the run comes back as redraws of the library's pictures.
REFERENCE_ROLES: dict[str, tuple[str, str]] = {
    "subject": (
        "the image to work from",
        "it is the subject of this request: keep its subject, design and key features, change what "
        "the text asks, and redraw it under the sketch rules",
    ),
    "style": (
        "style reference",
        "take only its drawing style and construction (line quality, shape language, how forms are "
        "built up); do not copy its subject, pose, composition or lettering",
    ),
}


def reference_label(position: int, reference: ReferenceImage) -> str:
    """The text part sent right before reference ``position`` (1-based)."""
    try:
        kind, use = REFERENCE_ROLES[reference.role]
    except KeyError:
        raise ValueError(
            f"unknown reference role {reference.role!r}; known: {', '.join(REFERENCE_ROLES)}"
        ) from None
    name = f", {reference.name}" if reference.name else ""
    return f"Reference image {position} ({kind}{name}): {use}."


def references_note(references: Sequence[ReferenceImage]) -> str:
    """What the prompt says about the attached images as a whole ("" when there are none)."""
    n = len(references)
    if not n:
        return ""
    roles = {r.role for r in references}
    if roles == {"style"}:
        if n == 1:
            what = 'one image from the studio\'s reference library, labelled "Reference image 1". It is a style reference'
            them, edit = "it", "an image"
        else:
            what = (
                f'{n} images from the studio\'s reference library, each labelled "Reference image N". '
                "They are style references"
            )
            them, edit = "them", "images"
        return (
            f"Attached after this text: {what}, not the subject and not {edit} to edit: use {them} only "
            "for the house drawing style and construction. Do not copy, trace or redraw the subject, pose "
            "or composition of any reference; draw a new concept for the brief above."
        )
    if n == 1:
        return 'Attached after this text: one image, labelled "Reference image 1" with what it is and how to use it.'
    return (
        f'Attached after this text: {n} images, each labelled "Reference image N" with what it is '
        "and how to use it."
    )


def _as_reference(item: ReferenceImage | tuple[bytes, str]) -> ReferenceImage:
    if isinstance(item, ReferenceImage):
        return item
    data, mime = item
    return ReferenceImage(data=data, mime_type=mime)


def turn_outline(
    prompt: str, references: Sequence[ReferenceImage | tuple[bytes, str]] = ()
) -> list[dict[str, str]]:
    """The parts of the user turn, in order, as plain data (what the dry run shows).

    ``{"text": ...}`` for a text part, ``{"image": name, "mime_type": ...}`` for an image: the prompt
    (with :func:`references_note` appended when there are references), then for each reference its
    :func:`reference_label` and the image itself.
    """
    refs = [_as_reference(r) for r in references]
    note = references_note(refs)
    parts: list[dict[str, str]] = [{"text": f"{prompt}\n\n{note}" if note else prompt}]
    for position, ref in enumerate(refs, start=1):
        parts.append({"text": reference_label(position, ref)})
        parts.append({"image": ref.name or f"reference {position}", "mime_type": ref.mime_type})
    return parts


def build_contents(
    prompt: str, references: Sequence[ReferenceImage | tuple[bytes, str]] = ()
) -> list[types.Content]:
    """One user turn laid out as :func:`turn_outline` says, each (downscaled) reference inline.

    ``references`` are :class:`ReferenceImage` objects; bare ``(bytes, mime)`` pairs are taken as
    unnamed style references.
    """
    refs = [_as_reference(r) for r in references]
    images = iter(refs)
    parts: list[types.Part] = []
    for item in turn_outline(prompt, refs):
        if "text" in item:
            parts.append(types.Part.from_text(text=item["text"]))
        else:
            ref = next(images)
            parts.append(types.Part.from_bytes(data=ref.data, mime_type=ref.mime_type))
    return [types.Content(role="user", parts=parts)]


@dataclass(frozen=True)
class UserTurn:
    """A user turn with its images already read: ``references`` are :class:`ReferenceImage`
    objects (the image to edit with role ``subject`` first, then the style references)."""

    prompt: str
    references: Sequence[ReferenceImage] = ()


@dataclass(frozen=True)
class ModelPart:
    """One part of an earlier model turn: ``text`` or image ``data``; the signature in base64."""

    text: str | None = None
    data: bytes | None = None
    mime_type: str | None = None
    thought_signature: str | None = None


@dataclass(frozen=True)
class ModelTurn:
    parts: Sequence[ModelPart] = ()


def _user_content(turn: UserTurn) -> types.Content:
    return build_contents(turn.prompt, turn.references)[0]


def _model_content(turn: ModelTurn) -> types.Content:
    parts = []
    for part in turn.parts:
        # The signature goes back as the very bytes received (the SDK re-encodes them as base64).
        signature = base64.b64decode(part.thought_signature) if part.thought_signature else None
        if part.data is not None:
            parts.append(
                types.Part(
                    inline_data=types.Blob(data=part.data, mime_type=part.mime_type or "image/png"),
                    thought_signature=signature,
                )
            )
        else:
            parts.append(types.Part(text=part.text or "", thought_signature=signature))
    return types.Content(role="model", parts=parts)


def build_conversation(turns: Sequence[UserTurn | ModelTurn]) -> list[types.Content]:
    """The ``contents`` of a multi-turn request: every turn in order, the new user turn last.

    User turns are built exactly as a first call builds them (:func:`build_contents`: each image
    labelled with its role; an image to edit comes first, as role ``subject``). Model turns carry their parts as they were received, each
    with its thought signature: the Gemini API answers 400 for a model image part without one
    (docs/gemini-api-facts.md §9.3). Thought parts are left out by the caller: they carry no
    signature, are not what the model is asked to revise, and would be paid for again as input.
    """
    return [_user_content(t) if isinstance(t, UserTurn) else _model_content(t) for t in turns]


def build_config(
    entry: ModelEntry, request: ImageRequest, *, include_thoughts: bool | None = None
) -> types.GenerateContentConfig:
    """The GenerateContentConfig for one sketch (see the module docstring for what is left out).

    The request's options go in as given; whether the model takes them was checked before any
    call (``NanoBananaAdapter.check_options``): ``seed`` (best effort), ``responseModalities``,
    ``tools=[{googleSearch: {}}]`` and ``imageConfig.personGeneration`` (Vertex AI only).
    """
    image_config: dict[str, str] = {"aspect_ratio": request.aspect_ratio}
    if entry.supports_image_size and request.image_size:
        image_config["image_size"] = request.image_size.upper()
    if request.person_generation:
        image_config["person_generation"] = request.person_generation
    if include_thoughts is None:
        include_thoughts = entry.thinking == "always"
    return types.GenerateContentConfig(
        response_modalities=list(request.response_modalities),
        image_config=types.ImageConfig(**image_config),
        thinking_config=types.ThinkingConfig(include_thoughts=True) if include_thoughts else None,
        seed=request.seed,
        tools=[types.Tool(google_search=types.GoogleSearch())] if request.google_search else None,
        http_options=types.HttpOptions(timeout=max(1, int(request.timeout_s * 1000))),
    )


def grounding_record(meta: Any) -> dict[str, Any] | None:
    """What metadata keeps of ``candidate.groundingMetadata``: the search queries and the sources."""
    if meta is None:
        return None
    sources = []
    for chunk in meta.grounding_chunks or []:
        if chunk.web is not None:
            sources.append({"kind": "web", "title": chunk.web.title, "uri": chunk.web.uri})
        if chunk.image is not None:
            uri = chunk.image.source_uri or chunk.image.image_uri
            sources.append({"kind": "image", "title": chunk.image.title, "uri": uri})
    return {
        "queries": list(meta.web_search_queries or []),
        "image_queries": list(getattr(meta, "image_search_queries", None) or []),
        "sources": sources,
    }


def _enum_name(value: Any) -> str | None:
    if value is None:
        return None
    return str(getattr(value, "value", value))


def usage_from_metadata(meta: Any, *, image_returned: bool = False) -> Usage:
    """Usage per modality from ``usageMetadata``.

    Without ``candidatesTokensDetails`` the split is unknown: the candidate tokens count as image
    tokens when an image came back, else as text.
    """
    if meta is None:
        return Usage()
    prompt = (meta.prompt_token_count or 0) + (meta.tool_use_prompt_token_count or 0)
    candidates = meta.candidates_token_count or 0
    thoughts = meta.thoughts_token_count or 0
    image = text = 0
    details = meta.candidates_tokens_details or []
    for d in details:
        modality = _enum_name(d.modality)
        if modality == "IMAGE":
            image += d.token_count or 0
        else:
            text += d.token_count or 0
    if not details:
        image, text = (candidates, 0) if image_returned else (0, candidates)
    total = meta.total_token_count or (prompt + candidates + thoughts)
    return Usage(
        prompt_tokens=prompt,
        output_tokens=candidates,
        output_image_tokens=image,
        output_text_tokens=text,
        thoughts_tokens=thoughts,
        total_tokens=total,
    )


@dataclass
class _Collected:
    """Everything parse needs, gathered from one response or from all chunks of a stream."""

    parts: list[types.Part] = field(default_factory=list)
    had_candidates: bool = False
    finish_reason: str | None = None
    finish_message: str | None = None
    block_reason: str | None = None
    block_message: str | None = None
    usage_metadata: Any = None
    model_version: str | None = None
    response_id: str | None = None
    model_status: Any = None
    grounding_metadata: Any = None

    def add(self, response: types.GenerateContentResponse) -> list[types.Part]:
        """Merge one response (or stream chunk); return its new parts."""
        new: list[types.Part] = []
        candidates = response.candidates or []
        if candidates:
            self.had_candidates = True
            cand = candidates[0]
            if cand.content is not None and cand.content.parts:
                new = list(cand.content.parts)
                self.parts.extend(new)
            if cand.finish_reason is not None:
                self.finish_reason = _enum_name(cand.finish_reason)
            self.finish_message = cand.finish_message or self.finish_message
            self.grounding_metadata = cand.grounding_metadata or self.grounding_metadata
        feedback = response.prompt_feedback
        if feedback is not None and feedback.block_reason is not None:
            self.block_reason = _enum_name(feedback.block_reason)
            self.block_message = feedback.block_reason_message
        self.usage_metadata = response.usage_metadata or self.usage_metadata
        self.model_version = response.model_version or self.model_version
        self.response_id = response.response_id or self.response_id
        self.model_status = response.model_status or self.model_status
        return new


def _is_image(part: types.Part) -> bool:
    blob = part.inline_data
    return blob is not None and bool(blob.data) and (blob.mime_type or "image/").startswith("image/")


def _log_model_status(status: Any, model_id: str) -> dict | None:
    if status is None:
        return None
    info = {
        "message": status.message,
        "model_stage": _enum_name(status.model_stage),
        "retirement_time": status.retirement_time.isoformat() if status.retirement_time else None,
    }
    level = logging.WARNING if info["retirement_time"] else logging.INFO
    log.log(level, "Gemini model status for %s: %s", model_id, info)
    return info


def _finalize(c: _Collected, entry: ModelEntry, request: ImageRequest | None) -> ModelImage:
    try:
        return _final_image(c, entry, request)
    except ModelCallError as err:
        err.cost_usd = _failed_answer_cost(err, c, entry)
        raise


def _failed_answer_cost(err: ModelCallError, c: _Collected, entry: ModelEntry) -> float:
    """What an answer without a usable image was billed, from its ``usageMetadata`` at the catalog's
    rates (docs/gemini-api-facts.md §8): its prompt, text and thinking tokens, and the image's
    tokens when image bytes came back that do not decode. A blocked image or prompt costs nothing:
    "You will not be charged for blocked images" (the API's own finishMessage)."""
    if err.code in (ErrorCode.BLOCKED_OUTPUT, ErrorCode.BLOCKED_PROMPT):
        return 0.0
    return cost_usd(
        entry, usage_from_metadata(c.usage_metadata, image_returned=err.code == ErrorCode.BAD_IMAGE)
    )


def _final_image(c: _Collected, entry: ModelEntry, request: ImageRequest | None) -> ModelImage:
    if c.block_reason is not None and not c.had_candidates:
        message = f"the prompt was blocked ({c.block_reason})" + (
            f": {c.block_message}" if c.block_message else ""
        )
        raise ModelCallError(ErrorCode.BLOCKED_PROMPT, message, retryable=False, finish_reason=c.block_reason)
    if not c.had_candidates:
        raise ModelCallError(ErrorCode.NO_IMAGE, "Gemini returned no candidates", retryable=True)
    images = [p for p in c.parts if _is_image(p)]
    finals = [p for p in images if not p.thought]
    thought_seen = len(images) > len(finals)
    if finals:
        chosen = finals[-1]
    elif images and c.finish_reason in _NORMAL_FINISH:
        chosen = images[-1]  # §9.2: the only final image may come flagged thought=True
    else:
        raise error_for_finish_reason(
            c.finish_reason, finish_message=c.finish_message, had_thought_image=thought_seen
        )

    data = chosen.inline_data.data
    wire_mime = chosen.inline_data.mime_type
    mime = sniff_mime(data)
    warnings: list[str] = []
    if mime is None:
        raise ModelCallError(
            ErrorCode.BAD_IMAGE, f"image bytes are not PNG/JPEG/WebP (labelled {wire_mime})", retryable=True
        )
    if wire_mime and wire_mime != mime:
        warnings.append(f"server labelled the image {wire_mime} but the bytes are {mime}")
    try:
        with Image.open(io.BytesIO(data)) as img:
            pixels = img.size
    except Exception as exc:  # noqa: BLE001 - any decoder failure means unusable bytes
        raise ModelCallError(
            ErrorCode.BAD_IMAGE, f"image bytes do not decode ({type(exc).__name__})", retryable=True
        ) from None
    if request is not None:
        expected = entry.pixels(request.aspect_ratio, request.image_size)
        if expected is not None and tuple(pixels) != expected:
            warnings.append(
                f"image is {pixels[0]}x{pixels[1]} but {entry.id} at {request.aspect_ratio} / "
                f"{request.image_size} should be {expected[0]}x{expected[1]} (size or ratio ignored?)"
            )
    texts = [p.text for p in c.parts if p.text and not p.thought]
    usage = usage_from_metadata(c.usage_metadata, image_returned=True)
    signature = chosen.thought_signature
    parts_record = model_parts_record(c.parts, chosen)
    return ModelImage(
        data=data,
        mime_type=mime,
        model=entry.id,
        model_version=c.model_version,
        response_id=c.response_id,
        finish_reason=c.finish_reason,
        text="".join(texts) or None,
        thought_signature=base64.b64encode(signature).decode("ascii") if signature else None,
        model_parts=parts_record,
        usage=usage,
        cost_usd=cost_usd(entry, usage),
        warnings=warnings,
        grounding=grounding_record(c.grounding_metadata),
        seed_sent=request.seed if request is not None else None,
        extra={
            "wire_mime_type": wire_mime,
            "pixels": list(pixels),
            "thought_images": len(images) - len(finals),
            "final_was_thought": bool(chosen.thought),
            "finish_message": c.finish_message,
            "model_status": _log_model_status(c.model_status, entry.id),
        },
    )


def model_parts_record(parts: Sequence[types.Part], chosen: types.Part | None = None) -> list[dict[str, Any]]:
    """The model turn as received, one JSON-ready dict per part, in order.

    ``thought_signature`` is standard base64 of the signature bytes, which is how the Gemini API
    writes them on the wire (a server writing URL-safe base64 is recorded in the standard alphabet;
    the bytes, which are what goes back, are the same). Image bytes are not inlined here: the
    chosen image is kept beside the sketch (``chosen: true``); thought images are not kept.
    """
    out: list[dict[str, Any]] = []
    for part in parts:
        sig = part.thought_signature
        item: dict[str, Any] = {
            "kind": "image" if _is_image(part) else ("text" if part.text is not None else "other"),
            "thought": bool(part.thought),
            "mime_type": part.inline_data.mime_type if part.inline_data is not None else None,
            "thought_signature": base64.b64encode(sig).decode("ascii") if sig else None,
            "chosen": part is chosen,
        }
        if item["kind"] == "text":
            item["text"] = part.text
        out.append(item)
    return out


def parse_response(
    response: types.GenerateContentResponse, entry: ModelEntry, request: ImageRequest | None = None
) -> ModelImage:
    """The final image of a unary response, or a typed ModelCallError."""
    collected = _Collected()
    collected.add(response)
    return _finalize(collected, entry, request)


class StreamAccumulator:
    """Collects ``generate_content_stream`` chunks (each carries *delta* parts).

    ``feed(chunk)`` returns the thought images that arrived in it as :class:`ModelPreview` objects;
    ``finish()`` applies the same selection rule as :func:`parse_response` to all parts seen.
    """

    def __init__(self, entry: ModelEntry, request: ImageRequest | None = None) -> None:
        self._entry = entry
        self._request = request
        self._collected = _Collected()
        self._previews = 0

    def feed(self, chunk: types.GenerateContentResponse) -> list[ModelPreview]:
        previews: list[ModelPreview] = []
        for part in self._collected.add(chunk):
            if part.thought and _is_image(part):
                data = part.inline_data.data
                previews.append(
                    ModelPreview(
                        data=data,
                        mime_type=sniff_mime(data) or "application/octet-stream",
                        sequence=self._previews,
                    )
                )
                self._previews += 1
        return previews

    def feed_all(self, chunks: Iterable[types.GenerateContentResponse]) -> list[ModelPreview]:
        return [p for chunk in chunks for p in self.feed(chunk)]

    def finish(self) -> ModelImage:
        return _finalize(self._collected, self._entry, self._request)
