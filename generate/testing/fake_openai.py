"""A fake OpenAI Images API for tests: real HTTP on 127.0.0.1, the real wire format, scripted faults.

Usage (no pytest needed)::

    from generate.testing.fake_openai import FakeOpenAIServer, OpenAIBehavior

    with FakeOpenAIServer() as fake:
        fake.script(OpenAIBehavior.rate_limited(retry_after_s=1), OpenAIBehavior.ok(), match="Sketch 2")
        os.environ.update(fake.env())   # OPENAI_API_KEY=test-openai-key, OPENAI_BASE_URL=<fake>/v1
        ...                             # run the real openai SDK against it
        assert fake.requests[0].endpoint == "generations" and fake.requests[0].size == "1024x1024"

Endpoints: ``POST /v1/images/generations`` (JSON body) and ``POST /v1/images/edits`` (multipart:
``image`` / ``image[]`` files plus form fields). Both answer an ``ImagesResponse`` (``data[0].b64_json``,
``usage`` with ``input_tokens_details`` text/image and ``output_tokens``), or with ``stream=true`` an
SSE stream: ``partial_images`` events ``image_generation.partial_image`` (``image_edit.*`` for edits),
then ``*.completed`` carrying the final image and usage. Like the real API it answers 401 without a
bearer key, and 400 (``invalid_value``, naming ``param``) for a model it does not serve, a size,
quality or ``input_fidelity`` the model does not take, ``partial_images`` outside 0-3, ``n`` outside
1-10, or an edit without an image.

Choosing a behaviour, deterministically under any concurrency: the first scripted rule whose
``match`` (text in the prompt, or a predicate on the :class:`RecordedOpenAIRequest`) holds and that
still has queued behaviours consumes one (one per attempt); a rule with ``then=`` keeps answering with
it once its queue is empty; otherwise :attr:`FakeOpenAIServer.default` answers. Every request is
recorded, never the API key's value (only whether one was sent); a client that goes away before its
answer was sent is recorded as ``"aborted"``.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import io
import json
import math
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web
from PIL import Image

from generate.adapters.openai.catalog import ModelEntry, load_catalog
from generate.testing.fake_behaviors import make_image
from generate.testing.server_thread import FakeServer

__all__ = ["FakeOpenAIServer", "OpenAIBehavior", "RecordedOpenAIRequest"]

FAKE_OPENAI_KEY = "test-openai-key"


@dataclass(frozen=True)
class OpenAIBehavior:
    """What the fake does with one request. Build with the class methods."""

    kind: str = "ok"  # ok | http_error | stream_error | no_usage | hang | raw | drop | echo_key
    status: int = 200
    code: str | None = None
    error_type: str = "invalid_request_error"
    message: str = ""
    headers: dict[str, str] = field(default_factory=dict)
    latency: float | None = None
    hang_s: float = 0.0
    partials_before: int = 0  # stream_error: partial images sent before the error event
    flat: bool = (
        False  # stream_error: {"type": "error", "code": ...} instead of {"type": "error", "error": {...}}
    )
    raw: str = ""
    before: tuple[
        dict[str, Any], ...
    ] = ()  # streamed: extra events sent first (a newer API's progress notes)

    @classmethod
    def ok(cls, latency: float | None = None) -> OpenAIBehavior:
        return cls(latency=latency)

    @classmethod
    def with_events_first(cls, *events: dict[str, Any]) -> OpenAIBehavior:
        """A success whose stream starts with ``events`` (e.g. ``{"type": "image_generation.in_progress"}``)."""
        return cls(before=tuple(events))

    @classmethod
    def no_usage(cls) -> OpenAIBehavior:
        """A success whose answer has no ``usage`` (some gateways drop it)."""
        return cls(kind="no_usage")

    @classmethod
    def rate_limited(cls, retry_after_s: float | None = 1.0, *, ms: bool = False) -> OpenAIBehavior:
        """429 ``rate_limit_exceeded`` with ``retry-after`` (or ``retry-after-ms``)."""
        headers = {}
        if retry_after_s is not None:
            headers = (
                {"retry-after-ms": str(int(retry_after_s * 1000))}
                if ms
                else {"retry-after": f"{retry_after_s:g}"}
            )
        return cls(
            kind="http_error",
            status=429,
            code="rate_limit_exceeded",
            error_type="requests",
            message="Rate limit reached for images per min. Please try again later.",
            headers=headers,
        )

    @classmethod
    def insufficient_quota(cls) -> OpenAIBehavior:
        return cls(
            kind="http_error",
            status=429,
            code="insufficient_quota",
            error_type="insufficient_quota",
            message="You exceeded your current quota, please check your plan and billing details.",
        )

    @classmethod
    def moderation_blocked(cls) -> OpenAIBehavior:
        """400 ``moderation_blocked``: the safety system rejected the request."""
        return cls(
            kind="http_error",
            status=400,
            code="moderation_blocked",
            error_type="image_generation_user_error",
            message="Your request was rejected by the safety system.",
        )

    @classmethod
    def blocked_output(cls, partials_before: int = 1, *, flat: bool = False) -> OpenAIBehavior:
        """Streamed: partial images, then an ``error`` event ``moderation_blocked`` (non-streamed: the 400).
        ``flat``: the error's fields at the top of the event, as the Responses API sends them."""
        return cls(
            flat=flat,
            kind="stream_error",
            status=400,
            code="moderation_blocked",
            error_type="image_generation_user_error",
            message="The generated image was rejected by the safety system.",
            partials_before=partials_before,
        )

    @classmethod
    def http_error(cls, status: int, code: str | None = None, message: str = "error") -> OpenAIBehavior:
        return cls(kind="http_error", status=status, code=code, error_type="server_error", message=message)

    @classmethod
    def server_error(cls, status: int = 500) -> OpenAIBehavior:
        return cls.http_error(status, None, "The server had an error while processing your request.")

    @classmethod
    def echo_key(cls) -> OpenAIBehavior:
        """401 whose message quotes the whole API key the client sent (a careless proxy's habit):
        for tests that check the key never leaves sketchgen."""
        return cls(
            kind="echo_key", status=401, code="invalid_api_key", message="Incorrect API key provided: "
        )

    @classmethod
    def hang(cls, seconds: float = 30.0) -> OpenAIBehavior:
        """Answer nothing for ``seconds`` (a client timeout fires first), then succeed."""
        return cls(kind="hang", hang_s=seconds)

    @classmethod
    def raw_body(cls, text: str) -> OpenAIBehavior:
        """A 200 whose body is ``text`` exactly (broken JSON, a wrong shape)."""
        return cls(kind="raw", raw=text)

    @classmethod
    def drop(cls) -> OpenAIBehavior:
        """Close the connection halfway through the answer."""
        return cls(kind="drop")


