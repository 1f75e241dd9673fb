"""``sketchgen mcp --http``: the streamable HTTP transport under uvicorn, driven by the SDK's client."""

from __future__ import annotations

import asyncio

import httpx
import httpx2
import pytest
from mcp import ClientSession
from mcp.client.streamable_http import streamable_http_client
from mcp.shared.exceptions import MCPError

from generate.runs import list_runs
from mcp_server.schemas import TOOL_SPECS, RunOut
from tests.mcp_server.helpers import eventually, start_half_hung_run

TOKEN = "mcp-test-token-0123456789abcdef"
_INIT = {
    "jsonrpc": "2.0",
    "id": 1,
    "method": "initialize",
    "params": {
        "protocolVersion": "2025-06-18",
        "capabilities": {},
        "clientInfo": {"name": "probe", "version": "0"},
    },
}
_HEADERS = {"Accept": "application/json, text/event-stream", "Content-Type": "application/json"}


def _session(url: str, token: str | None = None):
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    return httpx2.AsyncClient(headers=headers, timeout=httpx2.Timeout(60, read=120))


async def test_an_open_server_lists_tools_and_runs_with_progress(http_server, output_dir):
    progress = []

    async def on_progress(done, total, message):
        progress.append((done, total))

    with http_server() as server:
        async with (
            _session(server.url) as http,
            streamable_http_client(server.url, http_client=http) as (read, write),
            ClientSession(read, write) as session,
        ):
            await session.initialize()
            assert [t.name for t in (await session.list_tools()).tools] == [s.name for s in TOOL_SPECS]
            result = await session.call_tool(
                "generate_sketches",
                {"brief": "playful golf mascot", "model": "trace", "num_images": 3},
                progress_callback=on_progress,
            )
            assert not result.is_error, result.content[0].text
            run = RunOut.model_validate(result.structured_content)
            read_back = await session.read_resource(run.sketches[2].uri)
            assert read_back.contents[0].mime_type == "image/png"
    assert run.status == "complete"
    assert progress[-1] == (3, 3) and len(progress) == 4


async def test_the_bearer_token_is_required_when_set(http_server):
    with http_server(TOKEN) as server:
        async with httpx.AsyncClient(timeout=10) as raw:
            missing = await raw.post(server.url, json=_INIT, headers=_HEADERS)
            wrong = await raw.post(
                server.url, json=_INIT, headers={**_HEADERS, "Authorization": "Bearer not-the-token"}
            )
        for answer in (missing, wrong):
            assert answer.status_code == 401
            assert answer.headers["www-authenticate"] == "Bearer"
            assert TOKEN not in answer.text

        with pytest.raises(ExceptionGroup) as info:
            async with (
                _session(server.url, "not-the-token") as http,
                streamable_http_client(server.url, http_client=http) as (read, write),
                ClientSession(read, write) as session,
            ):
                await asyncio.wait_for(session.initialize(), 60)
        assert info.group_contains(MCPError)  # the SDK's error for the 401 answer

        async with (
            _session(server.url, TOKEN) as http,
            streamable_http_client(server.url, http_client=http) as (read, write),
            ClientSession(read, write) as session,
        ):
            await session.initialize()
            styles = await session.call_tool("list_styles", {})
            assert not styles.is_error
            assert TOKEN not in styles.content[0].text


async def test_cancelling_over_http_aborts_the_pending_model_calls(http_server, fake, output_dir):
    with http_server(TOKEN) as server:
        async with (
            _session(server.url, TOKEN) as http,
            streamable_http_client(server.url, http_client=http) as (read, write),
            ClientSession(read, write) as session,
        ):
            await session.initialize()
            call = await start_half_hung_run(session, fake)
            call.cancel()
            with pytest.raises(asyncio.CancelledError):
                await call
            assert await asyncio.to_thread(fake.wait_for, lambda f: f.aborted_count == 2)
            assert await eventually(lambda: [r["status"] for r in list_runs(output_dir)] == ["cancelled"])
    assert list_runs(output_dir)[0]["succeeded"] == 1


@pytest.mark.parametrize(
    ("configured", "sent", "status"),
    [
        (f"  {TOKEN}\n", TOKEN, 200),  # spaces around it in .env are no part of it, as for the service
        ("   ", None, 200),  # a blank token is no token: open, as the service is
        ("jeton-été-0123456789", "jeton-été-0123456789", 200),  # a UTF-8 token matches as sent
        ("jeton-été-0123456789", "jeton-ete-0123456789", 401),
        (TOKEN, f"bearer {TOKEN}", 200),  # the scheme is case-insensitive
    ],
)
async def test_the_token_is_read_as_the_http_service_reads_it(http_server, configured, sent, status):
    headers = dict(_HEADERS)
    if sent is not None:
        headers["Authorization"] = (sent if sent.startswith("bearer ") else f"Bearer {sent}").encode()
    with http_server(configured) as server:
        async with httpx.AsyncClient(timeout=10) as raw:
            answer = await raw.post(server.url, json=_INIT, headers=headers)
    assert answer.status_code == status, answer.text
