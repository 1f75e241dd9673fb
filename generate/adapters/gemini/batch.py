"""Gemini Batch API jobs (half price, up to 24 h) on the real google-genai client.

:class:`GeminiBatchClient` wraps one :class:`NanoBananaAdapter` (its client, model and request
building) and does four things:

1. :meth:`~GeminiBatchClient.submit` builds every sketch's request exactly as a unary call does
   (the adapter's own preparation: :func:`build_conversation` / :func:`build_config`, so references,
   config and sizes are identical) and creates one job through ``client.batches.create``: inline
   requests while their JSON stays under the inline limit (the documented 20 MB, less a margin for
   the envelope), else a JSONL file (``{"key", "request"}`` lines) uploaded with ``client.files``.
   Each request carries its key (``metadata.key`` inline, ``key`` in the file).
2. :meth:`~GeminiBatchClient.wait` polls ``client.batches.get`` with backoff (:class:`PollBackoff`:
   5 s, ×1.5, at most 60 s; ``sleep`` is injectable) until the job ends; a transient failure of a
   poll (5xx, 429, a dropped connection) is waited out, anything else raises :class:`BatchJobError`.
3. :meth:`~GeminiBatchClient.results` turns the finished job into one outcome per key: the
   :class:`ModelImage` that :func:`parse_response` makes of its response (cost at the batch price,
   ``extra["batch_job"]``), or the :class:`ModelCallError` that response, its ``error`` status, or the
   job's end (expired, failed, cancelled) means for that sketch.
4. :meth:`~GeminiBatchClient.cancel` cancels the job upstream.

The SDK's ``JobError.details`` is a list of strings, so a server that sends a per-request error with
structured details (a ``google.rpc.Status`` does: ``RetryInfo``, ``QuotaFailure``) makes
``batches.get`` fail validation, and one answer that is not a response object breaks its converter;
the SDK also reads a job's output from ``metadata.output`` only. In those cases the job is read as
plain JSON through the same client, and a bad answer fails only its own sketch (``bad_response``).
"""

from __future__ import annotations

import json
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from google.genai import types

from generate.adapter import ImageRequest, ModelImage
from generate.adapters.gemini.adapter import NanoBananaAdapter
from generate.adapters.gemini.errors import classify_api_error, classify_exception
from generate.adapters.gemini.wire import parse_response
from generate.errors import ConfigError, ErrorCode, ModelCallError, SketchgenError
from generate.redact import redact

__all__ = [
    "INLINE_LIMIT_BYTES",
    "TERMINAL_STATES",
    "BatchJobError",
    "BatchJobGone",
    "BatchJobStatus",
    "GeminiBatchClient",
    "PollBackoff",
    "SubmittedBatch",
    "request_json",
]

INLINE_LIMIT_BYTES = 20 * 1024 * 1024  # the documented cap on a job's inline requests
_INLINE_SHARE = 0.95  # of the cap, for the requests' JSON: the envelope and keys take the rest
TERMINAL_STATES = frozenset({"SUCCEEDED", "FAILED", "CANCELLED", "EXPIRED"})
_TRANSIENT_POLL_FAILURES = 20  # consecutive failed polls waited out before giving up
# gRPC code of a google.rpc.Status -> (HTTP status, status name), as the REST API maps them.
_GRPC = {
    1: (499, "CANCELLED"),
    2: (500, "UNKNOWN"),
    3: (400, "INVALID_ARGUMENT"),
    4: (504, "DEADLINE_EXCEEDED"),
    5: (404, "NOT_FOUND"),
    7: (403, "PERMISSION_DENIED"),
    8: (429, "RESOURCE_EXHAUSTED"),
    9: (400, "FAILED_PRECONDITION"),
    10: (409, "ABORTED"),
    13: (500, "INTERNAL"),
    14: (503, "UNAVAILABLE"),
    16: (401, "UNAUTHENTICATED"),
}


class BatchJobError(SketchgenError):
    """The job as a whole could not be submitted or read (one line; never a secret)."""


class BatchJobGone(BatchJobError):
    """The server does not know the job (404): deleted, purged, or made with another API key."""


