"""A fake Gemini API server for tests: real HTTP on 127.0.0.1, the real wire format, scripted faults.

Usage (no pytest needed)::

    from generate.testing import FakeGeminiServer, Behavior

    with FakeGeminiServer(latency=0.2) as fake:
        fake.script(Behavior.rate_limited(retry_delay_s=1), Behavior.ok(), match="Sketch 2 of 4")
        os.environ.update(fake.env())        # GEMINI_API_KEY=test-key, GEMINI_BASE_URL=fake.base_url
        ...                                   # run the real google-genai client against it
        assert fake.count == 5 and fake.requests[0].image_size == "1K"

Endpoints: ``POST /{version}/models/{model}:generateContent`` and ``:streamGenerateContent``
(``?alt=sse``: ``data: <json>`` events; without it one JSON array). Request bodies are accepted in
camelCase or snake_case with standard or URL-safe base64. The Batch API
(``:batchGenerateContent``, ``batches/...``) and the Files API (resumable upload, download) are
served too, with scripted job states: see :mod:`generate.testing.fake_batches`. Like the real API it answers 404 for a
model it does not serve, 403 without an API key, and 400 for ``candidateCount`` > 1, a lowercase
``imageSize``, an aspect ratio the model does not offer, or a model-role image part in the history
without its ``thoughtSignature`` (the Gemini API's own error text) — or a model turn whose first
non-thought part is text without one (Pro signs that part too, docs/gemini-api-facts.md §9.3). Signatures it issues contain
``+`` and ``/`` in standard base64, so a client that changes the alphabet or the bytes shows up in
:attr:`RecordedRequest.contents`.

Choosing a behaviour, deterministically under any concurrency: the first scripted rule that matches
the request (``match``: text in the prompt, or a predicate on the :class:`RecordedRequest`;
``model``: a model id) and still has queued behaviours consumes one (one per attempt); a rule with
``then=`` keeps answering with it once its queue is empty; otherwise :attr:`default` answers.

Every request is recorded (:class:`RecordedRequest`): never the API key's value, only whether one
was present. A client that goes away before its response was sent (timeout, cancelled task) is
recorded as ``"aborted"`` — the server runs with ``handler_cancellation=True``.
"""

from __future__ import annotations

import asyncio
import json
import math
import time
import uuid
from collections import deque
from collections.abc import Callable
from typing import Any

from aiohttp import web

from generate.adapters.gemini.catalog import ModelEntry, load_catalog
from generate.testing.fake_batches import FakeBatches
from generate.testing.fake_behaviors import (
    Behavior,
    blocked_output_body,
    error_body,
    merge_events,
    prompt_blocked_body,
    success_events,
)
from generate.testing.fake_records import RecordedRequest, ScriptRule, record_from, validate
from generate.testing.fake_sheets import sheet_request
from generate.testing.server_thread import FakeServer

__all__ = ["FakeGeminiServer", "RecordedRequest", "Behavior"]


