"""generate.tools: the agent tools as function declarations, from the MCP server's own models."""

from __future__ import annotations

import pytest
from google.genai import types as genai_types

from generate.tools import acall_tool, tool_definitions, tool_names
from mcp_server.schemas import TOOL_SPECS

EXPECTED = [
    "generate_sketches",
    "refine_sketch",
    "vary_sketch",
    "estimate_cost",
    "list_styles",
    "list_models",
    "get_run",
    "list_runs",
]


def test_every_flavor_declares_every_tool_with_the_servers_input_schema():
    assert tool_names() == EXPECTED
    by_spec = {spec.name: spec.input_schema() for spec in TOOL_SPECS}
    openai = tool_definitions("openai")
    assert [t["type"] for t in openai] == ["function"] * len(EXPECTED)
    assert {t["function"]["name"]: t["function"]["parameters"] for t in openai} == by_spec
    responses = tool_definitions("openai-responses")
    assert {t["name"]: t["parameters"] for t in responses} == by_spec
    mcp = tool_definitions("mcp")
    assert all(t["outputSchema"]["type"] == "object" for t in mcp)
    gen = next(t for t in openai if t["function"]["name"] == "generate_sketches")["function"]["parameters"]
    assert gen["required"] == ["brief"]
    assert set(gen["properties"]) == {
        "brief",
        "style_id",
        "num_images",
        "model",
        "aspect_ratio",
        "image_size",
        "seed",
        "max_cost_usd",
    }


def test_gemini_declarations_are_what_google_genai_accepts():
    decls = tool_definitions("gemini")
    tool = genai_types.Tool.model_validate({"functionDeclarations": decls})
    assert [d.name for d in tool.function_declarations] == EXPECTED
    assert tool.function_declarations[0].parameters_json_schema == TOOL_SPECS[0].input_schema()


def test_an_unknown_flavor_is_refused():
    with pytest.raises(ValueError, match="unknown flavor"):
        tool_definitions("anthropic-xml")


async def test_acall_tool_runs_a_call_and_returns_its_structured_result(tmp_path):
    out = tmp_path / "outputs"
    result = await acall_tool(
        "generate_sketches",
        {"brief": "playful golf mascot", "model": "trace", "num_images": 3},
        output_dir=out,
    )
    assert result["status"] == "complete" and len(result["sketches"]) == 3
    assert (out / result["run_id"] / "sketch_0.png").is_file()
    refused = await acall_tool("generate_sketches", {"brief": "golf", "num_images": 2}, output_dir=out)
    assert refused["error"]["code"] == "invalid_request" and refused["error"]["field"] == "num_images"
    assert (await acall_tool("draw_me", {}))["error"]["code"] == "invalid_request"


async def test_acall_tool_answers_as_the_mcp_server_does_errors_included(tmp_path, monkeypatch):
    from mcp.client import Client

    from mcp_server import SketchTools, create_server

    out = tmp_path / "outputs"
    calls = [
        ("generate_sketches", {"brief": "golf", "image_size": "8K"}),
        ("get_run", {"run_id": "19990101_000000"}),
        ("estimate_cost", {"brief": "golf", "model": "no-such-model"}),
        ("list_runs", {"since": "someday"}),
    ]
    async with Client(create_server(SketchTools(out))) as client:
        for name, args in calls:
            served = (await client.call_tool(name, args)).structured_content
            assert await acall_tool(name, args, output_dir=out) == served

    async def broken(self, args, progress):
        raise RuntimeError("the style folder is gone")

    monkeypatch.setattr(SketchTools, "list_styles", broken)
    result = await acall_tool("list_styles", {}, output_dir=out)  # an answer, not a raise
    assert result["error"]["code"] == "internal" and "RuntimeError" in result["error"]["message"]
