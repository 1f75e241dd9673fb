"""What a client picks from: ``GET /styles``, ``GET /styles/{id}``, ``GET /models``; and
``GET /healthz`` (the one endpoint that never needs the token)."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, HTTPException
from fastapi.concurrency import run_in_threadpool

from api.auth import require_token
from api.schemas import AUTH_RESPONSES, Health, ModelOut, StyleOut, not_found_responses
from api.state import ServiceState, get_state

__all__ = ["router", "health_router", "style_out"]

router = APIRouter(dependencies=[Depends(require_token)])
health_router = APIRouter(tags=["service"])


def style_out(style: Any) -> StyleOut:
    """A ``Style`` without its server-side paths (reference folders are counted, not shown)."""
    from style.registry import BUILTIN_STYLES_DIR

    source = getattr(style, "source", None)
    builtin = source is None or BUILTIN_STYLES_DIR in getattr(source, "parents", ())
    return StyleOut(
        id=style.id,
        name=style.name,
        description=style.description,
        visual_rules=list(style.visual_rules),
        negative_rules=list(style.negative_rules),
        aspect_ratio=style.aspect_ratio,
        num_images=style.num_images,
        layouts=list(style.layouts) if style.layouts else None,
        exaggeration=list(style.exaggeration) if style.exaggeration else None,
        keywords=list(style.keywords),
        builtin=builtin,
        reference_dirs=len(style.reference_dirs),
    )


@router.get(
    "/styles",
    tags=["styles"],
    summary="Every house style",
    response_model=list[StyleOut],
    responses=AUTH_RESPONSES,
)
async def list_styles(state: Annotated[ServiceState, Depends(get_state)]) -> list[StyleOut]:
    registry = state.get_registry()
    styles = await run_in_threadpool(registry.list_styles)
    return [style_out(s) for s in styles]


@router.get(
    "/styles/{style_id}",
    tags=["styles"],
    summary="One house style",
    response_model=StyleOut,
    responses=not_found_responses("style"),
)
async def get_style(style_id: str, state: Annotated[ServiceState, Depends(get_state)]) -> StyleOut:
    registry = state.get_registry()
    styles = await run_in_threadpool(registry.list_styles)
    for style in styles:
        if style.id == style_id:
            return style_out(style)
    raise HTTPException(404, f"no style {style_id!r}; known: {', '.join(s.id for s in styles)}")


@router.get(
    "/models",
    tags=["models"],
    summary="Selectable models",
    response_model=list[ModelOut],
    responses=AUTH_RESPONSES,
)
async def list_models() -> list[ModelOut]:
    from generate.models import list_models as library_list_models

    return [ModelOut(**entry) for entry in await run_in_threadpool(library_list_models)]


@health_router.get("/healthz", summary="Liveness (no token needed)", response_model=Health)
async def healthz(state: Annotated[ServiceState, Depends(get_state)]) -> Health:
    from importlib.metadata import PackageNotFoundError, version

    try:
        ver = version("sketchgen")
    except PackageNotFoundError:
        ver = "unknown"
    return Health(
        version=ver,
        runs_in_flight=state.slots.in_flight,
        max_runs=state.slots.limit,
        auth_required=bool(state.settings.api_token),
    )