@dataclass(frozen=True)
class PollBackoff:
    """Seconds between polls: ``initial_s``, then ×``factor`` each time, never above ``max_s``."""

    initial_s: float = 5.0
    factor: float = 1.5
    max_s: float = 60.0

    def delays(self) -> Iterator[float]:
        delay = self.initial_s
        while True:
            yield min(delay, self.max_s)
            delay = min(delay * self.factor, self.max_s)


@dataclass(frozen=True)
class SubmittedBatch:
    name: str  # "batches/<id>"
    source: str  # "inline", or the uploaded input file's name ("files/<id>")
    request_bytes: int  # the requests' JSON size, which chose the source


@dataclass
class BatchJobStatus:
    """What a poll saw. ``state``: PENDING, RUNNING, SUCCEEDED, FAILED, CANCELLED or EXPIRED.

    ``answers`` (inline jobs, once done): ``(key, response, error)`` in the order of the requests,
    ``response`` a ``GenerateContentResponse`` or None, ``error`` a ``{code, message, details}``
    status or None. ``responses_file``: the results file of a file job."""

    name: str
    state: str
    answers: list[tuple[str | None, Any, dict | None]] | None = None
    responses_file: str | None = None
    raw_state: str = ""
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def done(self) -> bool:
        return self.state in TERMINAL_STATES


def _short_state(state: Any) -> str:
    text = str(getattr(state, "value", state) or "")
    for prefix in ("JOB_STATE_", "BATCH_STATE_"):
        text = text.removeprefix(prefix)
    return text or "UNSPECIFIED"


def request_json(contents: Sequence[types.Content], config: types.GenerateContentConfig) -> dict[str, Any]:
    """One ``GenerateContentRequest`` as the REST API takes it (a JSONL line's ``request``).

    The same camelCase and URL-safe base64 the SDK itself sends; the config's request-level fields
    (tools) go beside ``generationConfig``, and its transport options (timeout) are not sent."""
    dump: dict[str, Any] = {"mode": "json", "by_alias": True, "exclude_none": True}
    request: dict[str, Any] = {"contents": [c.model_dump(**dump) for c in contents]}
    generation = config.model_dump(**dump, exclude={"http_options", "tools"})
    if generation:
        request["generationConfig"] = generation
    if config.tools:
        request["tools"] = [t.model_dump(**dump) for t in config.tools]
    return request


def _status_error(status: dict[str, Any], job: str) -> ModelCallError:
    """The ModelCallError for one request's ``google.rpc.Status`` (classified as a unary call's)."""
    code = int(status.get("code") or 2)
    http, name = (code, str(status.get("status") or "")) if code >= 100 else _GRPC.get(code, (500, "UNKNOWN"))
    message = str(status.get("message") or "").strip()
    details = [d for d in status.get("details") or [] if isinstance(d, dict)]
    api = _StatusAsApiError(
        http, name, message, {"error": {"code": http, "status": name, "details": details}}
    )
    err = classify_api_error(api)
    err.message = f"in batch job {job}: {err.message}"
    # The job has run every request: one request's error says nothing about the others.
    err.fatal_for_run = False
    return err


def _answer_from_json(row: Any) -> tuple[str | None, Any, dict | None]:
    """``(key, response, error)`` of one answer as plain JSON (an inline answer or a results-file
    line): ``response`` is a ``GenerateContentResponse``, or a BAD_RESPONSE ModelCallError for one
    that does not fit the response model (that sketch fails, not the whole job)."""
    if not isinstance(row, dict):
        return (
            None,
            ModelCallError(ErrorCode.BAD_RESPONSE, "an answer is not a JSON object", retryable=True),
            None,
        )
    key = row.get("key") or (row.get("metadata") or {}).get("key")
    response, error = row.get("response"), row.get("error", row.get("status"))
    if response is None and error is None and "code" in row:  # a bare google.rpc.Status line
        error = row
    if response is not None:
        try:
            return key, types.GenerateContentResponse.model_validate(response), None
        except ValueError:
            bad = ModelCallError(
                ErrorCode.BAD_RESPONSE,
                "the answer for this sketch is not a valid response object",
                retryable=True,
            )
            return key, bad, None
    return key, None, error if isinstance(error, dict) else None


