"""The Gemini Batch API and the Files API, as the fake Gemini server speaks them.

What the real google-genai client sends (google/genai/batches.py, files.py, _api_client.py):

* ``POST /{v}/models/{model}:batchGenerateContent`` with ``{"batch": {"displayName", "inputConfig":
  {"requests": {"requests": [{"request": GenerateContentRequest, "metadata": {"key": ...}}]}}
  | {"fileName": "files/..."}}}``; the answer is the job, a long-running operation.
* ``GET /{v}/batches/{id}``, ``GET /{v}/batches`` (``{"operations": [...]}``),
  ``POST /{v}/batches/{id}:cancel``, ``DELETE /{v}/batches/{id}``.
* A job is ``{"name": "batches/<id>", "metadata": {"model", "displayName", "state":
  "BATCH_STATE_PENDING|RUNNING|SUCCEEDED|FAILED|CANCELLED|EXPIRED", "createTime", "updateTime",
  "endTime", "batchStats", "output": {"inlinedResponses": {"inlinedResponses": [{"response" |
  "error", "metadata"}]}} | {"responsesFile": "files/<id>"}}, "done": bool}``, and a failed job's operation ``"error"``.
  Responses come in the order of the requests; an ``error`` is a ``google.rpc.Status`` (gRPC
  ``code``, ``message``). ``omit_state`` leaves ``metadata.state`` out (``done`` alone says the end);
  ``drop_answer_keys`` (positions) and ``reverse_answers`` vary how answers name their requests.
* Files: ``POST /upload/{v}/files`` with ``X-Goog-Upload-Protocol: resumable`` and
  ``X-Goog-Upload-Command: start`` answers an ``X-Goog-Upload-URL``; the bytes go there with
  ``upload, finalize``, answered ``{"file": {...}}`` and ``X-Goog-Upload-Status: final``.
  ``GET /{v}/files/{id}:download?alt=media`` (also under ``/download/``) gives a file's bytes.

Job states are scripted (:meth:`FakeGeminiServer.script_batch`): a job starts in the first state of
its script and moves one step on every ``get``; the default is pending → running → succeeded. When a
job reaches ``SUCCEEDED`` each request is answered by the behaviour the server's rules pick for it,
exactly as a unary call would be (so ``fake.script(Behavior.server_error(), match="Sketch 2")``
makes a partly failed job); an HTTP-error behaviour becomes that response's ``error``. ``EXPIRED``,
``FAILED`` and ``CANCELLED`` jobs carry no responses, unless scripted as ``"CANCELLED+2"`` (or
``"EXPIRED+2"``): ended so with the first two requests answered. Every request inside a job is recorded in
:attr:`FakeGeminiServer.requests` with ``batch`` set to the job name.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import json
import threading
import uuid
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from aiohttp import web

from generate.testing.fake_behaviors import (
    blocked_output_body,
    error_body,
    merge_events,
    prompt_blocked_body,
    success_events,
)
from generate.testing.fake_records import validate
from generate.testing.server_thread import abort_connection

if TYPE_CHECKING:
    from generate.testing.fake_gemini import FakeGeminiServer

__all__ = ["BatchJobRecord", "FakeBatches", "INLINE_LIMIT_BYTES", "TERMINAL_STATES"]

INLINE_LIMIT_BYTES = 20 * 1024 * 1024  # the documented inline-request cap (20 MB)
TERMINAL_STATES = frozenset({"SUCCEEDED", "FAILED", "CANCELLED", "EXPIRED"})
_STATES = frozenset({"PENDING", "RUNNING"}) | TERMINAL_STATES
# HTTP status → the gRPC code a google.rpc.Status carries.
_GRPC = {400: 3, 401: 16, 403: 7, 404: 5, 408: 4, 409: 10, 429: 8, 499: 1, 500: 13, 503: 14, 504: 4}


@dataclass
class BatchJobRecord:
    """One job the fake holds. ``states``: what is left of its script (the first is the current)."""

    name: str
    model: str
    display_name: str | None
    source: str  # "inline" or the input file's name
    requests: list[dict[str, Any]]  # [{"key": ..., "request": {...}}] in the order received
    states: list[str]
    created: str
    updated: str
    gets: int = 0
    cancelled: bool = False
    output: dict[str, Any] | None = None  # set once the job succeeded
    result_file: str | None = None

    @property
    def state(self) -> str:
        return self.states[0]


@dataclass
class _File:
    name: str
    mime_type: str
    display_name: str | None
    data: bytes = b""
    size: int = 0
    done: bool = False
    extra: dict[str, Any] = field(default_factory=dict)

    def resource(self, base_url: str, version: str) -> dict[str, Any]:
        return {
            "name": self.name,
            "displayName": self.display_name,
            "mimeType": self.mime_type,
            "sizeBytes": str(len(self.data)),
            "state": "ACTIVE",
            "uri": f"{base_url}/{version}/{self.name}",
            **self.extra,
        }


def _now() -> str:
    return dt.datetime.now(dt.UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def _header(request: web.Request, name: str) -> str:
    return request.headers.get(name, "").strip().lower()


class FakeBatches:
    """The batch and file endpoints of one :class:`FakeGeminiServer` (its rules pick each answer)."""

    def __init__(self, server: FakeGeminiServer) -> None:
        self.server = server
        self.inline_limit_bytes = INLINE_LIMIT_BYTES
        self.jobs: dict[str, BatchJobRecord] = {}
        self.files: dict[str, _File] = {}
        self.creates = 0
        self.cancels = 0
        self._scripts: list[list[str]] = []
        self._get_errors: list[tuple[int, str, str]] = []
        self.drop_next_create = False  # create the next job, then close the socket unanswered
        self.hang_gets = 0  # answer no more than this many next gets at all (the client times out)
        # Put a done job's output in the operation's ``response`` only, not in ``metadata.output``.
        self.output_in_response_only = False
        # Leave ``metadata.state`` out: only ``done`` (and a failed job's ``error``) say the job ended.
        self.omit_state = False
        # Answer positions whose key is left out; ``reverse_answers`` writes them last to first.
        self.drop_answer_keys: set[int] = set()
        self.reverse_answers = False
        self._default = ["PENDING", "RUNNING", "SUCCEEDED"]
        self._lock = threading.Lock()

    # ---- scripting ---------------------------------------------------------------------------
    def script(self, *states: str) -> None:
        """The next created job goes through ``states`` (``"PENDING"``, ..., ``"SUCCEEDED"``)."""
        bad = [s for s in states if s.upper().partition("+")[0] not in _STATES]
        if not states or bad:
            raise ValueError(f"batch states must be some of {sorted(_STATES)}, got {list(states)}")
        with self._lock:
            self._scripts.append([s.upper() for s in states])

    def fail_gets(self, *errors: tuple[int, str, str]) -> None:
        """Answer the next ``get`` calls with these HTTP errors, e.g. ``(503, "UNAVAILABLE", "...")``
        (the job does not move on while its polls fail)."""
        with self._lock:
            self._get_errors.extend(errors)

    def reset(self) -> None:
        with self._lock:
            self._get_errors.clear()
            self.jobs.clear()
            self.files.clear()
            self._scripts.clear()
            self.creates = self.cancels = 0

    def routes(self, app: web.Application) -> None:
        app.router.add_get("/{version}/batches", self._list)
        app.router.add_get("/{version}/batches/{job}", self._get)
        app.router.add_post("/{version}/batches/{job}", self._cancel)  # batches/{id}:cancel
        app.router.add_delete("/{version}/batches/{job}", self._delete)
        app.router.add_post("/upload/{version}/files", self._upload)
        app.router.add_get("/{version}/files/{file}", self._file)
        app.router.add_get("/download/{version}/files/{file}", self._file)

    # ---- jobs --------------------------------------------------------------------------------
    def _operation(self, job: BatchJobRecord) -> dict[str, Any]:
        done = job.state.partition("+")[0] in TERMINAL_STATES
        responses = ((job.output or {}).get("inlinedResponses") or {}).get("inlinedResponses") or []
        failed = sum(1 for r in responses if "error" in r)
        meta: dict[str, Any] = {
            "@type": "type.googleapis.com/google.ai.generativelanguage.v1beta.GenerateContentBatch",
            "name": job.name,
            "model": f"models/{job.model}",
            "displayName": job.display_name,
            "state": f"BATCH_STATE_{job.state.partition('+')[0]}",
            "createTime": job.created,
            "updateTime": job.updated,
            "batchStats": {
                "requestCount": str(len(job.requests)),
                "pendingRequestCount": str(0 if done else len(job.requests)),
                "successfulRequestCount": str(len(job.requests) - failed if job.output else 0),
                "failedRequestCount": str(failed),
            },
        }
        body: dict[str, Any] = {"name": job.name, "metadata": meta, "done": done}
        if self.omit_state:
            del meta["state"]
        if done:
            meta["endTime"] = job.updated
        if job.state == "FAILED":  # a failed long-running operation carries its google.rpc.Status
            body["error"] = {"code": 13, "message": "The batch job failed: internal error."}
        if job.output is not None:
            if not self.output_in_response_only:
                meta["output"] = job.output
            body["response"] = {
                "@type": "type.googleapis.com/google.ai.generativelanguage.v1beta.GenerateContentBatchOutput",
                **job.output,
            }
        return body

    async def create(self, request: web.Request, model: str, raw: bytes, body: Any) -> web.Response:
        """``models/{model}:batchGenerateContent`` (routed here by the server's model handler)."""
        srv = self.server
        if srv.require_api_key and not (request.headers.get("x-goog-api-key") or request.query.get("key")):
            return _error(403, "PERMISSION_DENIED", "Method doesn't allow unregistered callers.")
        if model not in srv.models:
            return _error(404, "NOT_FOUND", f"models/{model} is not found for API version v1beta.")
        if len(raw) > self.inline_limit_bytes:
            return _error(
                400,
                "INVALID_ARGUMENT",
                f"Request payload size exceeds the limit: {self.inline_limit_bytes} bytes.",
            )
        batch = body.get("batch") if isinstance(body, dict) else None
        source = (batch or {}).get("inputConfig") or (batch or {}).get("input_config") or {}
        if not isinstance(source, dict):
            return _error(400, "INVALID_ARGUMENT", "Invalid JSON payload received.")
        file_name = source.get("fileName") or source.get("file_name")
        if file_name:
            stored = self.files.get(file_name)
            if stored is None or not stored.done:
                return _error(404, "NOT_FOUND", f"File {file_name} not found.")
            try:
                lines = [json.loads(x) for x in stored.data.decode().splitlines() if x.strip()]
            except ValueError:
                return _error(400, "INVALID_ARGUMENT", f"{file_name} is not valid JSON Lines.")
            items = [
                {"key": ln.get("key"), "request": ln.get("request")} for ln in lines if isinstance(ln, dict)
            ]
        else:
            listed = (source.get("requests") or {}).get("requests")
            if not isinstance(listed, list) or not listed:
                return _error(400, "INVALID_ARGUMENT", "inputConfig must hold requests or a fileName.")
            items = [
                {"key": (r.get("metadata") or {}).get("key"), "request": r.get("request")}
                for r in listed
                if isinstance(r, dict)
            ]
        with self._lock:
            self.creates += 1
            states = self._scripts.pop(0) if self._scripts else list(self._default)
            now = _now()
            job = BatchJobRecord(
                name=f"batches/{uuid.uuid4().hex[:16]}",
                model=model,
                display_name=batch.get("displayName") or batch.get("display_name"),
                source=file_name or "inline",
                requests=items,
                states=states,
                created=now,
                updated=now,
            )
            self.jobs[job.name] = job
        self._settle(request, job)
        if self.drop_next_create:  # the job exists, but its answer never reaches the client
            self.drop_next_create = False
            abort_connection(request)
        return web.json_response(self._operation(job))

    def _job(self, request: web.Request) -> tuple[BatchJobRecord | None, str]:
        ident, _, action = request.match_info["job"].partition(":")
        return self.jobs.get(f"batches/{ident}"), action

    async def _get(self, request: web.Request) -> web.Response:
        with self._lock:
            failure = self._get_errors.pop(0) if self._get_errors else None
        if failure is not None:
            return _error(*failure)
        with self._lock:
            hang, self.hang_gets = self.hang_gets > 0, max(0, self.hang_gets - 1)
        if hang:
            await asyncio.sleep(3600)
        job, _ = self._job(request)
        if job is None:
            return _error(404, "NOT_FOUND", f"Batch {request.match_info['job']} not found.")
        with self._lock:
            job.gets += 1
            if len(job.states) > 1:
                job.states.pop(0)
                job.updated = _now()
        self._settle(request, job)
        return web.json_response(self._operation(job))

    async def _list(self, request: web.Request) -> web.Response:
        return web.json_response({"operations": [self._operation(j) for j in list(self.jobs.values())]})

    async def _cancel(self, request: web.Request) -> web.Response:
        job, action = self._job(request)
        if action != "cancel":
            return _error(404, "NOT_FOUND", f"Method {action!r} not found.")
        if job is None:
            return _error(404, "NOT_FOUND", f"Batch {request.match_info['job']} not found.")
        with self._lock:
            self.cancels += 1
            if job.state.partition("+")[0] not in TERMINAL_STATES:
                job.states = ["CANCELLED"]
                job.cancelled = True
                job.updated = _now()
        return web.json_response({})

    async def _delete(self, request: web.Request) -> web.Response:
        job, _ = self._job(request)
        if job is None:
            return _error(404, "NOT_FOUND", f"Batch {request.match_info['job']} not found.")
        with self._lock:
            self.jobs.pop(job.name, None)
        return web.json_response({})

    # ---- answering the requests of a job -------------------------------------------------------
    def _settle(self, request: web.Request, job: BatchJobRecord) -> None:
        """Build the job's responses the moment it first shows SUCCEEDED; a job scripted to end
        ``"CANCELLED+1"`` (or ``"EXPIRED+1"``) ends so with the first N requests answered."""
        partial = job.state.partition("+")[2]
        if (job.state != "SUCCEEDED" and not partial) or job.output is not None:
            return
        done = job.requests[: int(partial)] if partial else job.requests
        answers = [self._answer(request, job, item) for item in done]
        done = [{**item, "key": None} if i in self.drop_answer_keys else item for i, item in enumerate(done)]
        if self.reverse_answers:
            done, answers = done[::-1], answers[::-1]
        if job.source == "inline":
            job.output = {
                "inlinedResponses": {
                    "inlinedResponses": [
                        {**answer, **({"metadata": {"key": item["key"]}} if item["key"] is not None else {})}
                        for item, answer in zip(done, answers, strict=True)
                    ]
                }
            }
            return
        lines = [
            json.dumps({**({"key": item["key"]} if item["key"] is not None else {}), **answer})
            for item, answer in zip(done, answers, strict=True)
        ]
        name = f"files/batch-{job.name.split('/')[-1]}"
        self.files[name] = _File(
            name, "application/jsonl", None, ("\n".join(lines) + "\n").encode(), done=True
        )
        job.result_file = name
        job.output = {"responsesFile": name}

    def _answer(self, request: web.Request, job: BatchJobRecord, item: dict[str, Any]) -> dict[str, Any]:
        """``{"response": ...}`` or ``{"error": Status}`` for one request, as a unary call would answer."""
        srv = self.server
        inner = item.get("request")
        rec = srv._record_batch(request, job.model, inner if isinstance(inner, dict) else None, job.name)
        invalid = validate(rec, srv.models, require_api_key=False)
        if invalid is not None:
            rec.behavior = "invalid"
            srv._finish(rec, "error", invalid[0])
            return {"error": _status(invalid[0], invalid[2])}
        b = srv._pick(rec)
        rec.behavior = b.kind
        if b.kind == "http_error":
            srv._finish(rec, "error", b.status)
            return {"error": _status(b.status, b.message, b.details)}
        ctx = srv._context(rec)
        if b.kind == "prompt_blocked":
            body = prompt_blocked_body(b, ctx)
        elif b.kind == "finish":
            body = blocked_output_body(b, ctx)
        elif b.kind in ("image", "text_only"):
            body = merge_events(success_events(b, ctx))
        elif b.kind == "raw":  # the answer's "response" is this JSON, as given (a broken server)
            srv._finish(rec, "completed", 200)
            try:
                return {"response": json.loads(b.raw)}
            except ValueError:
                return {"response": b.raw}
        else:  # hang, drop, truncated...: a batch has no connection to break; the row fails
            srv._finish(rec, "error", 500)
            return {"error": _status(500, "An internal error has occurred.")}
        srv._finish(rec, "completed", 200)
        return {"response": body}

    # ---- files -------------------------------------------------------------------------------
    async def _upload(self, request: web.Request) -> web.Response:
        srv = self.server
        version = request.match_info["version"]
        upload_id = request.query.get("upload_id")
        if upload_id is None:  # the start of a resumable upload
            if srv.require_api_key and not request.headers.get("x-goog-api-key"):
                return _error(403, "PERMISSION_DENIED", "Method doesn't allow unregistered callers.")
            if (
                _header(request, "x-goog-upload-protocol") != "resumable"
                or _header(request, "x-goog-upload-command") != "start"
            ):
                return _error(400, "INVALID_ARGUMENT", "Only resumable uploads are supported.")
            try:
                meta = (json.loads(await request.read() or b"{}") or {}).get("file") or {}
            except ValueError:
                return _error(400, "INVALID_ARGUMENT", "Invalid JSON payload received.")
            upload_id = uuid.uuid4().hex[:12]
            name = meta.get("name") or f"files/{upload_id}"
            mime = request.headers.get("X-Goog-Upload-Header-Content-Type") or meta.get("mimeType") or ""
            size = int(request.headers.get("X-Goog-Upload-Header-Content-Length") or 0)
            with self._lock:
                self.files[name] = _File(name, mime, meta.get("displayName"), size=size)
                self.files[name].extra["uploadId"] = upload_id
            url = f"{srv.base_url}/upload/{version}/files?upload_id={upload_id}&upload_protocol=resumable"
            return web.json_response({}, headers={"X-Goog-Upload-URL": url, "X-Goog-Upload-Status": "active"})
        stored = next((f for f in self.files.values() if f.extra.get("uploadId") == upload_id), None)
        if stored is None:
            return _error(404, "NOT_FOUND", "Unknown upload.")
        command = _header(request, "x-goog-upload-command")
        offset = int(request.headers.get("X-Goog-Upload-Offset") or 0)
        chunk = await request.read()
        if offset != len(stored.data):
            return _error(
                400, "INVALID_ARGUMENT", f"Upload offset {offset} does not match {len(stored.data)}."
            )
        stored.data += chunk
        if "finalize" not in command:
            return web.json_response({}, headers={"X-Goog-Upload-Status": "active"})
        stored.done = True
        stored.extra.pop("uploadId", None)
        resource = stored.resource(srv.base_url, version)
        return web.json_response({"file": resource}, headers={"X-Goog-Upload-Status": "final"})

    async def _file(self, request: web.Request) -> web.StreamResponse:
        srv = self.server
        if srv.require_api_key and not (request.headers.get("x-goog-api-key") or request.query.get("key")):
            return _error(403, "PERMISSION_DENIED", "Method doesn't allow unregistered callers.")
        ident, _, action = request.match_info["file"].partition(":")
        stored = self.files.get(f"files/{ident}")
        if stored is None or not stored.done:
            return _error(404, "NOT_FOUND", f"File files/{ident} not found.")
        if action == "download" or request.query.get("alt") == "media":
            return web.Response(body=stored.data, content_type="application/octet-stream")
        return web.json_response(stored.resource(srv.base_url, request.match_info["version"]))


def _status(http_status: int, message: str, details: tuple | list = ()) -> dict[str, Any]:
    """A ``google.rpc.Status`` (gRPC code; the error's details, e.g. QuotaFailure) for an HTTP error."""
    status: dict[str, Any] = {"code": _GRPC.get(http_status, 2), "message": message}
    if details:
        status["details"] = list(details)
    return status


def _error(status: int, error_status: str, message: str) -> web.Response:
    return web.json_response(error_body(status, error_status, message), status=status)
