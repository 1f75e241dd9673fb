"""A client that goes away mid-run over HTTP.

Closing its session (the SDK client's DELETE as it exits) cancels the run: the pending model calls
are aborted and the run is recorded ``cancelled``. A dropped connection alone is not a cancellation
(the MCP specification: "disconnection SHOULD NOT be interpreted as the client cancelling its
request"), so that run goes on to its end; either way the server serves the next client.
"""

from __future__ import annotations

import asyncio
import contextlib

import httpx2
import pytest
from mcp import ClientSession
from mcp.client.streamable_http import streamable_http_client

from generate.runs import list_runs
from generate.testing import Behavior

pytestmark = pytest.mark.slow

TOKEN = "mcp-disconnect-token-0123456789"


def _http():
    return httpx2.AsyncClient(headers={"Authorization": f"Bearer {TOKEN}"}, timeout=httpx2.Timeout(60, read=120))


async def _status(output_dir, want: str, within_s: float = 20.0) -> str | None:
    for _ in range(int(within_s / 0.05)):
        runs = await asyncio.to_thread(list_runs, output_dir)
        if runs and runs[0]["status"] == want:
            return want
        await asyncio.sleep(0.05)
    return runs[0]["status"] if runs else None


@pytest.mark.parametrize("terminate", [True, False], ids=["session-closed", "connection-dropped"])
async def test_a_client_gone_mid_run_cancels_it_and_the_next_client_is_served(
    http_server, fake, output_dir, terminate
):
    fake.script(Behavior.ok(), match="Sketch 1 of 3")
    fake.set_default(Behavior.hang(60))
    settled = asyncio.Event()

    async def on_progress(done, total, message):
        if done >= 1:
            settled.set()

    with http_server(TOKEN) as server:
        with contextlib.suppress(Exception, asyncio.CancelledError):
            async with (
                _http() as http,
                streamable_http_client(server.url, http_client=http, terminate_on_close=terminate) as (r, w),
                ClientSession(r, w) as session,
            ):
                await session.initialize()
                call = asyncio.create_task(
                    session.call_tool(
                        "generate_sketches",
                        {"brief": "golf mascot", "model": "nano-banana", "num_images": 3},
                        progress_callback=on_progress,
                    )
                )
                await asyncio.wait_for(settled.wait(), 30)
                assert not call.done()
                raise RuntimeError("client gone")  # leaves the session mid-call
        if terminate:
            assert await asyncio.to_thread(fake.wait_for, lambda f: f.aborted_count == 2, 20)
            assert await _status(output_dir, "cancelled") == "cancelled"

        async with (
            _http() as http,
            streamable_http_client(server.url, http_client=http) as (r, w),
            ClientSession(r, w) as session,
        ):
            await session.initialize()
            assert not (await session.call_tool("list_styles", {})).is_error
