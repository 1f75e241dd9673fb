"""sketchgen as an MCP server, on the official SDK's low-level :class:`mcp.server.lowlevel.Server`.

The low-level server is used (not ``MCPServer``'s decorators) so that each tool's ``inputSchema``
and ``outputSchema`` are exactly the pydantic models of :mod:`mcp_server.schemas`, the ones
:mod:`generate.tools` exports for function calling: one source of truth.

A ``tools/call`` answers with:

* ``structuredContent``: the tool's output model (for a run: ids, statuses, per-sketch errors, cost);
* ``content``: one text block (a summary line, then the same JSON), the run's thumbnails as image
  blocks (size-capped, see :mod:`mcp_server.thumbnails`), and every run file as a ``resource_link``
  to ``sketchgen://runs/{run_id}/{file}`` (read with ``resources/read``);
* ``isError: true`` with ``structuredContent.error`` {code, message, retryable, field} for bad
  input, an unknown run, a cost above ``max_cost_usd``, or a run where no sketch could be made. An
  unexpected exception is an ``internal`` tool error too, never a crash of the server.

Progress: with a ``progressToken``, a ``notifications/progress`` as the run starts and as each sketch
settles. Cancellation: the SDK cancels the request's handler on ``notifications/cancelled``, which
cancels the run (pending model calls aborted, the run recorded ``cancelled``).
"""

from __future__ import annotations

import asyncio
import base64
import json
import logging
from pathlib import Path
from typing import Any

import mcp_types as types
from mcp.server.lowlevel import Server
from mcp.shared.exceptions import MCPError

from generate.redact import redact, redact_value
from mcp_server import schemas
from mcp_server.errors import internal_failure
from mcp_server.handlers import SketchTools, ToolFailure, ToolOutcome
from mcp_server.resources import (
    ResourceNotFound,
    read_run_file,
    recent_resources,
    resource_link,
    resource_templates,
)

__all__ = ["create_server", "SERVER_NAME"]

log = logging.getLogger("sketchgen.mcp")

SERVER_NAME = "sketchgen"
RESOURCE_NOT_FOUND = -32002  # the MCP specification's code for resources/read of an unknown URI

_INSTRUCTIONS = (
    "sketchgen turns a design brief and a house style into 3-6 grayscale concept sketches to draw "
    "over. Call list_styles and list_models to choose, estimate_cost before a paid run (or pass "
    "max_cost_usd), generate_sketches to make them, then refine_sketch / vary_sketch on the one you "
    "like. Results carry small thumbnails; the full files are sketchgen:// resources."
)


def _tool(spec: schemas.ToolSpec) -> types.Tool:
    return types.Tool(
        name=spec.name,
        title=spec.title,
        description=spec.description,
        input_schema=spec.input_schema(),
        output_schema=spec.output_schema(),
        annotations=types.ToolAnnotations(
            title=spec.title,
            read_only_hint=spec.read_only,
            destructive_hint=False,
            idempotent_hint=spec.read_only,
            open_world_hint=not spec.read_only,
        ),
    )


def _text(summary: str, data: dict[str, Any]) -> types.TextContent:
    return types.TextContent(type="text", text=f"{summary}\n{json.dumps(data, indent=1)}")


def _result(outcome: ToolOutcome, root: Path) -> types.CallToolResult:
    data = redact_value(outcome.data.model_dump(mode="json"))
    content: list[Any] = [_text(outcome.error.message if outcome.error else outcome.summary, data)]
    for thumb in outcome.thumbnails:
        content.append(
            types.ImageContent(
                type="image", data=base64.b64encode(thumb.data).decode("ascii"), mime_type=thumb.mime_type
            )
        )
    for run_id, name in outcome.links:
        content.append(resource_link(run_id, name, root))
    return types.CallToolResult(content=content, structured_content=data, is_error=outcome.error is not None)


def _error_result(error: schemas.ToolErrorOut) -> types.CallToolResult:
    data = {"error": redact_value(error.model_dump(mode="json"))}
    line = f"{error.code}: {error.message}"
    return types.CallToolResult(content=[_text(redact(line), data)], structured_content=data, is_error=True)


def _version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("sketchgen")
    except PackageNotFoundError:
        return "0"


def create_server(tools: SketchTools | None = None, *, output_dir: Path | str | None = None) -> Server:
    """The MCP server (not yet running). ``tools`` defaults to one over ``output_dir``
    (default: ``$SKETCHGEN_OUTPUT_DIR``, else ./generated_outputs)."""
    from generate.redact import install_log_redaction

    install_log_redaction()  # the SDK's and uvicorn's log lines too (idempotent)
    tools = tools or SketchTools(output_dir)

    async def list_tools(ctx, params) -> types.ListToolsResult:
        return types.ListToolsResult(tools=[_tool(spec) for spec in schemas.TOOL_SPECS])

    async def call_tool(ctx, params: types.CallToolRequestParams) -> types.CallToolResult:
        async def progress(done: float, total: float | None, message: str) -> None:
            await ctx.session.report_progress(done, total, message)

        if schemas.tool_spec(params.name) is None:  # a protocol error, as the specification has it
            raise MCPError(types.INVALID_PARAMS, f"unknown tool {params.name!r}: see tools/list")
        try:
            outcome = await tools.call(params.name, dict(params.arguments or {}), progress)
        except ToolFailure as exc:
            log.info("tool %s refused: %s: %s", params.name, exc.error.code, exc.error.message)
            return _error_result(exc.error)
        except Exception as exc:  # a bug of ours: the agent gets one line, the server goes on
            log.exception("tool %s failed unexpectedly", params.name)
            return _error_result(internal_failure(exc).error)
        return _result(outcome, tools.root)

    async def list_resources(ctx, params) -> types.ListResourcesResult:
        return types.ListResourcesResult(resources=await asyncio.to_thread(recent_resources, tools.root))

    async def list_templates(ctx, params) -> types.ListResourceTemplatesResult:
        return types.ListResourceTemplatesResult(resource_templates=resource_templates())

    async def read_resource(ctx, params: types.ReadResourceRequestParams) -> types.ReadResourceResult:
        try:
            return await asyncio.to_thread(read_run_file, str(params.uri), tools.root)
        except ResourceNotFound as exc:
            raise MCPError(RESOURCE_NOT_FOUND, str(exc.args[0]), {"uri": str(params.uri)}) from None

    return Server(
        SERVER_NAME,
        version=_version(),
        title="sketchgen",
        instructions=_INSTRUCTIONS,
        on_list_tools=list_tools,
        on_call_tool=call_tool,
        on_list_resources=list_resources,
        on_list_resource_templates=list_templates,
        on_read_resource=read_resource,
    )
