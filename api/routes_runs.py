"""Past runs: ``GET /runs``, ``GET /runs/{run_id}``, ``GET /runs/{run_id}/files/{name}``.

The run history is the output folder itself (``generate.runs``); the API adds URLs and paging and
serves files only through :mod:`api.files`, which refuses every path outside a run folder.
"""

from __future__ import annotations

import functools
from datetime import date, datetime, time
from typing import Annotated, Any

from fastapi import APIRouter, Depends, HTTPException, Query
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import FileResponse, Response

from api.auth import require_token
from api.files import (
    IMAGE_FORMATS,
    content_type_for,
    convert_image,
    list_run_files,
    resolve_run_dir,
    resolve_run_file,
)
from api.schemas import RunDetail, RunFile, RunList, RunSummary, not_found_responses
from api.sse import run_urls, without_server_paths
from api.state import ServiceState, get_state
from generate.errors import ConfigError

__all__ = ["router"]

router = APIRouter(tags=["runs"], dependencies=[Depends(require_token)])

_NOT_FOUND = not_found_responses("run or file")
_STATUSES = ("complete", "partial", "failed", "cancelled", "running", "interrupted")


def _bound(value: str | None, name: str, *, end: bool) -> datetime | None:
    """``YYYY-MM-DD`` means the whole day (``since`` from its first second, ``until`` to its last);
    an ISO 8601 time is exact (one with a UTC offset is converted to local time, as run ids are)."""
    if value is None or not value.strip():
        return None
    text = value.strip()
    try:
        if len(text) == 10:
            return datetime.combine(date.fromisoformat(text), time.max if end else time.min)
        moment = datetime.fromisoformat(text)
    except ValueError:
        raise ConfigError(
            f"{name} must be a date (YYYY-MM-DD) or an ISO 8601 time, got {text!r}", field=name
        ) from None
    return moment.astimezone().replace(tzinfo=None) if moment.tzinfo else moment


def _summary(raw: dict[str, Any]) -> RunSummary:
    run_id = str(raw.get("run_id") or "")
    urls = run_urls(run_id)
    images = [str(name) for name in raw.get("images") or [] if name]
    sheet = raw.get("contact_sheet")
    return RunSummary(
        **{k: v for k, v in raw.items() if k not in {"url", "image_urls", "contact_sheet_url"}},
        url=urls["run_url"],
        image_urls=[f"{urls['files_url']}/{_name(img)}" for img in images],
        contact_sheet_url=f"{urls['files_url']}/{_name(sheet)}" if sheet else None,
    )


def _name(value: Any) -> str:
    """Metadata may record a file as a name or a path; URLs only ever use the name."""
    return str(value).replace("\\", "/").rsplit("/", 1)[-1]


@router.get("/runs", summary="Past runs, newest first", response_model=RunList, responses=_NOT_FOUND)
async def list_runs(
    state: Annotated[ServiceState, Depends(get_state)],
    style: Annotated[str | None, Query(max_length=64, description="Only runs of this style id.")] = None,
    model: Annotated[str | None, Query(max_length=100, description="Only runs made by this model.")] = None,
    status: Annotated[
        str | None,
        Query(pattern="^(" + "|".join(_STATUSES) + ")$", description="Only runs with this status."),
    ] = None,
    since: Annotated[
        str | None, Query(max_length=40, description="From this date (YYYY-MM-DD) or time (ISO 8601).")
    ] = None,
    until: Annotated[
        str | None, Query(max_length=40, description="Up to this date (the whole day) or time (ISO 8601).")
    ] = None,
    q: Annotated[
        str | None,
        Query(max_length=200, description="Words the brief must contain (full-text; `golf*` is a prefix)."),
    ] = None,
    favourite: Annotated[
        bool | None, Query(description="Only starred (true) or unstarred (false) runs.")
    ] = None,
    sort: Annotated[
        str, Query(pattern="^(newest|oldest|cost)$", description="newest, oldest or cost.")
    ] = "newest",
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
    offset: Annotated[int, Query(ge=0, le=10_000_000)] = 0,
) -> RunList:
    from generate.run_catalog import fts_query
    from generate.runs import list_runs as library_list_runs

    lo, hi = _bound(since, "since", end=False), _bound(until, "until", end=True)
    if lo and hi and lo > hi:
        raise ConfigError("since must not be after until", field="since")
    if q is not None and q.strip():
        try:
            fts_query(q)  # the words the search will use: none (only "*" or control characters) is an error
        except ValueError:
            raise ConfigError("q must contain at least one word", field="q") from None
    # One more than asked tells whether there is a next page without counting every run.
    query = functools.partial(
        library_list_runs,
        style=style,
        model=model,
        status=status,
        since=lo,
        until=hi,
        text=q,
        favourite=favourite,
        sort=sort,
        limit=limit + 1,
        offset=offset,
        wait=False,
    )
    raws, after = await run_in_threadpool(_listed_with_catalog_state, state.output_root(), query)
    runs = [_summary(raw) for raw in raws[:limit]]
    return RunList(
        runs=runs,
        limit=limit,
        offset=offset,
        next_offset=offset + limit if len(raws) > limit else None,
        catalog=after,
    )


