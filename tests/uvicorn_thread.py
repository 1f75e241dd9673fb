"""A real uvicorn serving an ASGI app from a background thread, on a free 127.0.0.1 port (for the
tests that need a socket: SSE, the browser, the MCP HTTP transport)."""

from __future__ import annotations

import socket
import threading
import time
from typing import Any, Literal

import uvicorn

_START_S = 60.0  # generous: a loaded CI machine can take seconds to start a thread's server


class UvicornThread:
    """``with UvicornThread(app) as server``: ``server.url`` (``base`` + ``path``) serves ``app``
    until the block ends. ``lifespan="off"`` skips the app's startup and shutdown events."""

    def __init__(self, app: Any, *, path: str = "", lifespan: Literal["auto", "on", "off"] = "auto") -> None:
        self.app = app
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(("127.0.0.1", 0))
        self._sock = sock
        self.port = sock.getsockname()[1]
        self.url = f"http://127.0.0.1:{self.port}{path}"
        config = uvicorn.Config(app, log_level="warning", lifespan=lifespan, timeout_graceful_shutdown=2)
        self.server = uvicorn.Server(config)
        self._thread = threading.Thread(target=self.server.run, kwargs={"sockets": [sock]}, daemon=True)

    def __enter__(self) -> UvicornThread:
        self._thread.start()
        deadline = time.monotonic() + _START_S
        while not self.server.started:
            if time.monotonic() > deadline or not self._thread.is_alive():
                raise RuntimeError("uvicorn did not start")
            time.sleep(0.02)
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.should_exit = True
        self._thread.join(timeout=10)
        self._sock.close()
