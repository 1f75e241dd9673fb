"""Fixtures for the HTTP service tests.

* Environment: the suite-wide autouse fixture (tests/conftest.py) already removes real keys and
  points ``SKETCHGEN_OUTPUT_DIR`` at ``tmp_path``; ``output_dir`` exposes that folder.
* ``client``: an httpx client against the app in-process (JSON endpoints).
* ``fake_gemini``: the library's fake Gemini server, with its env applied so ``auto`` resolves to
  Nano Banana and every model call is real HTTP to 127.0.0.1.
* ``live_server``: the app under a real uvicorn on 127.0.0.1 (SSE and the browser need a socket).
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from api.main import create_app
from generate.testing import FakeGeminiServer
from tests.uvicorn_thread import UvicornThread

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


@pytest.fixture
def live_server(output_dir):
    """Factory: ``live_server(**create_app_kwargs)`` -> a started :class:`UvicornThread`."""
    servers: list[UvicornThread] = []

    def start(**kwargs) -> UvicornThread:
        kwargs.setdefault("output_dir", output_dir)
        server = UvicornThread(create_app(**kwargs), lifespan="off").__enter__()
        servers.append(server)
        return server

    yield start
    for server in servers:
        server.__exit__(None, None, None)