@dataclass
class RecordedOpenAIRequest:
    """One request as the fake saw it (never the API key's value)."""

    seq: int
    endpoint: str  # "generations" | "edits"
    fields: dict[str, Any]
    images: list[dict[str, Any]]  # [{filename, content_type, sha256, bytes, width, height}]
    authorized: bool
    outcome: str = "pending"  # pending | completed | error | aborted | dropped
    status: int | None = None
    behavior: str = ""
    started: float = field(default_factory=time.time)

    @property
    def model(self) -> str:
        return str(self.fields.get("model") or "")

    @property
    def prompt(self) -> str:
        return str(self.fields.get("prompt") or "")

    @property
    def size(self) -> str:
        return str(self.fields.get("size") or "auto")

    @property
    def quality(self) -> str:
        return str(self.fields.get("quality") or "auto")

    @property
    def stream(self) -> bool:
        return str(self.fields.get("stream", "")).lower() == "true"

    @property
    def partial_images(self) -> int:
        try:
            return int(self.fields.get("partial_images") or 0)
        except (TypeError, ValueError):
            return -1


def _error(status: int, message: str, *, code: str | None, kind: str, param: str | None = None) -> dict:
    return {"error": {"message": message, "type": kind, "param": param, "code": code}}


def _invalid(rec: RecordedOpenAIRequest, models: dict[str, ModelEntry], require_key: bool):
    """(status, body) for a request the real API refuses, or None."""
    if require_key and not rec.authorized:
        return 401, _error(401, "You didn't provide an API key.", code=None, kind="invalid_request_error")
    entry = models.get(rec.model)
    if entry is None:
        known = ", ".join(sorted(models))
        msg = f"Invalid value: '{rec.model}'. Supported values are: {known}."
        return 400, _error(400, msg, code="invalid_value", kind="invalid_request_error", param="model")
    checks = [
        ("size", rec.size, {*entry.sizes.values(), "auto"}),
        ("quality", rec.quality, {*entry.qualities, "auto"}),
    ]
    if "input_fidelity" in rec.fields:
        checks.append(("input_fidelity", rec.fields["input_fidelity"], set(entry.input_fidelity)))
    for param, value, allowed in checks:
        if value not in allowed:
            msg = f"Invalid value: '{value}'. Supported values are: {', '.join(sorted(allowed)) or 'none'}."
            return 400, _error(400, msg, code="invalid_value", kind="invalid_request_error", param=param)
    if not 0 <= rec.partial_images <= 3:
        return 400, _error(
            400,
            "partial_images must be between 0 and 3.",
            code="invalid_value",
            kind="invalid_request_error",
            param="partial_images",
        )
    if str(rec.fields.get("n", "1")) not in {str(i) for i in range(1, 11)}:
        return 400, _error(
            400, "n must be between 1 and 10.", code="invalid_value", kind="invalid_request_error", param="n"
        )
    if rec.endpoint == "edits" and not rec.images:
        return 400, _error(
            400,
            "Missing required parameter: 'image'.",
            code="missing_required_parameter",
            kind="invalid_request_error",
            param="image",
        )
    return None