@dataclass
class _StatusAsApiError:
    """The fields of ``google.genai.errors.APIError`` that classification reads."""

    code: int
    status: str
    message: str
    details: dict[str, Any]
    response: Any = None


class GeminiBatchClient:
    """Batch jobs for one Gemini image model (see the module docstring)."""

    def __init__(
        self,
        adapter: NanoBananaAdapter,
        *,
        inline_limit_bytes: int = INLINE_LIMIT_BYTES,
        backoff: PollBackoff = PollBackoff(),
        sleep: Callable[[float], None] = time.sleep,
        timeout_s: float = 60.0,
    ) -> None:
        if getattr(adapter._client, "vertexai", False):
            # Vertex AI batch prediction reads from Cloud Storage or BigQuery, not inline or Files API
            # requests; the SDK would refuse the job only after the requests were built.
            raise ConfigError(
                "the Batch API path takes the Gemini API (GEMINI_API_KEY) only, not Vertex AI: unset "
                "GOOGLE_GENAI_USE_VERTEXAI for a batch run",
                field="model",
            )
        self.adapter = adapter
        self.entry = adapter.entry
        self.inline_limit_bytes = inline_limit_bytes
        self.backoff = backoff
        self.sleep = sleep
        self.timeout_s = timeout_s  # per poll; uploads, creates and downloads get five times it
        self._client = adapter._client

    def _http(self, timeout_s: float | None = None) -> dict[str, Any]:
        # The client has no timeout of its own (the adapter sets one per call): a poll must not
        # hang forever on a server that never answers.
        return {"http_options": {"timeout": int((timeout_s or self.timeout_s) * 1000)}}

    # ---- submitting ---------------------------------------------------------------------------
    def submit(self, requests: Sequence[tuple[str, ImageRequest]], *, display_name: str) -> SubmittedBatch:
        """Create one job for ``(key, request)`` pairs; raises :class:`BatchJobError` if refused."""
        if not requests:
            raise BatchJobError("a batch job needs at least one sketch", field="num_images")
        built = []
        for key, request in requests:
            contents, config, _warnings, _sent = self.adapter._prepare(request)  # the unary path's own
            built.append((key, contents, config))
        lines = [json.dumps({"key": key, "request": request_json(c, cfg)}) for key, c, cfg in built]
        size = sum(len(line) for line in lines)
        # Unique, so that a job whose create answer was lost can be found again (below).
        display_name = f"{display_name}-{uuid.uuid4().hex[:8]}"
        try:
            if size <= self.inline_limit_bytes * _INLINE_SHARE:
                src: Any = [
                    types.InlinedRequest(
                        contents=contents,
                        config=config.model_copy(update={"http_options": None}),
                        metadata={"key": key},
                    )
                    for key, contents, config in built
                ]
                source = "inline"
            else:
                source = src = self._upload(lines, display_name)
        except Exception as exc:
            raise self._job_error("could not upload the batch requests", exc) from None
        try:
            job = self._client.batches.create(
                model=self.entry.id,
                src=src,
                config={"display_name": display_name, **self._http(self.timeout_s * 5)},
            )
            name = str(job.name)
        except Exception as exc:
            # The job may exist although its answer was lost (a dropped connection, a timeout):
            # submitting again would pay twice, so look for it by its unique name first.
            err = classify_exception(exc)
            name = self._find(display_name) if err is not None and err.retryable else None
            if name is None:
                raise self._job_error("could not create the batch job", exc) from None
        return SubmittedBatch(name=name, source=source, request_bytes=size)

    def _find(self, display_name: str) -> str | None:
        """The name of the job called ``display_name``, or None (also when listing fails)."""
        try:
            for seen, job in enumerate(self._client.batches.list(config={"page_size": 100, **self._http()})):
                if job.display_name == display_name:
                    return str(job.name)
                if seen >= 500:  # newest first: a job made a moment ago is near the top
                    break
        except Exception:  # noqa: BLE001 - the create's own error is the one to report
            return None
        return None

    def _upload(self, lines: list[str], display_name: str) -> str:
        with tempfile.TemporaryDirectory(prefix="sketchgen-batch-") as tmp:
            path = Path(tmp) / "requests.jsonl"
            path.write_text("\n".join(lines) + "\n", encoding="utf-8")
            uploaded = self._client.files.upload(
                file=path,
                config={
                    "display_name": f"{display_name}-requests",
                    "mime_type": "jsonl",
                    **self._http(self.timeout_s * 5),
                },
            )
        return str(uploaded.name)

    def _job_error(self, what: str, exc: Exception) -> BatchJobError:
        err = classify_exception(exc)
        detail = err.message if err is not None else f"{type(exc).__name__}: {exc}"
        return BatchJobError(redact(f"{what}: {detail}"))

    # ---- polling ------------------------------------------------------------------------------
    def status(self, name: str) -> BatchJobStatus:
        """One poll (``batches.get``)."""
        try:
            job = self._client.batches.get(name=name, config=self._http())
        except Exception as exc:
            # The SDK's model or converter refused an answer it got (structured error details,
            # a response that is not a response object): read the job as JSON, one answer at a time.
            err = classify_exception(exc)
            if err is not None and err.code != ErrorCode.BAD_RESPONSE:
                raise  # an HTTP or transport failure of the poll itself
            return self._status_from_json(name)
        state = _short_state(job.state)
        answers = None
        dest = job.dest
        if (state in TERMINAL_STATES and dest is None) or state == "UNSPECIFIED":
            # The SDK reads the output from the operation's metadata only; a server may put it in
            # the operation's ``response`` alone (the usual long-running-operation shape). The SDK
            # also drops the operation's ``done`` and ``error``, which alone may say the job ended.
            return self._status_from_json(name)
        if dest is not None and dest.inlined_responses is not None:
            answers = [
                (
                    (r.metadata or {}).get("key"),
                    r.response,
                    r.error.model_dump(exclude_none=True) if r.error is not None else None,
                )
                for r in dest.inlined_responses
            ]
        return BatchJobStatus(
            name=name,
            state=state,
            answers=answers,
            responses_file=dest.file_name if dest is not None else None,
            raw_state=str(getattr(job.state, "value", job.state)),
        )

    def _status_from_json(self, name: str) -> BatchJobStatus:
        raw = self._client._api_client.request(  # the SDK's own transport
            "get", name, {}, types.HttpOptions(**self._http()["http_options"])
        )
        body = json.loads(raw.body or "{}")
        meta = body.get("metadata") or {}
        output = meta.get("output") or body.get("response") or {}
        inlined = (output.get("inlinedResponses") or {}).get("inlinedResponses")
        answers = [_answer_from_json(r) for r in inlined] if isinstance(inlined, list) else None
        state = _short_state(meta.get("state"))
        error = body.get("error") if isinstance(body.get("error"), dict) else None
        if state not in TERMINAL_STATES and body.get("done") is True:
            # A done operation has ended whatever its metadata says (google.longrunning): with an
            # ``error`` it failed, else its ``response`` holds the output.
            state = "FAILED" if error is not None else "SUCCEEDED"
        extra = {"error": redact(str(error.get("message") or "")).strip()} if error is not None else {}
        return BatchJobStatus(
            name=name,
            state=state,
            answers=answers,
            responses_file=output.get("responsesFile"),
            raw_state=str(meta.get("state") or ""),
            extra={k: v for k, v in extra.items() if v},
        )

    def wait(self, name: str, on_state: Callable[[BatchJobStatus], None] | None = None) -> BatchJobStatus:
        """Poll until the job ends; ``on_state`` sees every poll's status (and may raise to stop)."""
        failures = 0
        delays = self.backoff.delays()
        while True:
            try:
                status = self.status(name)
                failures = 0
            except Exception as exc:
                err = classify_exception(exc)
                failures += 1
                if err is None or not err.retryable or failures >= _TRANSIENT_POLL_FAILURES:
                    error = self._job_error(f"could not read batch job {name}", exc)
                    if err is not None and err.http_status == 404:  # deleted, or another project's
                        error = BatchJobGone(f"{error.message} (the job is gone at Google)")
                    raise error from None
                self.sleep(next(delays))
                continue
            if on_state is not None:
                on_state(status)
            if status.done:
                return status
            self.sleep(next(delays))

    def cancel(self, name: str) -> None:
        try:
            self._client.batches.cancel(name=name, config=self._http())
        except Exception as exc:
            raise self._job_error(f"could not cancel batch job {name}", exc) from None

    # ---- results ------------------------------------------------------------------------------
    def results(
        self, status: BatchJobStatus, requests: dict[str, ImageRequest]
    ) -> dict[str, ModelImage | ModelCallError]:
        """One outcome per key of ``requests`` for a finished job (see the module docstring)."""
        name = status.name
        if status.state != "SUCCEEDED" and not status.answers and not status.responses_file:
            return {key: self._ended_error(status) for key in requests}
        # A job that ended otherwise may still hold the answers it made (paid for): keep them.
        answers, inline = status.answers, status.answers is not None
        if answers is None and status.responses_file:
            answers = self._file_answers(status.responses_file, name)
        answers = answers or []
        keys = list(requests)
        # The key each answer carries is the match. Inline answers are documented to come in the
        # order of the requests, so one without its key is the request at its position; the lines
        # of a results file have no documented order, so a line without a key matches nothing.
        by_key = {k: (resp, err) for k, resp, err in answers if k in requests}
        if inline and len(answers) == len(keys):
            for key, (k, resp, err) in zip(keys, answers, strict=True):
                if k is None and key not in by_key:
                    by_key[key] = (resp, err)
        out: dict[str, ModelImage | ModelCallError] = {}
        for key, request in requests.items():
            if key not in by_key:
                out[key] = (
                    self._ended_error(status)
                    if status.state != "SUCCEEDED"
                    else ModelCallError(
                        ErrorCode.BAD_RESPONSE,
                        f"batch job {name} finished without an answer for this sketch",
                        retryable=True,
                    )
                )
                continue
            response, error = by_key[key]
            out[key] = self._outcome(name, request, response, error)
        return out

    def _outcome(self, name: str, request: ImageRequest, response: Any, error: dict | None):
        if isinstance(response, ModelCallError):  # an answer that is not a response object
            response.message = f"in batch job {name}: {response.message}"
            return response
        if error is not None or response is None:
            return _status_error(error or {"code": 2, "message": "no response and no error"}, name)
        try:
            image = parse_response(response, self.entry, request)
        except ModelCallError as err:
            err.message = f"in batch job {name}: {err.message}"
            err.cost_usd = round(err.cost_usd * self.entry.batch_price_factor, 6)
            return err
        standard = image.cost_usd
        image.cost_usd = round(standard * self.entry.batch_price_factor, 6)
        image.extra.update(
            batch_job=name,
            price="batch",
            standard_cost_usd=standard,
            batch_price_factor=self.entry.batch_price_factor,
        )
        return image

    def _file_answers(self, file_name: str, job: str) -> list[tuple[str | None, Any, dict | None]]:
        delays = self.backoff.delays()
        for attempt in range(1, 6):
            try:
                data = self._client.files.download(file=file_name, config=self._http(self.timeout_s * 5))
                break
            except Exception as exc:
                err = classify_exception(exc)
                if err is None or not err.retryable or attempt == 5:
                    raise self._job_error(f"could not download the results of batch job {job}", exc) from None
                self.sleep(next(delays))
        answers = []
        for line in data.decode("utf-8", errors="replace").splitlines():
            if not line.strip():
                continue
            try:
                row = json.loads(line)
            except ValueError:
                continue  # a broken line: its key gets "finished without an answer"
            answers.append(_answer_from_json(row))
        return answers

    def _ended_error(self, status: BatchJobStatus) -> ModelCallError:
        name = status.name
        if status.state == "EXPIRED":
            return ModelCallError(
                ErrorCode.BATCH_EXPIRED,
                f"batch job {name} expired before it made this sketch (the Batch API ends jobs not done "
                "within 48 hours; expired requests are not billed): run it again",
                retryable=True,
            )
        if status.state == "CANCELLED":
            return ModelCallError(ErrorCode.CANCELLED, f"batch job {name} was cancelled", retryable=True)
        why = f" ({status.extra['error']})" if status.extra.get("error") else ""
        return ModelCallError(
            ErrorCode.BATCH_FAILED,
            f"batch job {name} ended {status.raw_state or status.state} without an answer for this "
            f"sketch{why}",
            retryable=True,
        )