def _listed_with_catalog_state(root, query):
    """(the runs ``query`` lists under ``root``, the catalog's build state), on one worker thread: a
    build of the catalog from the folders is not waited for, so the list says it may be short.
    The state is asked before and after the query, so a build that starts or ends meanwhile is never
    missed. (One thread hop, not three: each hop cost milliseconds of GET /runs on a busy loop.)"""
    from generate.run_catalog import catalog_state

    before = catalog_state(root)
    raws = query(root)
    after = catalog_state(root)
    if after is not None and before is not None and before["building"] and not after["building"]:
        after = {"building": True, "indexed": before["indexed"]}  # the list was read before it ended
    return raws, after


def _detail(state: ServiceState, run_id: str) -> RunDetail:
    from generate.runs import load_run

    root = state.output_root()
    folder = resolve_run_dir(root, run_id)
    if folder is None:
        raise HTTPException(404, f"no run {run_id!r}")
    try:
        meta = load_run(run_id, root)
    except KeyError:
        raise HTTPException(404, f"no run {run_id!r}") from None
    files_url = run_urls(run_id)["files_url"]
    files = [
        RunFile(name=name, url=f"{files_url}/{name}", size=size, content_type=ctype)
        for name, size, ctype in list_run_files(folder)
    ]
    from generate.runs import run_children

    meta = without_server_paths({k: v for k, v in meta.items() if k not in ("files", "children")})
    meta["run_id"] = run_id
    children = [
        {
            "run_id": child["run_id"],
            "url": run_urls(child["run_id"])["run_url"],
            "kind": (child.get("parent") or {}).get("kind"),
            "index": (child.get("parent") or {}).get("index"),
            "instruction": (child.get("parent") or {}).get("instruction"),
            "status": child.get("status"),
        }
        for child in run_children(run_id, root)
    ]
    parent = meta.get("parent")
    if parent and parent.get("run_id"):
        meta["parent"] = {**parent, "url": run_urls(parent["run_id"])["run_url"]}
    from generate.run_catalog import FAVOURITE_MARKER

    meta["favourite"] = (folder / FAVOURITE_MARKER).exists()
    return RunDetail(**meta, files=files, children=children)


@router.get(
    "/runs/{run_id}",
    summary="A run's metadata.json and its files",
    response_model=RunDetail,
    responses=_NOT_FOUND,
)
async def get_run(run_id: str, state: Annotated[ServiceState, Depends(get_state)]) -> RunDetail:
    return await run_in_threadpool(_detail, state, run_id)


@router.get(
    "/runs/{run_id}/files/{name}",
    summary="One file of a run (sketch PNGs, contact sheet, metadata.json)",
    response_class=FileResponse,
    responses={
        **_NOT_FOUND,
        200: {
            "description": "The file, with its content type",
            "content": {"image/png": {}, "image/jpeg": {}, "image/webp": {}, "application/json": {}},
        },
    },
)
async def get_run_file(
    run_id: str,
    name: str,
    state: Annotated[ServiceState, Depends(get_state)],
    format: Annotated[
        str | None,
        Query(
            pattern="^(png|jpeg|webp)$",
            description="Convert an image to png, jpeg or webp and send it as a download.",
        ),
    ] = None,
):
    path = await run_in_threadpool(resolve_run_file, state.output_root(), run_id, name)
    if path is None:
        raise HTTPException(404, "no such file")
    if format is not None:
        return await _converted(path, format)
    return FileResponse(
        path,
        media_type=content_type_for(path),
        filename=path.name,
        content_disposition_type="inline",
        headers={"X-Content-Type-Options": "nosniff", "Cache-Control": "no-cache"},
    )


async def _converted(path, fmt: str) -> Response:
    """The image re-encoded (grayscale kept) as an attachment named after it: sketch_0.jpg."""
    data = await run_in_threadpool(convert_image, path, fmt)
    if data is None:
        raise ConfigError(f"{path.name} is not an image; format= applies to images only", field="format")
    _, suffix, media_type = IMAGE_FORMATS[fmt]
    return Response(
        data,
        media_type=media_type,
        headers={
            "Content-Disposition": f'attachment; filename="{path.stem}{suffix}"',
            "X-Content-Type-Options": "nosniff",
            "Cache-Control": "no-cache",
        },
    )
