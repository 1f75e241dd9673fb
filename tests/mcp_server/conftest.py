"""Fixtures for the MCP server tests: the SDK's own clients against ``sketchgen mcp``.

* ``output_dir``: the run folder root (the suite-wide fixture already points SKETCHGEN_OUTPUT_DIR there).
* ``fake``: the library's fake Gemini server, its env applied in this process (for in-process servers).
* ``stdio_session(env)``: spawns ``sketchgen mcp`` with ``env`` and yields an initialised ClientSession.
* ``http_server(token)``: ``sketchgen mcp --http``'s app under uvicorn on a free 127.0.0.1 port.
* ``connect()``: the SDK's ``Client`` connected in-process to the same server (the quick path for
  checking every tool's answers; the transports have their own tests).
"""

from __future__ import annotations

import contextlib
import sys
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest
from mcp import ClientSession
from mcp.client import Client
from mcp.client.stdio import StdioServerParameters, stdio_client

from generate.testing import FakeGeminiServer
from mcp_server import SketchTools, create_server, http_app
from tests.uvicorn_thread import UvicornThread

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture
def output_dir(tmp_path) -> Path:
    path = tmp_path / "outputs"
    path.mkdir(exist_ok=True)
    return path


@pytest.fixture
def fake(monkeypatch) -> Iterator[FakeGeminiServer]:
    with FakeGeminiServer(latency=0.05) as server:
        for name, value in server.env().items():
            monkeypatch.setenv(name, value)
        yield server


def _command() -> list[str]:
    script = Path(sys.executable).with_name("sketchgen")
    if script.is_file():
        return [str(script), "mcp"]
    return [sys.executable, "-c", "import sys; from cli.main import main; sys.exit(main())", "mcp"]


@pytest.fixture
def stdio_session(output_dir, tmp_path):
    """``async with stdio_session(extra_env) as session`` over a real ``sketchgen mcp`` process."""

    @contextlib.asynccontextmanager
    async def connect(extra_env: dict[str, str] | None = None) -> AsyncIterator[ClientSession]:
        command, *args = _command()
        env = {
            "PYTHONPATH": str(REPO),
            "SKETCHGEN_OUTPUT_DIR": str(output_dir),
            "SKETCHGEN_INDEX_DIR": str(tmp_path / "index"),
            "HF_HUB_OFFLINE": "1",
            **(extra_env or {}),
        }
        params = StdioServerParameters(command=command, args=args, env=env, cwd=str(tmp_path))
        with (tmp_path / "server-stderr.txt").open("w") as errlog:
            async with stdio_client(params, errlog=errlog) as (read, write):
                async with ClientSession(read, write) as session:
                    await session.initialize()
                    yield session

    return connect


@pytest.fixture
def http_server(output_dir, monkeypatch):
    """``with http_server(token) as server``: ``server.url`` is the MCP endpoint."""

    def start(token: str | None = None) -> UvicornThread:
        if token is not None:
            monkeypatch.setenv("SKETCHGEN_API_TOKEN", token)
        return UvicornThread(
            http_app(output_dir), path="/mcp"
        )  # lifespan on: the SDK's session manager starts there

    return start


@pytest.fixture
def connect(output_dir):
    """``async with connect() as client``: entered in the test's own task, as anyio's task groups
    inside the client need (an async fixture would enter and leave it in different tasks)."""
    return lambda: Client(create_server(SketchTools(output_dir)))
