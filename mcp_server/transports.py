"""Serving the MCP server: stdio (what desktop MCP clients spawn) and streamable HTTP.

Over HTTP, with ``SKETCHGEN_API_TOKEN`` set, every request needs ``Authorization: Bearer <token>``
(compared in constant time, as the HTTP service does); a wrong or missing one is a 401 with
``WWW-Authenticate: Bearer`` before the MCP layer sees the request. Bound to 127.0.0.1 by default,
where the SDK's DNS-rebinding protection also checks the ``Host`` and ``Origin`` headers.
"""

from __future__ import annotations

import hmac
import json
import os
from pathlib import Path

from mcp.server.stdio import stdio_server

from mcp_server.handlers import SketchTools
from mcp_server.server import create_server

__all__ = ["serve_stdio", "http_app", "serve_http", "BearerTokenMiddleware", "MCP_PATH"]

MCP_PATH = "/mcp"


async def serve_stdio(output_dir: Path | str | None = None) -> None:
    """Serve one client on stdin/stdout until it closes them (nothing else may write to stdout)."""
    server = create_server(SketchTools(output_dir))
    async with stdio_server() as (read_stream, write_stream):
        await server.run(read_stream, write_stream, server.create_initialization_options())


class BearerTokenMiddleware:
    """Pure ASGI: HTTP requests without ``Authorization: Bearer <token>`` get a 401 (lifespan passes)."""

    def __init__(self, app, token: str) -> None:
        self.app = app
        self._expected = token.encode("utf-8")

    def _allowed(self, scope) -> bool:
        for key, value in scope.get("headers") or ():
            if key == b"authorization":  # compared as bytes: a UTF-8 token matches as sent
                scheme, _, given = value.partition(b" ")
                return scheme.lower() == b"bearer" and hmac.compare_digest(given.strip(), self._expected)
        return False

    async def __call__(self, scope, receive, send) -> None:
        if scope["type"] != "http" or self._allowed(scope):
            await self.app(scope, receive, send)
            return
        body = json.dumps(
            {"message": "missing or wrong API token: send 'Authorization: Bearer <SKETCHGEN_API_TOKEN>'"}
        ).encode()
        await send(
            {
                "type": "http.response.start",
                "status": 401,
                "headers": [
                    (b"content-type", b"application/json"),
                    (b"www-authenticate", b"Bearer"),
                    (b"content-length", str(len(body)).encode()),
                ],
            }
        )
        await send({"type": "http.response.body", "body": body})


def http_app(output_dir: Path | str | None = None, *, host: str = "127.0.0.1", token: str | None = None):
    """The ASGI app of the streamable HTTP transport at :data:`MCP_PATH`.

    ``token`` defaults to ``$SKETCHGEN_API_TOKEN``; empty means open (keep it on 127.0.0.1 then).
    """
    from generate.redact import register_secret

    server = create_server(SketchTools(output_dir))
    app = server.streamable_http_app(streamable_http_path=MCP_PATH, host=host)
    # Stripped, as the HTTP service reads it: spaces around it in .env are no part of it, and a
    # blank one means open there and here alike.
    token = (token if token is not None else os.environ.get("SKETCHGEN_API_TOKEN", "")).strip()
    if token:
        register_secret(token)
        app.add_middleware(BearerTokenMiddleware, token=token)
    return app


def serve_http(
    output_dir: Path | str | None = None, *, host: str = "127.0.0.1", port: int = 8765, sockets=None
) -> None:
    """Serve the streamable HTTP transport with uvicorn until interrupted."""
    import uvicorn

    app = http_app(output_dir, host=host)
    config = uvicorn.Config(app, host=host, port=port, log_level="warning")
    uvicorn.Server(config).run(sockets=sockets)
