"""Scripted behaviours and wire-format bodies for :class:`FakeGeminiServer`.

A :class:`Behavior` says how the fake answers one request: a normal image, an HTTP error, a
blocked candidate, a hang, a dropped connection... Build them with the class-method constructors
(``Behavior.ok()``, ``Behavior.rate_limited(retry_delay_s=2)``, ``Behavior.image_safety()``, ...).

The bodies follow docs/gemini-api-facts.md §5/§6 exactly (camelCase JSON, standard base64,
``usageMetadata`` per modality, ``modelVersion``, ``responseId``) so the real google-genai client
parses them as it would Google's answers.
"""

from __future__ import annotations

import base64
import functools
import io
import math
import random
import struct
import threading
import zlib
from dataclasses import dataclass, field, replace
from typing import Any

from PIL import Image, ImageDraw

from generate.testing.fake_sheets import make_sheet

__all__ = [
    "Behavior",
    "make_image",
    "signature_bytes",
    "success_events",
    "merge_events",
    "error_body",
    "blocked_output_body",
    "prompt_blocked_body",
    "grounding_metadata",
]

MiB = 1024 * 1024


@dataclass(frozen=True)
class Behavior:
    """How the fake answers one request. ``latency=None`` uses the server's default latency."""

    kind: str = "image"  # image | text_only | finish | prompt_blocked | http_error | hang | drop
    #                      | truncated | echo_key | raw
    latency: float | None = None
    # Answer only once this event is set (after the latency): the test, not a race against the
    # clock, decides how long the call stays in flight. A client that leaves meanwhile aborts it.
    held_until: threading.Event | None = None
    gap_s: float = 0.0  # pause between SSE events (e.g. previews well before the final image)
    # image answers
    thought_images: int = 0
    signature: bool | None = None  # None: only thinking (Pro-family) models sign the final image
    urlsafe_signature: bool = False  # write the signature in URL-safe base64 (another server's habit)
    # Pro's placement (docs/gemini-api-facts.md §9.3): a text part right after the thoughts and before
    # any image carries a signature too (when the answer is signed).
    lead_text: str | None = None
    # Earlier final (non-thought) images before the last one, each signed and followed by an unsigned
    # text part: "the model won't always follow the exact number of image outputs".
    extra_images: int = 0
    final_flagged_thought: bool = False  # the final image comes with thought: true (§9.2, Lixpi/lixpi#135)
    jpeg_as_png: bool = False
    pixels: tuple[int, int] | None = None  # None: the catalog's pixels for the requested ratio/size
    pad_to_bytes: int = 0  # grow the PNG (private ancillary chunk) to at least this many bytes
    text: str | None = "Here is a rough concept sketch."
    model_status: dict[str, Any] | None = None
    # candidate that ends without an image
    finish_reason: str = "STOP"
    finish_message: str | None = None
    block_reason: str = "OTHER"
    # HTTP errors
    status: int = 500
    error_status: str = "INTERNAL"
    message: str = "An internal error has occurred."
    details: tuple[dict[str, Any], ...] = ()
    headers: dict[str, str] = field(default_factory=dict)
    # hang: seconds to wait before answering normally (longer than any client timeout)
    hang_s: float = 3600.0
    # raw: the 200 body (each SSE data: line when streaming), sent as given
    raw: str = ""
    # sheet answers (a prompt that asks for "C columns by R rows"): faults in the drawn grid
    sheet_bridge_row: int | None = None  # the drawing spills over every column gutter of this row
    sheet_blank_cell: tuple[int, int] | None = None  # (row, col) left empty

    # ---- constructors ------------------------------------------------------------------
    @classmethod
    def ok(cls, **kw: Any) -> Behavior:
        """A normal image answer (text part + final image part)."""
        return cls(kind="image", **kw)

    @classmethod
    def with_thoughts(cls, n: int = 2, **kw: Any) -> Behavior:
        """``n`` thought images (``thought: true``) before the final, signed image."""
        return cls(kind="image", thought_images=n, signature=True, **kw)

    @classmethod
    def jpeg_labelled_png(cls, **kw: Any) -> Behavior:
        return cls(kind="image", jpeg_as_png=True, **kw)

    @classmethod
    def large_image(
        cls, pixels: tuple[int, int] = (4096, 4096), pad_to_bytes: int = 9 * MiB, **kw: Any
    ) -> Behavior:
        """A big image: 4096² and a PNG padded to > 8 MiB, so one SSE ``data:`` line is > 8 MiB."""
        return cls(kind="image", pixels=pixels, pad_to_bytes=pad_to_bytes, **kw)

    @classmethod
    def text_only(cls, text: str = "I can describe the sketch but not draw it.", **kw: Any) -> Behavior:
        """finishReason STOP with a text part and no image."""
        return cls(kind="text_only", text=text, **kw)

    @classmethod
    def finish(cls, reason: str, message: str | None = None, **kw: Any) -> Behavior:
        """A candidate with no parts that ends with ``reason`` (IMAGE_SAFETY, NO_IMAGE, ...)."""
        return cls(kind="finish", finish_reason=reason, finish_message=message, **kw)

    @classmethod
    def image_safety(cls, **kw: Any) -> Behavior:
        msg = "Unable to show the generated image. You will not be charged for blocked images."
        return cls.finish("IMAGE_SAFETY", msg, **kw)

    @classmethod
    def no_image(cls, **kw: Any) -> Behavior:
        return cls.finish("NO_IMAGE", None, **kw)

    @classmethod
    def image_other(cls, **kw: Any) -> Behavior:
        return cls.finish("IMAGE_OTHER", None, **kw)

    @classmethod
    def prompt_blocked(cls, reason: str = "OTHER", **kw: Any) -> Behavior:
        """promptFeedback.blockReason and no candidates."""
        return cls(kind="prompt_blocked", block_reason=reason, **kw)

    @classmethod
    def http_error(
        cls, status: int, error_status: str, message: str, details: tuple = (), **kw: Any
    ) -> Behavior:
        return cls(
            kind="http_error",
            status=status,
            error_status=error_status,
            message=message,
            details=details,
            **kw,
        )

    @classmethod
    def rate_limited(
        cls, retry_delay_s: float = 1.0, per_day: bool = False, model: str = "gemini-image", **kw: Any
    ) -> Behavior:
        """429 RESOURCE_EXHAUSTED with QuotaFailure, Help and RetryInfo, shaped like the live API's.

        Per minute: one ``GenerateRequestsPerMinutePerProjectPerModel`` violation, and a message
        that says when to retry. Per day (``per_day=True``): the answer a spent free-tier daily
        quota gets (google-gemini/gemini-cli#8437) — the per-minute token and request violations
        *and* ``GenerateRequestsPerDayPerProjectPerModel``, with the plain "check your plan"
        message. ``model`` is the ``quotaDimensions.model`` reported.
        """

        def violation(metric: str, quota_id: str) -> dict[str, Any]:
            return {
                "quotaMetric": f"generativelanguage.googleapis.com/{metric}",
                "quotaId": quota_id,
                "quotaDimensions": {"location": "global", "model": model},
            }

        requests = "generate_content_free_tier_requests"
        violations = [violation(requests, "GenerateRequestsPerMinutePerProjectPerModel-FreeTier")]
        message = f"You exceeded your current quota. Please retry in {retry_delay_s:g}s."
        if per_day:
            violations = [
                violation(
                    "generate_content_free_tier_input_token_count",
                    "GenerateContentInputTokensPerModelPerMinute-FreeTier",
                ),
                *violations,
                violation(requests, "GenerateRequestsPerDayPerProjectPerModel-FreeTier"),
            ]
            message = (
                "You exceeded your current quota, please check your plan and billing details. For more "
                "information on this error, head to: https://ai.google.dev/gemini-api/docs/rate-limits."
            )
        details = (
            {"@type": "type.googleapis.com/google.rpc.QuotaFailure", "violations": violations},
            {
                "@type": "type.googleapis.com/google.rpc.Help",
                "links": [
                    {
                        "description": "Learn more about Gemini API quotas",
                        "url": "https://ai.google.dev/gemini-api/docs/rate-limits",
                    }
                ],
            },
            {"@type": "type.googleapis.com/google.rpc.RetryInfo", "retryDelay": f"{retry_delay_s:g}s"},
        )
        return cls.http_error(429, "RESOURCE_EXHAUSTED", message, details, **kw)

    @classmethod
    def server_error(cls, status: int = 503, **kw: Any) -> Behavior:
        names = {500: "INTERNAL", 502: "UNAVAILABLE", 503: "UNAVAILABLE", 504: "DEADLINE_EXCEEDED"}
        message = (
            "The model is overloaded. Please try again later."
            if status == 503
            else "An internal error has occurred."
        )
        return cls.http_error(status, names.get(status, "INTERNAL"), message, **kw)

    @classmethod
    def not_found(cls, **kw: Any) -> Behavior:
        return cls.http_error(404, "NOT_FOUND", "models/unknown is not found for API version v1beta.", **kw)

    @classmethod
    def permission_denied(cls, **kw: Any) -> Behavior:
        return cls.http_error(403, "PERMISSION_DENIED", "Method doesn't allow unregistered callers.", **kw)

    @classmethod
    def hang(cls, seconds: float = 3600.0, **kw: Any) -> Behavior:
        """Wait ``seconds`` before answering: longer than the client's timeout, so the client gives up."""
        return cls(kind="hang", hang_s=seconds, **kw)

    @classmethod
    def drop(cls, **kw: Any) -> Behavior:
        """Send the status line, headers and part of the body, then close the socket."""
        return cls(kind="drop", **kw)

    @classmethod
    def truncated(cls, **kw: Any) -> Behavior:
        """A 200 whose JSON is cut short, as a proxy that truncates answers sends: the unary body is
        half a document (with a matching Content-Length, so HTTP itself is fine); a stream sends its
        first event whole and then a ``data:`` line of broken JSON."""
        return cls(kind="truncated", **kw)

    @classmethod
    def echo_key(cls, **kw: Any) -> Behavior:
        """A 200 that puts the request's API key where a token count belongs, as a misbehaving proxy
        echoing request headers into the answer does. The SDK's response model rejects the value
        with a message that quotes it; the key is never recorded."""
        return cls(kind="echo_key", **kw)

    @classmethod
    def raw_body(cls, body: str, **kw: Any) -> Behavior:
        """A 200 whose body is ``body`` as given (when streaming, one ``data:`` line of it): valid
        JSON that is not a response object, e.g. ``"42"`` or ``"true"``, as a broken proxy sends."""
        return cls(kind="raw", raw=body, **kw)

    @classmethod
    def sheet_missing_gutter(cls, row: int = 0, **kw: Any) -> Behavior:
        """A sheet whose column gutters are bridged in one ``row`` (0-based): that row's cells
        cannot be separated. Other prompts get a normal image."""
        return cls(kind="image", sheet_bridge_row=row, **kw)

    @classmethod
    def sheet_empty_cell(cls, row: int = 0, col: int = 0, **kw: Any) -> Behavior:
        """A sheet with one cell left empty."""
        return cls(kind="image", sheet_blank_cell=(row, col), **kw)

    def but(self, **changes: Any) -> Behavior:
        """A copy with some fields changed."""
        return replace(self, **changes)


