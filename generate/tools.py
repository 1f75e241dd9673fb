"""sketchgen's agent tools as function declarations, for agents that call functions but not MCP.

The declarations come from the same pydantic models the MCP server publishes
(:mod:`mcp_server.schemas`), so a tool's parameters are the same everywhere::

    from generate.tools import tool_definitions, acall_tool

    tools = tool_definitions("openai")   # [{"type": "function", "function": {...}}, ...]
    tools = tool_definitions("gemini")   # [{"name", "description", "parametersJsonSchema"}, ...]
    result = await acall_tool("generate_sketches", {"brief": "playful golf mascot", "model": "trace"})

Flavours:

* ``"openai"``: Chat Completions ``tools`` entries, ``{"type": "function", "function": {name,
  description, parameters}}``;
* ``"openai-responses"``: Responses API entries, ``{"type": "function", name, description,
  parameters, "strict": false}``;
* ``"gemini"``: ``FunctionDeclaration`` dicts (``parametersJsonSchema`` carries the JSON schema);
  wrap them as ``{"functionDeclarations": [...]}`` in a request's ``tools``;
* ``"mcp"``: MCP ``Tool`` dicts with ``inputSchema`` and ``outputSchema``, as ``tools/list`` lists them.

:func:`acall_tool` runs one call and returns its structured result (the output model as a dict), or
``{"error": {code, message, retryable, field}}`` when the tool refused or failed (an unexpected
exception included: code ``internal``, as the MCP server answers), and beside the run when no sketch
could be made.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any, Literal

__all__ = ["tool_definitions", "tool_names", "acall_tool", "Flavor"]

log = logging.getLogger("sketchgen.mcp")  # the MCP server's: the same tools, the same redaction

Flavor = Literal["openai", "openai-responses", "gemini", "mcp"]


def _specs():
    from mcp_server.schemas import TOOL_SPECS

    return TOOL_SPECS


def tool_names() -> list[str]:
    return [spec.name for spec in _specs()]


def tool_definitions(flavor: Flavor = "openai") -> list[dict[str, Any]]:
    """Every tool as ``flavor``'s function declaration (fresh dicts: the caller may change them)."""
    out: list[dict[str, Any]] = []
    for spec in _specs():
        params = spec.input_schema()
        if flavor == "openai":
            out.append(
                {
                    "type": "function",
                    "function": {"name": spec.name, "description": spec.description, "parameters": params},
                }
            )
        elif flavor == "openai-responses":
            out.append(
                {
                    "type": "function",
                    "name": spec.name,
                    "description": spec.description,
                    "parameters": params,
                    "strict": False,  # strict mode wants every field required; ours have defaults
                }
            )
        elif flavor == "gemini":
            out.append({"name": spec.name, "description": spec.description, "parametersJsonSchema": params})
        elif flavor == "mcp":
            out.append(
                {
                    "name": spec.name,
                    "title": spec.title,
                    "description": spec.description,
                    "inputSchema": params,
                    "outputSchema": spec.output_schema(),
                }
            )
        else:
            raise ValueError(f"unknown flavor {flavor!r}: use openai, openai-responses, gemini or mcp")
    return out


async def acall_tool(
    name: str, arguments: dict[str, Any] | None = None, *, output_dir: Path | str | None = None
) -> dict[str, Any]:
    """Run one tool call as the MCP server would, and return its structured result (JSON-ready).

    Thumbnails are left out (they are MCP image content); sketch files are named by their
    ``sketchgen://runs/{run_id}/{file}`` URIs, found under ``output_dir`` (default as for runs).
    """
    from generate.redact import redact_value
    from mcp_server.errors import internal_failure
    from mcp_server.handlers import SketchTools, ToolFailure

    try:
        outcome = await SketchTools(output_dir).call(name, arguments)
    except ToolFailure as exc:
        return {"error": exc.error.model_dump(mode="json")}
    except Exception as exc:  # as the MCP server answers: an ``internal`` error, not a raise
        log.exception("tool %s failed unexpectedly", name)
        return {"error": internal_failure(exc).error.model_dump(mode="json")}
    return redact_value(outcome.data.model_dump(mode="json"))
