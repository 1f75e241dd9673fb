"""Request-body limits, as plain ASGI middleware (no ``BaseHTTPMiddleware``: it breaks disconnect
detection for streams, see :mod:`api.main`).

* Size: a body may be up to ``SKETCHGEN_MAX_BODY_BYTES`` (default 32 MiB: a run request is well
  under 1 KiB, and an upload of a 20 MiB image as base64 is about 27 MiB). A declared
  ``Content-Length`` over the limit is refused before a byte is read; a body sent without one
  (chunked) is counted as it arrives and refused the moment it passes the limit, so no more than the
  limit is ever held. Answered ``413`` with the service's JSON error body, ``field: "body"``.
* Shape: a JSON body with more than :data:`MAX_JSON_FIELDS` separators (``,`` and ``:``; base64
  has neither) is answered ``422`` before it is parsed. Parsing and validating JSON holds the event
  loop (and the GIL, so a worker thread would not help); what makes it slow is the number of keys
  and items, not the size of a few long strings. Counting bytes is C-speed (about 10 ms for 32 MiB)
  and a real request has a few dozen fields, so the most pydantic ever sees takes milliseconds:
  ``/healthz`` and the other runs' streams never stall behind one hostile body.
"""

from __future__ import annotations

import json

from starlette.datastructures import Headers
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from api.state import DEFAULT_MAX_BODY_BYTES

__all__ = ["BodySizeLimit", "MAX_JSON_FIELDS", "too_large"]

MAX_JSON_FIELDS = 5000


def too_large(limit: int) -> str:
    """The 413 message for a body over ``limit`` bytes."""
    return f"the request body is larger than the {_size(limit)} this service accepts"


def _size(n: int) -> str:
    if n >= 1024 * 1024 and n % (1024 * 1024) == 0:
        return f"{n // (1024 * 1024)} MiB"
    if n >= 1024 and n % 1024 == 0:
        return f"{n // 1024} KiB"
    return f"{n} bytes"


def _is_json(headers: Headers) -> bool:
    ctype = headers.get("content-type", "").split(";", 1)[0].strip().lower()
    return ctype in ("", "application/json") or ctype.endswith("+json")


class BodySizeLimit:
    """ASGI middleware: ``app.add_middleware(BodySizeLimit, max_body_bytes=...)``.

    The body is read here (never more than the limit), checked, and handed to the app as one
    message; later ``receive`` calls go to the server, so disconnects are seen as before."""

    def __init__(self, app: ASGIApp, max_body_bytes: int = DEFAULT_MAX_BODY_BYTES) -> None:
        self.app = app
        self.max_body_bytes = max_body_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = Headers(scope=scope)
        limit = self.max_body_bytes
        declared = headers.get("content-length")
        if declared is not None and declared.strip().isdigit() and int(declared) > limit:
            await _send_error(send, 413, too_large(limit))
            return

        chunks: list[bytes] = []
        received = 0
        while True:
            message = await receive()
            if message["type"] != "http.request":  # the client left before sending its body
                await self.app(scope, _replay([], message, receive), send)
                return
            chunk = message.get("body", b"")
            received += len(chunk)
            if received > limit:
                await _send_error(send, 413, too_large(limit))
                return
            chunks.append(chunk)
            if not message.get("more_body", False):
                break
        body = b"".join(chunks)

        if received and _is_json(headers):
            fields = body.count(b",") + body.count(b":")
            if fields > MAX_JSON_FIELDS:
                await _send_error(
                    send,
                    422,
                    f"body: too many fields ({fields:,} separators; a request has a few dozen, "
                    f"at most {MAX_JSON_FIELDS:,} are read)",
                )
                return
        first = {"type": "http.request", "body": body, "more_body": False}
        await self.app(scope, _replay([first], None, receive), send)


def _replay(messages: list[Message], last: Message | None, receive: Receive) -> Receive:
    queue = list(messages) + ([last] if last is not None else [])

    async def replayed() -> Message:
        if queue:
            return queue.pop(0)
        return await receive()

    return replayed


async def _send_error(send: Send, status: int, message: str) -> None:
    body = json.dumps({"message": message, "field": "body", "detail": message}).encode("utf-8")
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [
                (b"content-type", b"application/json"),
                (b"content-length", str(len(body)).encode("ascii")),
                (b"connection", b"close"),
            ],
        }
    )
    await send({"type": "http.response.body", "body": body})