class FakeOpenAIServer(FakeServer[RecordedOpenAIRequest]):
    """The fake server. Use as a context manager, or call :meth:`start` / :meth:`stop`."""

    def __init__(
        self, latency: float = 0.0, *, host: str = "127.0.0.1", port: int = 0, require_api_key: bool = True
    ) -> None:
        super().__init__(host=host, port=port, name="fake-openai")
        self.latency = latency
        self.require_api_key = require_api_key
        self.models: dict[str, ModelEntry] = {e.id: e for e in load_catalog().models}
        self.default = OpenAIBehavior.ok()
        self._rules: list[tuple[Any, deque, OpenAIBehavior | None]] = []

    def _app(self) -> web.Application:
        app = web.Application(client_max_size=256 * 1024 * 1024)
        app.router.add_post("/v1/images/generations", self._handle)
        app.router.add_post("/v1/images/edits", self._handle)
        return app

    # ---- public state -----------------------------------------------------------------------
    @property
    def base_url(self) -> str:
        return f"http://{self.host}:{self.port}/v1"

    def env(self, api_key: str = FAKE_OPENAI_KEY) -> dict[str, str]:
        """Environment for a client of this fake."""
        return {"OPENAI_API_KEY": api_key, "OPENAI_BASE_URL": self.base_url}

    def script(
        self,
        *behaviors: OpenAIBehavior,
        match: str | Callable[[RecordedOpenAIRequest], bool] | None = None,
        then: OpenAIBehavior | None = None,
    ) -> None:
        """Queue ``behaviors`` (one per matching request) for requests matching ``match``."""
        with self._cond:
            self._rules.append((match, deque(behaviors), then))

    # ---- request handling -------------------------------------------------------------------
    def _pick(self, rec: RecordedOpenAIRequest) -> OpenAIBehavior:
        with self._cond:
            for match, queue, then in self._rules:
                hit = match is None or (match in rec.prompt if isinstance(match, str) else match(rec))
                if hit and queue:
                    return queue.popleft()
                if hit and then is not None:
                    return then
            return self.default

    def _finish(self, rec: RecordedOpenAIRequest, outcome: str, status: int | None) -> None:
        with self._cond:
            if rec.outcome == "pending":
                rec.outcome, rec.status = outcome, status
            self._cond.notify_all()

    async def _record(self, request: web.Request) -> RecordedOpenAIRequest:
        endpoint = request.path.rsplit("/", 1)[-1]
        fields: dict[str, Any] = {}
        images: list[dict[str, Any]] = []
        if endpoint == "edits":
            form = await request.post()
            for name, value in form.items():
                if isinstance(value, web.FileField):
                    if name in ("image", "image[]"):
                        data = value.file.read()
                        images.append(_image_record(value.filename, value.content_type, data))
                else:
                    fields[name] = value
        else:
            try:
                fields = json.loads(await request.read() or b"{}")
            except ValueError:
                fields = {}
        auth = request.headers.get("Authorization", "")
        rec = RecordedOpenAIRequest(
            seq=0,
            endpoint=endpoint,
            fields=fields,
            images=images,
            authorized=auth.startswith("Bearer ") and len(auth) > len("Bearer "),
        )
        return self._keep(rec)

    async def _handle(self, request: web.Request) -> web.StreamResponse:
        rec = await self._record(request)
        try:
            return await self._respond(request, rec)
        except (asyncio.CancelledError, ConnectionResetError):
            self._finish(rec, "aborted", None)
            raise

    async def _respond(self, request: web.Request, rec: RecordedOpenAIRequest) -> web.StreamResponse:
        invalid = _invalid(rec, self.models, self.require_api_key)
        if invalid is not None:
            rec.behavior = "invalid"
            return await self._send(request, rec, invalid[0], json.dumps(invalid[1]).encode())
        b = self._pick(rec)
        rec.behavior = b.kind
        latency = self.latency if b.latency is None else b.latency
        if latency > 0:
            await asyncio.sleep(latency)
        if b.kind == "hang":
            await asyncio.sleep(b.hang_s)
        message = b.message
        if b.kind == "echo_key":  # used only to echo it back, never stored
            message += request.headers.get("Authorization", "").removeprefix("Bearer ")
        error = _error(b.status, message, code=b.code, kind=b.error_type)
        if b.kind in ("http_error", "echo_key") or (b.kind == "stream_error" and not rec.stream):
            return await self._send(request, rec, b.status, json.dumps(error).encode(), b.headers)
        if b.kind == "raw":
            return await self._send(request, rec, 200, b.raw.encode())
        final, partials, usage = await asyncio.get_running_loop().run_in_executor(None, self._render, rec)
        if b.kind == "no_usage":
            usage = None
        if rec.stream:
            prefix = "image_edit" if rec.endpoint == "edits" else "image_generation"
            events = [
                (
                    f"{prefix}.partial_image",
                    {
                        "type": f"{prefix}.partial_image",
                        "b64_json": p,
                        "partial_image_index": i,
                        **self._echo(rec),
                    },
                )
                for i, p in enumerate(partials)
            ]
            events[:0] = [(str(e.get("type", "message")), dict(e)) for e in b.before]
            if b.kind == "stream_error":
                payload = {**error["error"], "type": "error"} if b.flat else {"type": "error", **error}
                events = events[: b.partials_before] + [("error", payload)]
            else:
                done = {"type": f"{prefix}.completed", "b64_json": final, **self._echo(rec)}
                events.append((f"{prefix}.completed", {**done, **({"usage": usage} if usage else {})}))
            return await self._send_sse(request, rec, events, drop=b.kind == "drop")
        body = {"created": int(time.time()), "data": [{"b64_json": final}], **self._echo(rec)}
        if usage:
            body["usage"] = usage
        return await self._send(request, rec, 200, json.dumps(body).encode(), drop=b.kind == "drop")

    def _echo(self, rec: RecordedOpenAIRequest) -> dict[str, Any]:
        entry = self.models[rec.model]
        size = rec.size if rec.size != "auto" else "1024x1024"
        quality = rec.quality if rec.quality != "auto" else entry.qualities[min(1, len(entry.qualities) - 1)]
        return {
            "background": "opaque",
            "output_format": "png",
            "quality": quality,
            "size": size,
            "created_at": int(time.time()),
        }

    def _render(self, rec: RecordedOpenAIRequest) -> tuple[str, list[str], dict[str, Any]]:
        """(final image, partial images, usage) for a request, as the real API would size and count them."""
        echo = self._echo(rec)
        width, height = (int(v) for v in echo["size"].split("x"))
        final = base64.b64encode(make_image(width, height, rec.seq)).decode()
        partials = [
            base64.b64encode(make_image(max(64, width // 4), max(64, height // 4), rec.seq + i)).decode()
            for i in range(rec.partial_images if rec.stream else 0)
        ]
        text = math.ceil(len(rec.prompt) / 4)
        image_in = sum(
            85 + 170 * math.ceil(i["width"] / 512) * math.ceil(i["height"] / 512) for i in rec.images
        )
        output = self.models[rec.model].image_tokens(echo["quality"], echo["size"])
        usage = {
            "input_tokens": text + image_in,
            "input_tokens_details": {"text_tokens": text, "image_tokens": image_in},
            "output_tokens": output,
            "output_tokens_details": {"image_tokens": output, "text_tokens": 0},
            "total_tokens": text + image_in + output,
        }
        return final, partials, usage

    async def _send(
        self,
        request: web.Request,
        rec: RecordedOpenAIRequest,
        status: int,
        data: bytes,
        headers: dict | None = None,
        drop: bool = False,
    ) -> web.StreamResponse:
        return await self._send_body(
            request, rec, status, data, "application/json", headers=headers, drop=drop
        )

    async def _send_sse(
        self, request: web.Request, rec: RecordedOpenAIRequest, events: list[tuple[str, dict]], drop: bool
    ) -> web.StreamResponse:
        resp = web.StreamResponse(
            status=200, headers={"Content-Type": "text/event-stream", "Cache-Control": "no-cache"}
        )
        await resp.prepare(request)
        for i, (name, payload) in enumerate(events):
            data = f"event: {name}\ndata: {json.dumps(payload)}\n\n".encode()
            if drop and i == len(events) - 1:
                return await self._drop(request, rec, resp, data[: len(data) // 2])
            if i == len(events) - 1:
                self._finish(rec, "error" if name == "error" else "completed", 200)
            await resp.write(data)
        await resp.write_eof()
        return resp


def _image_record(filename: str, content_type: str, data: bytes) -> dict[str, Any]:
    try:
        with Image.open(io.BytesIO(data)) as img:
            width, height = img.size
    except Exception:  # noqa: BLE001 - an unreadable upload is recorded as 0x0
        width = height = 0
    return {
        "filename": filename,
        "content_type": content_type,
        "sha256": hashlib.sha256(data).hexdigest(),
        "bytes": len(data),
        "width": width,
        "height": height,
    }
