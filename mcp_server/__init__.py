"""sketchgen as an MCP server: the tools of :mod:`mcp_server.schemas` over stdio or streamable HTTP.

``sketchgen mcp`` serves stdio; ``sketchgen mcp --http`` the streamable HTTP transport. Named
``mcp_server`` so as not to shadow the SDK's own ``mcp`` package. The names below are imported on
first use, so that ``mcp_server.schemas`` (what :mod:`generate.tools` reads) does not load the SDK.
"""

from __future__ import annotations

import importlib
from typing import Any

__all__ = [
    "SketchTools",
    "ToolFailure",
    "ToolOutcome",
    "create_server",
    "http_app",
    "serve_http",
    "serve_stdio",
    "MCP_PATH",
]

_HOMES = {
    "SketchTools": "mcp_server.handlers",
    "ToolFailure": "mcp_server.handlers",
    "ToolOutcome": "mcp_server.handlers",
    "create_server": "mcp_server.server",
    "http_app": "mcp_server.transports",
    "serve_http": "mcp_server.transports",
    "serve_stdio": "mcp_server.transports",
    "MCP_PATH": "mcp_server.transports",
}


def __getattr__(name: str) -> Any:
    if name not in _HOMES:
        raise AttributeError(f"module 'mcp_server' has no attribute {name!r}")
    return getattr(importlib.import_module(_HOMES[name]), name)