class FakeGeminiServer(FakeServer[RecordedRequest]):
    """The fake server. Use as a context manager, or call :meth:`start` / :meth:`stop`."""

    def __init__(
        self,
        latency: float = 0.0,
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        models: dict[str, ModelEntry] | None = None,
        require_api_key: bool = True,
    ) -> None:
        super().__init__(host=host, port=port, name="fake-gemini")
        self.latency = latency
        self.require_api_key = require_api_key
        catalog = {e.id: e for e in load_catalog().models}
        self.models: dict[str, ModelEntry] = {**catalog, **(models or {})}
        self.default = Behavior.ok()
        self._rules: list[ScriptRule] = []
        self.batches = FakeBatches(self)  # the Batch and Files APIs (see fake_batches.py)

    def _app(self) -> web.Application:
        app = web.Application(client_max_size=256 * 1024 * 1024)
        app.router.add_post("/{version}/models/{spec}", self._handle)
        self.batches.routes(app)
        return app

    # ---- public state -----------------------------------------------------------------------
    @property
    def base_url(self) -> str:
        return f"http://{self.host}:{self.port}"

    def env(self, api_key: str = "test-key") -> dict[str, str]:
        """Environment for a client of this fake (a dummy key: the SDK insists on one)."""
        return {"GEMINI_API_KEY": api_key, "GEMINI_BASE_URL": self.base_url}

    @property
    def aborted_count(self) -> int:
        with self._cond:
            return sum(1 for r in self._requests if r.outcome == "aborted")

    def script(
        self,
        *behaviors: Behavior,
        match: str | Callable[[RecordedRequest], bool] | None = None,
        model: str | None = None,
        then: Behavior | None = None,
    ) -> None:
        """Queue ``behaviors`` (one per matching request) for requests matching ``match``/``model``."""
        with self._cond:
            self._rules.append(ScriptRule(match, model, deque(behaviors), then))

    def script_batch(self, *states: str) -> None:
        """The next created batch job goes through ``states`` (one step per ``get``), e.g.
        ``("PENDING", "RUNNING", "EXPIRED")``; unscripted jobs go pending → running → succeeded."""
        self.batches.script(*states)

    @property
    def batch_creates(self) -> int:
        """How many batch jobs were created (``batchGenerateContent`` calls that were accepted)."""
        return self.batches.creates

    def reset(self) -> None:
        """Forget rules and recorded requests; the default goes back to ``Behavior.ok()``."""
        with self._cond:
            self._rules.clear()
            self._requests.clear()
            self.default = Behavior.ok()
        self.batches.reset()

    # ---- request handling -------------------------------------------------------------------
    def _pick(self, rec: RecordedRequest) -> Behavior:
        with self._cond:
            for rule in self._rules:
                if rule.matches(rec):
                    if rule.queue:
                        return rule.queue.popleft()
                    if rule.then is not None:
                        return rule.then
            return self.default

    def _finish(
        self, rec: RecordedRequest, outcome: str, status: int | None = None, force: bool = False
    ) -> None:
        with self._cond:
            if rec.outcome == "pending" or force:
                rec.outcome = outcome
                rec.status = status if status is not None else rec.status
                rec.finished = time.time()
            self._cond.notify_all()

    def _record(self, request: web.Request, body: Any) -> RecordedRequest:
        rec = record_from(request, body)
        return self._keep(rec)

    def _context(self, rec: RecordedRequest) -> dict[str, Any]:
        entry = self.models[rec.model]
        size = rec.image_size if entry.supports_image_size and rec.image_size else entry.default_image_size
        pixels = entry.pixels(rec.aspect_ratio or "1:1", size) or (1024, 1024)
        return {
            "model": entry.id,
            "response_id": uuid.uuid4().hex[:22],
            # Every turn is input: earlier prompts, references and the model's own image too.
            "prompt_tokens": math.ceil(rec.text_chars / 4) + len(rec.images) * entry.input_image_tokens,
            "image_tokens": entry.tokens_per_image.get(size, next(iter(entry.tokens_per_image.values()))),
            "thoughts_tokens": 291 if entry.thinking == "always" else 0,
            "thinking": entry.thinking == "always",
            "pixels": pixels,
            "variant": rec.seq,
            "google_search": rec.google_search,
            "search_topic": " ".join(rec.prompt.split()[:6]),
            "sheet": sheet_request(rec.prompt),
        }

    def _record_batch(self, request: web.Request, model: str, body: dict | None, job: str) -> RecordedRequest:
        """Record one request of batch job ``job`` as a unary call of ``model`` would be."""
        rec = record_from(request, body, spec=f"{model}:generateContent")
        rec.batch = job
        return self._keep(rec)

    async def _handle(self, request: web.Request) -> web.StreamResponse:
        raw = await request.read()
        try:
            body = json.loads(raw) if raw else None
        except ValueError:
            body = None
        model, _, method = request.match_info["spec"].partition(":")
        if method == "batchGenerateContent":
            return await self.batches.create(request, model, raw, body)
        rec = self._record(request, body)
        try:
            return await self._respond(request, rec)
        except (asyncio.CancelledError, ConnectionResetError):
            # The client went away before the whole response was sent (a deliberate drop stays "dropped").
            self._finish(rec, "aborted", force=rec.outcome in ("completed", "error"))
            raise

    async def _respond(self, request: web.Request, rec: RecordedRequest) -> web.StreamResponse:
        invalid = validate(rec, self.models, self.require_api_key)
        if invalid is not None:
            rec.behavior = "invalid"
            return await self._send_json(request, rec, invalid[0], error_body(*invalid))
        b = self._pick(rec)
        rec.behavior = b.kind
        latency = self.latency if b.latency is None else b.latency
        if latency > 0:
            await asyncio.sleep(latency)
        # A threading.Event, set from the test's thread: polled rather than waited on in a worker
        # thread, so that a client leaving meanwhile cancels the wait with the handler.
        while b.held_until is not None and not b.held_until.is_set():  # noqa: ASYNC110
            await asyncio.sleep(0.01)
        if b.kind == "hang":
            await asyncio.sleep(b.hang_s)
            b = Behavior.ok()
        if b.kind == "http_error":
            return await self._send_json(
                request, rec, b.status, error_body(b.status, b.error_status, b.message, b.details), b.headers
            )
        if b.kind == "raw":
            return await self._send_raw(request, rec, b.raw.encode())
        ctx = self._context(rec)
        if b.kind == "prompt_blocked":
            events = [prompt_blocked_body(b, ctx)]
        elif b.kind == "finish":
            events = [blocked_output_body(b, ctx)]
        else:  # image, text_only, drop, truncated, echo_key
            events = await asyncio.get_running_loop().run_in_executor(None, success_events, b, ctx)
        if b.kind == "echo_key":
            for event in events:
                event["usageMetadata"] = {**event["usageMetadata"], "promptTokenCount": _api_key(request)}
        cut = b.kind == "truncated"
        if rec.stream and request.query.get("alt") == "sse":
            return await self._send_sse(request, rec, events, drop=b.kind == "drop", gap_s=b.gap_s, cut=cut)
        payload = events if rec.stream else merge_events(events)
        return await self._send_json(request, rec, 200, payload, drop=b.kind == "drop", cut=cut)

    async def _send_json(
        self,
        request: web.Request,
        rec: RecordedRequest,
        status: int,
        payload: Any,
        headers: dict | None = None,
        drop: bool = False,
        cut: bool = False,
    ) -> web.StreamResponse:
        data = json.dumps(payload).encode()
        if cut:  # a whole HTTP answer whose JSON stops halfway
            data = data[: len(data) // 2]
        # A failed write turns the record into "aborted" (see _handle).
        return await self._send_body(
            request, rec, status, data, "application/json; charset=UTF-8", headers=headers, drop=drop
        )

    async def _send_sse(
        self,
        request: web.Request,
        rec: RecordedRequest,
        events: list[dict],
        drop: bool,
        gap_s: float = 0.0,
        cut: bool = False,
    ) -> web.StreamResponse:
        resp = web.StreamResponse(
            status=200, headers={"Content-Type": "text/event-stream", "Cache-Control": "no-cache"}
        )
        await resp.prepare(request)
        for i, event in enumerate(events):
            data = b"data: " + json.dumps(event).encode() + b"\r\n\r\n"
            if drop and i == len(events) // 2:
                return await self._drop(request, rec, resp, data[: len(data) // 2])
            if cut and i == 1:  # the first event whole, then one event of broken JSON, then the end
                data = data[: len(data) // 2] + b"\r\n\r\n"
                self._finish(rec, "completed", 200)
                await resp.write(data)
                break
            if i and gap_s > 0:
                await asyncio.sleep(gap_s)
            if i == len(events) - 1:
                self._finish(rec, "completed", 200)
            await resp.write(data)
        await resp.write_eof()
        return resp

    async def _send_raw(self, request: web.Request, rec: RecordedRequest, data: bytes) -> web.StreamResponse:
        sse = rec.stream and request.query.get("alt") == "sse"
        if sse:
            data = b"data: " + data + b"\r\n\r\n"
        kind = "text/event-stream" if sse else "application/json; charset=UTF-8"
        resp = web.StreamResponse(status=200, headers={"Content-Type": kind})
        resp.content_length = len(data)
        await resp.prepare(request)
        self._finish(rec, "completed", 200)
        await resp.write(data)
        await resp.write_eof()
        return resp


def _api_key(request: web.Request) -> str:
    """The key the client sent (header or ``?key=``); used only to echo it, never stored."""
    return request.headers.get("x-goog-api-key") or request.query.get("key") or ""
