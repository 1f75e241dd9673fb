"""What the fake Gemini server records, and how it reads and checks a request body."""

from __future__ import annotations

import base64
import binascii
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web

from generate.adapters.gemini.catalog import ModelEntry
from generate.testing.fake_behaviors import Behavior

__all__ = ["RecordedRequest", "ScriptRule", "record_from", "validate"]

_SECRET_HEADERS = {"x-goog-api-key", "authorization"}


@dataclass
class RecordedRequest:
    """One request the fake received.

    ``outcome``: ``pending`` (still being answered), ``completed`` (a 200 answer was sent),
    ``error`` (an HTTP error was sent; ``status`` says which), ``aborted`` (the client went away
    before the answer was sent: timeout, cancelled task, closed stream) or ``dropped`` (the fake
    closed the socket mid-answer on purpose, ``Behavior.drop()``).
    """

    seq: int
    path: str
    method: str  # generateContent | streamGenerateContent
    api_version: str
    model: str
    query: dict[str, str]
    headers: dict[str, str]  # lower-case names; the API key header is never recorded
    api_key_present: bool
    body: dict[str, Any] | None
    prompt: str = ""  # the text of the last (new) user turn
    images: list[tuple[str, bytes]] = field(default_factory=list)  # (mime, decoded bytes), every turn
    # Every part of the last user turn in order: ("text", the text) or ("image", its mime type).
    parts: list[tuple[str, str]] = field(default_factory=list)
    # Every turn as received: {"role", "parts": [{"text"} | {"mime_type", "data": bytes}, plus
    # "thought" and "thought_signature" (the wire string) / "signature_bytes" (decoded) when sent]}
    contents: list[dict[str, Any]] = field(default_factory=list)
    text_chars: int = 0  # all text of every turn (input tokens)
    seed: int | None = None
    response_modalities: list[str] | None = None
    google_search: bool = False
    person_generation: str | None = None
    aspect_ratio: str | None = None
    image_size: str | None = None
    behavior: str | None = None
    started: float = 0.0
    finished: float | None = None
    outcome: str = "pending"
    status: int | None = None
    batch: str | None = None  # the batch job this request came in (None: a unary or stream call)

    @property
    def stream(self) -> bool:
        return self.method == "streamGenerateContent"


@dataclass
class ScriptRule:
    """Queued behaviours for the requests that match (text in the prompt / a predicate, and a model)."""

    match: str | Callable[[RecordedRequest], bool] | None
    model: str | None
    queue: deque[Behavior]
    then: Behavior | None

    def matches(self, rec: RecordedRequest) -> bool:
        if self.model is not None and rec.model != self.model:
            return False
        if self.match is None:
            return True
        if callable(self.match):
            return bool(self.match(rec))
        return self.match in rec.prompt


def _get(d: dict[str, Any], camel: str, snake: str, default: Any = None) -> Any:
    if not isinstance(d, dict):
        return default
    return d.get(camel, d.get(snake, default))


def _b64decode(text: str) -> bytes:
    """Standard or URL-safe base64, padded or not."""
    text = text.strip().replace("-", "+").replace("_", "/")
    return base64.b64decode(text + "=" * (-len(text) % 4), validate=True)


def record_from(
    request: web.Request, body: Any, *, spec: str | None = None, version: str | None = None
) -> RecordedRequest:
    """A RecordedRequest for ``request`` (camelCase or snake_case body; the key value is dropped).

    ``spec`` / ``version`` (``"<model>:<method>"``, ``"v1beta"``) default to the request's path;
    a request inside a batch job passes its own."""
    spec = spec or request.match_info["spec"]
    model, _, method = spec.partition(":")
    headers = {k.lower(): v for k, v in request.headers.items() if k.lower() not in _SECRET_HEADERS}
    key_present = bool(request.headers.get("x-goog-api-key") or request.query.get("key"))
    query = {k: v for k, v in request.query.items() if k != "key"}
    rec = RecordedRequest(
        seq=0,
        path=request.path,
        method=method,
        api_version=version or request.match_info["version"],
        model=model,
        query=query,
        headers=headers,
        api_key_present=key_present,
        body=body if isinstance(body, dict) else None,
        started=time.time(),
    )
    if isinstance(body, dict):
        texts: list[str] = []
        for content in body.get("contents") or []:
            if not isinstance(content, dict):
                continue
            texts = []  # the prompt (and ``parts``) are the last turn's
            rec.parts = []
            turn: dict[str, Any] = {"role": content.get("role") or "user", "parts": []}
            for part in _get(content, "parts", "parts", []) or []:
                if not isinstance(part, dict):
                    continue
                out: dict[str, Any] = {}
                if isinstance(part.get("text"), str):
                    texts.append(part["text"])
                    rec.text_chars += len(part["text"])
                    rec.parts.append(("text", part["text"]))
                    out["text"] = part["text"]
                blob = _get(part, "inlineData", "inline_data")
                if isinstance(blob, dict):
                    mime = _get(blob, "mimeType", "mime_type", "")
                    rec.parts.append(("image", mime))
                    try:
                        data = _b64decode(blob.get("data", ""))
                    except (binascii.Error, ValueError):
                        data = b""
                    rec.images.append((mime, data))
                    out.update(mime_type=mime, data=data)
                if part.get("thought"):
                    out["thought"] = True
                signature = _get(part, "thoughtSignature", "thought_signature")
                if isinstance(signature, str):
                    out["thought_signature"] = signature
                    try:
                        out["signature_bytes"] = _b64decode(signature)
                    except (binascii.Error, ValueError):
                        out["signature_bytes"] = b""
                turn["parts"].append(out)
            rec.contents.append(turn)
        rec.prompt = "\n".join(texts)
        gen = _get(body, "generationConfig", "generation_config", {}) or {}
        image_config = _get(gen, "imageConfig", "image_config", {}) or {}
        rec.aspect_ratio = _get(image_config, "aspectRatio", "aspect_ratio")
        rec.image_size = _get(image_config, "imageSize", "image_size")
        rec.person_generation = _get(image_config, "personGeneration", "person_generation")
        rec.seed = _get(gen, "seed", "seed")
        rec.response_modalities = _get(gen, "responseModalities", "response_modalities")
        rec.google_search = any(
            isinstance(tool, dict) and _get(tool, "googleSearch", "google_search") is not None
            for tool in body.get("tools") or []
        )
    return rec


