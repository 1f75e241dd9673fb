"""sketchgen's HTTP service: FastAPI app, SSE run streams, and the web page.

``from api import create_app`` (or ``uvicorn api.main:app``); see :mod:`api.main`.
"""

from __future__ import annotations

__all__ = ["create_app"]


def __getattr__(name: str):
    # Lazy, so importing a submodule (api.schemas, api.files) does not build the module-level app.
    if name == "create_app":
        from api.main import create_app

        return create_app
    raise AttributeError(f"module 'api' has no attribute {name!r}")
