"""``sketchgen mcp`` over stdio, driven by the SDK's own ClientSession (a real subprocess)."""

from __future__ import annotations

import asyncio
import base64
import contextlib
import json

import pytest
from mcp.shared.exceptions import MCPError

from generate.runs import list_runs, load_run
from generate.testing import Behavior
from mcp_server.schemas import TOOL_SPECS, RunOut
from tests.mcp_server.helpers import eventually, start_half_hung_run

pytestmark = pytest.mark.slow


async def test_tools_listed_with_schemas_and_a_trace_run_with_progress_images_and_links(
    stdio_session, output_dir
):
    async with stdio_session() as session:
        listed = {t.name: t for t in (await session.list_tools()).tools}
        assert list(listed) == [spec.name for spec in TOOL_SPECS]
        for spec in TOOL_SPECS:
            assert listed[spec.name].input_schema == spec.input_schema()
            assert listed[spec.name].output_schema == spec.output_schema()

        progress: list[tuple[float, float | None, str | None]] = []

        async def on_progress(done, total, message):
            progress.append((done, total, message))

        result = await session.call_tool(
            "generate_sketches",
            {"brief": "playful golf mascot", "model": "trace", "num_images": 3, "seed": 7},
            progress_callback=on_progress,
        )
        assert not result.is_error, result.content[0].text
        run = RunOut.model_validate(result.structured_content)
        assert run.status == "complete" and run.model == "trace" and run.succeeded == 3

        # One notification as the run starts, one as each sketch settles, counting up to 3 of 3.
        assert [p[:2] for p in progress] == [(0, 3), (1, 3), (2, 3), (3, 3)]
        assert all(p[2] for p in progress)

        images = [c for c in result.content if c.type == "image"]
        assert len(images) == 3 and run.thumbnails.count == 3
        assert sum(len(base64.b64decode(i.data)) for i in images) <= 6 * 30_000
        links = {c.uri: c for c in result.content if c.type == "resource_link"}
        assert f"sketchgen://runs/{run.run_id}/metadata.json" in links
        first = run.sketches[0]
        assert first.uri in links and links[first.uri].mime_type == "image/png"

        # The full file, read back as a resource, is the file on disk.
        read = await session.read_resource(first.uri)
        blob = base64.b64decode(read.contents[0].blob)
        assert blob == (output_dir / run.run_id / first.file).read_bytes()
        meta = await session.read_resource(run.metadata_uri)
        assert json.loads(meta.contents[0].text)["run_id"] == run.run_id


async def test_bad_input_is_a_tool_error_and_the_server_goes_on(stdio_session):
    async with stdio_session() as session:
        result = await session.call_tool("generate_sketches", {"brief": "golf mascot", "num_images": 9})
        assert result.is_error
        error = result.structured_content["error"]
        assert error["code"] == "invalid_request" and error["field"] == "num_images"
        assert "between 3 and 6" in error["message"]
        unknown = await session.call_tool("get_run", {"run_id": "19990101_000000"})
        assert unknown.is_error and unknown.structured_content["error"]["code"] == "not_found"
        with pytest.raises(MCPError) as info:  # an unknown tool is a protocol error (invalid params)
            await session.call_tool("draw_me_a_sheep", {})
        assert info.value.code == -32602
        assert len((await session.list_tools()).tools) == len(TOOL_SPECS)


async def test_a_blocked_image_is_a_typed_tool_error(stdio_session, fake, output_dir):
    fake.set_default(Behavior.image_safety())
    async with stdio_session(fake.env()) as session:
        result = await session.call_tool(
            "generate_sketches", {"brief": "golf mascot", "model": "nano-banana", "num_images": 3}
        )
    assert result.is_error
    data = result.structured_content
    assert data["error"]["code"] == "blocked_output"
    assert "rephrase the brief" in data["error"]["message"]
    assert [s["error"]["code"] for s in data["sketches"]] == ["blocked_output"] * 3
    assert load_run(data["run_id"], output_dir)["status"] == "failed"
    assert "test-key" not in result.content[0].text


async def test_cancelling_the_call_aborts_the_pending_model_calls_and_records_the_run_cancelled(
    stdio_session, fake, output_dir
):
    async with stdio_session(fake.env()) as session:
        call = await start_half_hung_run(session, fake)
        assert await asyncio.to_thread(fake.wait_for_requests, 3)
        call.cancel()  # the SDK client sends notifications/cancelled for the request
        with pytest.raises(asyncio.CancelledError):
            await call
        # The two hanging calls are aborted upstream, not left to finish and bill.
        assert await asyncio.to_thread(fake.wait_for, lambda f: f.aborted_count == 2)
        assert await eventually(lambda: [r["status"] for r in list_runs(output_dir)] == ["cancelled"])
        # The server is still there for the next call.
        assert not (await session.call_tool("list_styles", {})).is_error
    run = list_runs(output_dir)[0]
    assert run["succeeded"] == 1 and run["cancelled"] == 2


async def test_a_client_that_exits_mid_run_leaves_it_recorded_cancelled(stdio_session, fake, output_dir):
    with contextlib.suppress(Exception):
        async with stdio_session(fake.env()) as session:
            await start_half_hung_run(session, fake)
            raise RuntimeError("the client exits")  # closes the server's stdin mid-call
    assert await eventually(lambda: fake.aborted_count == 2)
    assert await eventually(lambda: [r["status"] for r in list_runs(output_dir)] == ["cancelled"])
