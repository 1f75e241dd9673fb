"""Calling the app at the ASGI level, for what an HTTP client cannot do: send a path exactly as
written (no normalisation of ``..``), or stop reading a response while keeping the connection."""

from __future__ import annotations

import asyncio
from urllib.parse import unquote


def http_scope(method: str, raw_path: str, *, headers: tuple[tuple[bytes, bytes], ...] = ()) -> dict:
    """The scope uvicorn builds for one request: ``path`` percent-decoded, nothing normalised."""
    return {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": method,
        "scheme": "http",
        "path": unquote(raw_path),
        "raw_path": raw_path.encode(),
        "root_path": "",
        "query_string": b"",
        "headers": [(b"host", b"sketchgen"), *headers],
        "client": ("127.0.0.1", 50000),
        "server": ("127.0.0.1", 80),
    }


def receive_once(body: bytes = b""):
    """An ASGI ``receive``: the request body once, then a connection that never closes."""
    sent = False

    async def receive() -> dict:
        nonlocal sent
        if not sent:
            sent = True
            return {"type": "http.request", "body": body, "more_body": False}
        await asyncio.Event().wait()

    return receive