# ---- images --------------------------------------------------------------------------------
_IMAGE_LOCK = threading.Lock()


def make_image(width: int, height: int, variant: int = 0, fmt: str = "PNG", pad_to_bytes: int = 0) -> bytes:
    """A coloured, sketch-like test image (white paper, coloured strokes) of exactly width x height."""
    with _IMAGE_LOCK:  # one render per key; the cache does the rest under concurrency
        return _make_image(width, height, variant % 8, fmt.upper(), pad_to_bytes)


@functools.lru_cache(maxsize=48)
def _make_image(width: int, height: int, variant: int, fmt: str, pad_to_bytes: int) -> bytes:
    img = Image.new("RGB", (width, height), (252, 250, 245))
    draw = ImageDraw.Draw(img)
    rng = random.Random(variant * 7919 + width * 31 + height)
    stroke = max(2, min(width, height) // 120)
    palette = [(30, 60, 160), (180, 40, 40), (30, 120, 60), (200, 140, 20), (120, 40, 140)]
    cx, cy = width / 2, height / 2
    r = min(width, height) * 0.3
    draw.ellipse(
        (cx - r, cy - r * 1.1, cx + r, cy + r * 0.9),
        fill=(255, 236, 170),
        outline=palette[variant % 5],
        width=stroke * 2,
    )
    for i in range(6):
        x0, y0 = rng.uniform(0.1, 0.9) * width, rng.uniform(0.1, 0.9) * height
        x1, y1 = rng.uniform(0.1, 0.9) * width, rng.uniform(0.1, 0.9) * height
        draw.line((x0, y0, x1, y1), fill=palette[(variant + i) % 5], width=stroke)
    draw.rectangle(
        (width * 0.1, height * 0.75, width * 0.9, height * 0.85), outline=(20, 20, 20), width=stroke
    )
    out = io.BytesIO()
    if fmt == "JPEG":
        img.save(out, format="JPEG", quality=85)
        return out.getvalue()
    img.save(out, format="PNG", compress_level=1)
    data = out.getvalue()
    if pad_to_bytes > len(data):
        pad = random.Random(variant).randbytes(pad_to_bytes - len(data))
        chunk = struct.pack(">I", len(pad)) + b"fkPd" + pad + struct.pack(">I", zlib.crc32(b"fkPd" + pad))
        data = data[:-12] + chunk + data[-12:]  # before IEND; an ancillary private chunk decoders skip
    return data


def signature_bytes(response_id: str) -> bytes:
    """The fake's thought signature for a response: opaque bytes whose standard base64 starts with
    ``+/+/`` (so URL-safe re-encoding or a lost byte is visible)."""
    return b"\xfb\xff\xbf" + random.Random(response_id).randbytes(45)


# ---- bodies ---------------------------------------------------------------------------------
def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def _usage(
    prompt: int, image: int = 0, text: int = 0, thoughts: int = 0, details: bool = True
) -> dict[str, Any]:
    usage: dict[str, Any] = {
        "promptTokenCount": prompt,
        "candidatesTokenCount": image + text,
        "totalTokenCount": prompt + image + text + thoughts,
        "promptTokensDetails": [{"modality": "TEXT", "tokenCount": prompt}],
    }
    if thoughts:
        usage["thoughtsTokenCount"] = thoughts
    if details and (image or text):
        usage["candidatesTokensDetails"] = [
            d
            for d in ({"modality": "IMAGE", "tokenCount": image}, {"modality": "TEXT", "tokenCount": text})
            if d["tokenCount"]
        ]
    return usage


def _envelope(ctx: dict[str, Any], usage: dict[str, Any], candidate: dict[str, Any] | None) -> dict[str, Any]:
    body: dict[str, Any] = {
        "usageMetadata": usage,
        "modelVersion": ctx["model"],
        "responseId": ctx["response_id"],
    }
    if candidate is not None:
        body["candidates"] = [candidate]
    return body


def success_events(b: Behavior, ctx: dict[str, Any]) -> list[dict[str, Any]]:
    """The SSE events of an image answer (delta parts; the last event has finishReason + full usage).

    ``ctx``: model, response_id, prompt_tokens, image_tokens, thoughts_tokens, thinking (bool),
    pixels (w, h), variant.
    """
    w, h = b.pixels or ctx["pixels"]
    text_tokens = math.ceil(len(b.text or "") / 4) if b.kind != "finish" else 0
    image_tokens = ctx["image_tokens"] if b.kind == "image" else 0
    thoughts = ctx["thoughts_tokens"]
    prompt = ctx["prompt_tokens"]
    events: list[dict[str, Any]] = []

    def event(parts: list[dict], usage: dict, finish: bool = False) -> dict[str, Any]:
        cand: dict[str, Any] = {"content": {"role": "model", "parts": parts}, "index": 0}
        if finish:
            cand["finishReason"] = "STOP"
        return _envelope(ctx, usage, cand)

    for i in range(b.thought_images if b.kind == "image" else 0):
        thought = make_image(max(64, w // 2), max(64, h // 2), ctx["variant"] + i + 1)
        part = {"inlineData": {"mimeType": "image/png", "data": _b64(thought)}, "thought": True}
        events.append(event([part], _usage(prompt, thoughts=thoughts, details=False)))
    signs = b.kind == "image" and (b.signature or (b.signature is None and ctx["thinking"]))

    def signed(part: dict[str, Any], sig: bytes) -> dict[str, Any]:
        if signs:
            part["thoughtSignature"] = (
                base64.urlsafe_b64encode(sig).decode("ascii") if b.urlsafe_signature else _b64(sig)
            )
        return part

    if b.kind == "image" and b.lead_text:
        part = signed({"text": b.lead_text}, signature_bytes(ctx["response_id"] + ":text"))
        events.append(event([part], _usage(prompt, thoughts=thoughts, details=False)))
    for k in range(b.extra_images if b.kind == "image" else 0):
        draft = make_image(w, h, ctx["variant"] + 100 + k)
        part = {"inlineData": {"mimeType": "image/png", "data": _b64(draft)}}
        signed(part, signature_bytes(f"{ctx['response_id']}:image{k}"))
        events.append(
            event([part, {"text": f"Draft {k + 1}."}], _usage(prompt, thoughts=thoughts, details=False))
        )
    if b.kind == "image":
        fmt = "JPEG" if b.jpeg_as_png else "PNG"
        if ctx.get("sheet"):  # the prompt asked for a grid: draw one, with real gutters
            cols, rows = ctx["sheet"]
            data = make_sheet(
                w, h, cols, rows, ctx["variant"], bridge_row=b.sheet_bridge_row, blank_cell=b.sheet_blank_cell
            )
        else:
            data = make_image(w, h, ctx["variant"], fmt, b.pad_to_bytes)
        part: dict[str, Any] = {"inlineData": {"mimeType": "image/png", "data": _b64(data)}}
        signed(part, signature_bytes(ctx["response_id"]))
        if b.final_flagged_thought:
            part["thought"] = True
        events.append(event([part], _usage(prompt, image=image_tokens, thoughts=thoughts, details=False)))
    if b.text:
        events.append(
            event([{"text": b.text}], _usage(prompt, image_tokens, text_tokens, thoughts, details=False))
        )
    final = _envelope(
        ctx,
        _usage(prompt, image_tokens, text_tokens, thoughts),
        {"content": {"role": "model", "parts": []}, "finishReason": "STOP", "index": 0},
    )
    if b.model_status:
        final["modelStatus"] = b.model_status
    if ctx.get("google_search"):  # grounded answers carry what was searched, on the last event
        final["candidates"][0]["groundingMetadata"] = grounding_metadata(ctx)
    # The last event carries finishReason and candidatesTokensDetails (and no new parts).
    final["candidates"][0]["content"] = {"role": "model"}
    events.append(final)
    return events


def grounding_metadata(ctx: dict[str, Any]) -> dict[str, Any]:
    """A ``groundingMetadata`` like Google's for a grounded answer (queries, sources, entry point)."""
    query = f"{ctx.get('search_topic') or 'concept sketch'} reference"
    return {
        "webSearchQueries": [query],
        "groundingChunks": [
            {"web": {"uri": "https://example.org/search-result-1", "title": "example.org"}},
            {"web": {"uri": "https://example.com/search-result-2", "title": "example.com"}},
        ],
        "groundingSupports": [],
        "searchEntryPoint": {"renderedContent": "<div>search suggestions</div>"},
    }


def merge_events(events: list[dict[str, Any]]) -> dict[str, Any]:
    """The unary body equivalent to a list of stream events: all parts, last usage and finishReason."""
    merged = dict(events[-1])
    parts = [
        p
        for e in events
        for c in e.get("candidates", [])[:1]
        for p in (c.get("content") or {}).get("parts", [])
    ]
    if "candidates" in merged and parts:
        cand = dict(merged["candidates"][0])
        cand["content"] = {"role": "model", "parts": parts}
        merged["candidates"] = [cand]
    return merged


def blocked_output_body(b: Behavior, ctx: dict[str, Any]) -> dict[str, Any]:
    """A candidate with no ``parts`` key that ends with ``b.finish_reason`` (§5.3 shapes)."""
    cand: dict[str, Any] = {"content": {"role": "model"}, "finishReason": b.finish_reason, "index": 0}
    if b.finish_message:
        cand["finishMessage"] = b.finish_message
    usage = _usage(ctx["prompt_tokens"], thoughts=ctx["thoughts_tokens"])
    usage["candidatesTokenCount"] = 0
    return _envelope(ctx, usage, cand)


def prompt_blocked_body(b: Behavior, ctx: dict[str, Any]) -> dict[str, Any]:
    body = _envelope(ctx, _usage(ctx["prompt_tokens"]), None)
    body["usageMetadata"]["candidatesTokenCount"] = 0
    body["promptFeedback"] = {"blockReason": b.block_reason}
    return body


def error_body(status: int, error_status: str, message: str, details: tuple | list = ()) -> dict[str, Any]:
    body: dict[str, Any] = {"code": status, "message": message, "status": error_status}
    if details:
        body["details"] = list(details)
    return {"error": body}
