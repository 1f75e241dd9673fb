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
from tests.mcp_server.helpers import eventually, start_half_hung_run

pytestmark = pytest.mark.slow

TOKEN = "mcp-disconnect-token-0123456789"


def _http():
    return httpx2.AsyncClient(
        headers={"Authorization": f"Bearer {TOKEN}"}, timeout=httpx2.Timeout(60, read=120)
    )


@pytest.mark.parametrize("terminate", [True, False], ids=["session-closed", "connection-dropped"])
async def test_a_client_gone_mid_run_cancels_it_and_the_next_client_is_served(
    http_server, fake, output_dir, terminate
):
    with http_server(TOKEN) as server:
        with contextlib.suppress(Exception, asyncio.CancelledError):
            async with (
                _http() as http,
                streamable_http_client(server.url, http_client=http, terminate_on_close=terminate) as (r, w),
                ClientSession(r, w) as session,
            ):
                await session.initialize()
                call = await start_half_hung_run(session, fake)
                assert not call.done()
                raise RuntimeError("client gone")  # leaves the session mid-call
        if terminate:
            assert await asyncio.to_thread(fake.wait_for, lambda f: f.aborted_count == 2)
            assert await eventually(lambda: [r["status"] for r in list_runs(output_dir)] == ["cancelled"])

        async with (
            _http() as http,
            streamable_http_client(server.url, http_client=http) as (r, w),
            ClientSession(r, w) as session,
        ):
            await session.initialize()
            assert not (await session.call_tool("list_styles", {})).is_error
