"""The request-body cap, as plain ASGI middleware (no ``BaseHTTPMiddleware``: it breaks disconnect
detection for streams, see :mod:`api.main`).

Two limits, both answered ``413`` with the service's JSON error body (``{"message", "field",
"detail"}``, ``field: "body"``):

* ``multipart/form-data`` bodies (uploads) may be up to ``SKETCHGEN_MAX_BODY_BYTES`` (default
  25 MiB: room for a few reference images);
* every other body (the JSON of a run request is well under 1 KiB) up to
  :data:`MAX_JSON_BODY_BYTES` (64 KiB), or ``SKETCHGEN_MAX_BODY_BYTES`` if that is smaller. Keeping
  JSON small is also what keeps its parsing and validation short on the event loop: the largest
  body that reaches pydantic takes milliseconds, not seconds.

A declared ``Content-Length`` over the limit is refused before a byte is read. A body sent without
one (chunked) is counted as it arrives and refused the moment it passes the limit, so no more than
the limit is ever buffered.
"""

from __future__ import annotations

import json

from fastapi import HTTPException
from starlette.datastructures import Headers
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from api.state import DEFAULT_MAX_BODY_BYTES

__all__ = ["BodySizeLimit", "BodyTooLarge", "DEFAULT_MAX_BODY_BYTES", "MAX_JSON_BODY_BYTES"]

MAX_JSON_BODY_BYTES = 64 * 1024


class BodyTooLarge(HTTPException):
    """Raised from ``receive`` when a body passes its limit. A FastAPI ``HTTPException``, so the
    route's body reader passes it on to the app's handler (413 with the JSON error body)."""

    def __init__(self, limit: int) -> None:
        super().__init__(413, f"the request body is larger than the {_size(limit)} this endpoint accepts")
        self.limit = limit


def _size(n: int) -> str:
    if n >= 1024 * 1024 and n % (1024 * 1024) == 0:
        return f"{n // (1024 * 1024)} MiB"
    if n >= 1024 and n % 1024 == 0:
        return f"{n // 1024} KiB"
    return f"{n} bytes"


class BodySizeLimit:
    """ASGI middleware: ``app.add_middleware(BodySizeLimit, max_body_bytes=...)``."""

    def __init__(self, app: ASGIApp, max_body_bytes: int = DEFAULT_MAX_BODY_BYTES) -> None:
        self.app = app
        self.max_body_bytes = max_body_bytes
        self.max_json_bytes = min(MAX_JSON_BODY_BYTES, max_body_bytes)

    def limit_for(self, headers: Headers) -> int:
        ctype = headers.get("content-type", "").split(";", 1)[0].strip().lower()
        return self.max_body_bytes if ctype == "multipart/form-data" else self.max_json_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = Headers(scope=scope)
        limit = self.limit_for(headers)
        declared = headers.get("content-length")
        if declared is not None and declared.strip().isdigit() and int(declared) > limit:
            await _send_413(send, limit)
            return

        received = 0

        async def limited_receive() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > limit:
                    raise BodyTooLarge(limit)
            return message

        started = False

        async def tracking_send(message: Message) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
            await send(message)

        try:
            await self.app(scope, limited_receive, tracking_send)
        except BodyTooLarge:
            # Read outside a route's body parsing (the route's own handler answers those): answer
            # here, unless a response is already on its way.
            if started:
                raise
            await _send_413(send, limit)


async def _send_413(send: Send, limit: int) -> None:
    message = BodyTooLarge(limit).detail
    body = json.dumps({"message": message, "field": "body", "detail": message}).encode("utf-8")
    await send(
        {
            "type": "http.response.start",
            "status": 413,
            "headers": [
                (b"content-type", b"application/json"),
                (b"content-length", str(len(body)).encode("ascii")),
                (b"connection", b"close"),
            ],
        }
    )
    await send({"type": "http.response.body", "body": body})