def missing_signature(rec: RecordedRequest) -> str | None:
    """The Gemini API's answer to a model-role part sent back without its thought signature.

    The documented rule for image models (docs/gemini-api-facts.md §9.3): every non-thought image
    part carries a signature, and so does the first non-thought part when it is text (it comes
    before any image). Positions are 1-based, as in the error users report ("... in content
    position 2, part position 1." for the model turn of [user, model, user]). Thought parts carry
    no signature.
    """
    for ci, content in enumerate(rec.contents, start=1):
        if content["role"] != "model":
            continue
        first = True
        for pi, part in enumerate(content["parts"], start=1):
            if part.get("thought"):
                continue
            kind = "Image" if "data" in part else ("Text" if "text" in part else None)
            needs = kind == "Image" or (kind == "Text" and first)
            first = False
            if needs and not part.get("thought_signature"):
                return f"{kind} part is missing a thought_signature in content position {ci}, part position {pi}."
    return None


def validate(
    rec: RecordedRequest, models: dict[str, ModelEntry], require_api_key: bool
) -> tuple[int, str, str] | None:
    """Reject what the real API rejects (before any scripted behaviour)."""
    if require_api_key and not rec.api_key_present:
        return (
            403,
            "PERMISSION_DENIED",
            "Method doesn't allow unregistered callers (callers without established identity).",
        )
    if rec.method not in ("generateContent", "streamGenerateContent"):
        return 404, "NOT_FOUND", f"Method {rec.method!r} not found."
    entry = models.get(rec.model)
    if entry is None:
        return (
            404,
            "NOT_FOUND",
            f"models/{rec.model} is not found for API version {rec.api_version}, or is not supported for generateContent.",
        )
    if rec.body is None:
        return 400, "INVALID_ARGUMENT", "Invalid JSON payload received."
    missing = missing_signature(rec)
    if missing is not None:
        return 400, "INVALID_ARGUMENT", missing
    gen = _get(rec.body, "generationConfig", "generation_config", {}) or {}
    if (_get(gen, "candidateCount", "candidate_count") or 1) > 1:
        return 400, "INVALID_ARGUMENT", "Multiple candidates is not enabled for this model."
    if entry.id == "gemini-2.5-flash-image" and _get(rec.body, "systemInstruction", "system_instruction"):
        return 400, "INVALID_ARGUMENT", f"Developer instruction is not enabled for models/{entry.id}"
    if rec.image_size is not None and rec.image_size not in entry.image_sizes:
        return (
            400,
            "INVALID_ARGUMENT",
            f"Invalid image size {rec.image_size!r}; expected one of {list(entry.image_sizes)}.",
        )
    if rec.aspect_ratio is not None and rec.aspect_ratio not in entry.aspect_ratios:
        return 400, "INVALID_ARGUMENT", f"Unsupported aspect ratio {rec.aspect_ratio!r}."
    if rec.person_generation is not None:  # a Vertex AI field; the Gemini API has no such thing
        return 400, "INVALID_ARGUMENT", 'Invalid JSON payload received. Unknown name "personGeneration".'
    if rec.google_search and not entry.google_search:
        return 400, "INVALID_ARGUMENT", f"Search Grounding is not supported for models/{entry.id}."
    if rec.seed is not None and not (isinstance(rec.seed, int) and -(2**31) <= rec.seed < 2**31):
        return 400, "INVALID_ARGUMENT", f"Invalid value at 'generation_config.seed' (TYPE_INT32), {rec.seed}"
    return None
