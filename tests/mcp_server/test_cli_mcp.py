"""``sketchgen mcp --http`` as a user starts it: a real process, a real port."""

from __future__ import annotations

import asyncio
import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import httpx2
import pytest
from mcp import ClientSession
from mcp.client.streamable_http import streamable_http_client

REPO = Path(__file__).resolve().parents[2]
pytestmark = pytest.mark.slow


def _sketchgen() -> list[str]:
    script = Path(sys.executable).with_name("sketchgen")
    if script.is_file():
        return [str(script)]
    return [sys.executable, "-c", "import sys; from cli.main import main; sys.exit(main())"]


def _env(tmp_path, **extra) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("GEMINI", "GOOGLE"))}
    return {**env, "PYTHONPATH": str(REPO), "SKETCHGEN_OUTPUT_DIR": str(tmp_path / "out"), **extra}


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_a_busy_port_is_one_line_and_exit_2(tmp_path):
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        done = subprocess.run(
            [*_sketchgen(), "mcp", "--http", "--port", str(port)],
            env=_env(tmp_path),
            capture_output=True,
            text=True,
            timeout=120,
        )
    assert done.returncode == 2
    assert done.stderr.startswith("error:") and len(done.stderr.strip().splitlines()) == 1


def _start(tmp_path, port: int, token: str) -> subprocess.Popen:
    """``sketchgen mcp --http`` started, once it answers on ``port`` (blocking: call in a thread)."""
    proc = subprocess.Popen(
        [*_sketchgen(), "mcp", "--http", "--port", str(port)],
        env=_env(tmp_path, SKETCHGEN_API_TOKEN=token),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    deadline = time.monotonic() + 90
    while True:
        try:
            httpx.post(f"http://127.0.0.1:{port}/mcp", json={}, timeout=2)
            return proc
        except httpx.TransportError:
            if proc.poll() is not None or time.monotonic() > deadline:
                proc.kill()
                raise RuntimeError(f"sketchgen mcp --http did not start: {proc.communicate()[1]}") from None
            time.sleep(0.2)


def _stop(proc: subprocess.Popen) -> str:
    proc.terminate()
    return proc.communicate(timeout=30)[1]


async def test_sketchgen_mcp_http_serves_with_the_token(tmp_path):
    token = "cli-mcp-token-0123456789"
    for attempt in range(3):  # a free port is only free when picked: another process may take it
        port = _free_port()
        try:
            proc = await asyncio.to_thread(_start, tmp_path, port, token)
            break
        except RuntimeError:
            if attempt == 2:
                raise
    url = f"http://127.0.0.1:{port}/mcp"
    try:
        async with httpx.AsyncClient(timeout=10) as raw:
            assert (await raw.post(url, json={})).status_code == 401
        headers = {"Authorization": f"Bearer {token}"}
        async with (
            httpx2.AsyncClient(headers=headers, timeout=60) as http,
            streamable_http_client(url, http_client=http) as (read, write),
            ClientSession(read, write) as session,
        ):
            await session.initialize()
            models = await session.call_tool("list_models", {})
            assert not models.is_error
            assert "trace" in {m["id"] for m in models.structured_content["models"]}
    finally:
        err = await asyncio.to_thread(_stop, proc)
    assert f"http://127.0.0.1:{port}/mcp (bearer token required)" in err
    assert token not in err
