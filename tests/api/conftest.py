"""Fixtures for the HTTP service tests.

* Environment: the suite-wide autouse fixture (tests/conftest.py) already removes real keys and
  points ``SKETCHGEN_OUTPUT_DIR`` at ``tmp_path``; ``output_dir`` exposes that folder.
* ``client``: an httpx client against the app in-process (JSON endpoints).
* ``fake_gemini``: the library's fake Gemini server, with its env applied so ``auto`` resolves to
  Nano Banana and every model call is real HTTP to 127.0.0.1.
* ``live_server``: the app under a real uvicorn on 127.0.0.1 (SSE and the browser need a socket).
"""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
import uvicorn

from api.main import create_app
from generate.testing import FakeGeminiServer

FAST_MODEL = "nano-banana"


@pytest.fixture
def output_dir(tmp_path) -> Path:
    path = tmp_path / "outputs"
    path.mkdir(exist_ok=True)
    return path


@pytest.fixture
def fake_gemini(monkeypatch) -> Iterator[FakeGeminiServer]:
    with FakeGeminiServer(latency=0.05) as fake:
        for name, value in fake.env().items():
            monkeypatch.setenv(name, value)
        yield fake


@pytest.fixture
def app(output_dir):
    return create_app(output_dir=output_dir)


@pytest.fixture
async def client(app):
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://sketchgen") as c:
        yield c


class LiveServer:
    """uvicorn serving ``app`` from a background thread on a free 127.0.0.1 port."""

    def __init__(self, app) -> None:
        self.app = app
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(("127.0.0.1", 0))
        self._sock = sock
        self.port = sock.getsockname()[1]
        self.url = f"http://127.0.0.1:{self.port}"
        config = uvicorn.Config(app, log_level="warning", lifespan="off", timeout_graceful_shutdown=2)
        self.server = uvicorn.Server(config)
        self._thread = threading.Thread(target=self.server.run, kwargs={"sockets": [sock]}, daemon=True)

    def __enter__(self) -> LiveServer:
        self._thread.start()
        deadline = time.monotonic() + 15
        while not self.server.started:
            if time.monotonic() > deadline or not self._thread.is_alive():
                raise RuntimeError("uvicorn did not start")
            time.sleep(0.02)
        return self

    def __exit__(self, *exc) -> None:
        self.server.should_exit = True
        self._thread.join(timeout=10)
        self._sock.close()


@pytest.fixture
def live_server(output_dir):
    """Factory: ``live_server(**create_app_kwargs)`` -> a started :class:`LiveServer`."""
    servers: list[LiveServer] = []

    def start(**kwargs) -> LiveServer:
        kwargs.setdefault("output_dir", output_dir)
        server = LiveServer(create_app(**kwargs)).__enter__()
        servers.append(server)
        return server

    yield start
    for server in servers:
        server.__exit__(None, None, None)
