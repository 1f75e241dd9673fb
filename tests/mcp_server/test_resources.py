"""``resources/read`` of anything but a plain file of a run is a clean "not found"; the list is bounded."""

from __future__ import annotations

import json
import shutil

import pytest
from mcp.shared.exceptions import MCPError

from mcp_server.resources import RECENT_RUNS

RESOURCE_NOT_FOUND = -32002


async def _run_id(client) -> str:
    result = await client.call_tool(
        "generate_sketches", {"brief": "golf mascot", "model": "trace", "num_images": 3}
    )
    assert not result.is_error, result.content[0].text
    return result.structured_content["run_id"]


async def test_traversal_odd_names_and_unknown_runs_are_not_found_never_an_internal_error(
    connect, output_dir
):
    async with connect() as client:
        run_id = await _run_id(client)
        (output_dir.parent / "secret.txt").write_text("not yours")
        base = f"sketchgen://runs/{run_id}/"
        for uri in (
            base + "..",
            base + "%2e%2e",
            base + "%2E%2E",
            base + "..%2fsecret.txt",
            base + "%2e%2e%2f..%2fsecret.txt",
            base + "..%5C..%5Csecret.txt",
            base + "..\\..\\secret.txt",
            base + "%2Fetc%2Fpasswd",
            base + "\x00",
            base + "sketch_0.png%00.txt",
            base + "a" * 5000,
            "sketchgen://runs/%2e%2e/secret.txt",
            "sketchgen://runs/" + "9" * 5000 + "/metadata.json",
            "sketchgen://runs/19990101_000000/metadata.json",
            "sketchgen://runs/../../etc/passwd",
            "file:///etc/passwd",
        ):
            with pytest.raises(MCPError) as info:
                await client.read_resource(uri)
            assert info.value.code == RESOURCE_NOT_FOUND, (uri[:60], info.value.code, str(info.value))
            assert len(str(info.value)) < 300 and "not yours" not in str(info.value)
        assert not (await client.call_tool("list_styles", {})).is_error  # still serving


async def test_a_percent_encoded_name_reads_the_same_file(connect):
    async with connect() as client:
        run_id = await _run_id(client)
        plain = await client.read_resource(f"sketchgen://runs/{run_id}/sketch_0.png")
        encoded = await client.read_resource(f"sketchgen://runs/{run_id}/sketch_0%2Epng")
        assert encoded.contents[0].blob == plain.contents[0].blob


async def test_resources_list_stays_bounded_with_many_runs(connect, output_dir):
    async with connect() as client:
        first = await _run_id(client)
        meta = json.loads((output_dir / first / "metadata.json").read_text())
        for n in range(RECENT_RUNS + 15):  # older runs, as another process wrote them
            folder = output_dir / f"20200101_{n:06d}"
            shutil.copytree(output_dir / first, folder)
            (folder / "metadata.json").write_text(json.dumps({**meta, "run_id": folder.name}))
        resources = (await client.list_resources()).resources
        runs = {str(r.uri).split("/")[3] for r in resources}
        assert len(runs) == RECENT_RUNS and first in runs  # the newest runs
        assert len(resources) <= RECENT_RUNS * 8
