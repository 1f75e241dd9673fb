"""What the studio page manages runs with: ``DELETE /runs/{run_id}``, ``GET /runs/{run_id}/archive``,
``PUT /runs/{run_id}/favourite`` and ``GET /spend``.

Deleting and archiving follow the rules of :mod:`api.files`, tightened: the run folder must be a
real folder directly inside the outputs root (a symlinked run folder is "not there", never followed
to wherever it points), and an archive holds the run's regular files only (a symlink inside the
folder is left out, not followed).
"""

from __future__ import annotations

import os
import shutil
import stat
import uuid
import zipfile
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Annotated

from fastapi import APIRouter, Depends, HTTPException, Response
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import StreamingResponse
from pydantic import BaseModel, Field

from api.auth import require_token
from api.files import resolve_run_dir
from api.schemas import ErrorBody, not_found_responses
from api.state import ServiceState, get_state
from generate.run_lock import RunLock, RunLockedError

__all__ = ["router", "archive_members"]

router = APIRouter(tags=["runs"], dependencies=[Depends(require_token)])

_NOT_FOUND = not_found_responses("run")
TRASH_PREFIX = ".trash-"  # hidden, so no history reader takes it for a run while it is removed
_CHUNK = 256 * 1024


class Favourite(BaseModel):
    favourite: bool = Field(description="true stars the run, false unstars it.")


class Spend(BaseModel):
    today_usd: float = Field(description="Recorded cost of the runs started today (UTC day).")
    month_usd: float = Field(description="Recorded cost of the runs started this calendar month (UTC).")
    by_model: dict[str, float] = Field(description="This month's cost per model, highest first.")
    day: str = Field(description="Today (UTC), YYYY-MM-DD.")
    month: str = Field(description="This month (UTC), YYYY-MM.")


def _own_run_dir(root: Path, run_id: str) -> Path:
    """The run's folder if it is a real folder (not a symlink) directly inside ``root``; else 404."""
    folder = resolve_run_dir(root, run_id)
    if folder is None or (Path(root) / run_id).is_symlink():
        raise HTTPException(404, f"no run {run_id!r}")
    return folder


def _delete_run(root: Path, run_id: str) -> None:
    from generate.run_catalog import catalog_for

    folder = _own_run_dir(root, run_id)
    lock = RunLock(folder)
    try:
        # Held while the folder moves, so no resume can start writing into it meanwhile.
        lock.acquire()
    except RunLockedError:
        raise HTTPException(409, f"run {run_id} is running; stop it before deleting it") from None
    trash = folder.parent / f"{TRASH_PREFIX}{run_id}-{uuid.uuid4().hex[:8]}"
    try:
        # One rename: the run is there whole or gone whole, whatever happens to the rmtree after.
        os.rename(folder, trash)
        lock.folder = trash
    finally:
        lock.release()
    shutil.rmtree(trash, ignore_errors=True)
    catalog = catalog_for(root)
    if catalog is not None:
        catalog.forget(run_id)


@router.delete(
    "/runs/{run_id}",
    summary="Delete a run (its folder and catalog row)",
    status_code=204,
    response_class=Response,
    responses={**_NOT_FOUND, 409: {"model": ErrorBody, "description": "The run is being written"}},
)
async def delete_run(run_id: str, state: Annotated[ServiceState, Depends(get_state)]) -> Response:
    await run_in_threadpool(_delete_run, state.output_root(), run_id)
    return Response(status_code=204)


def archive_members(folder: Path) -> list[tuple[str, Path]]:
    """(name in the zip, path) of every regular file under ``folder``, symlinks neither followed nor
    included, hidden files (the lock, the favourite marker, temporary files) left out."""
    members: list[tuple[str, Path]] = []
    for here, dirs, files in os.walk(folder, followlinks=False):
        dirs[:] = sorted(
            d for d in dirs if not d.startswith(".") and not os.path.islink(os.path.join(here, d))
        )
        for name in sorted(files):
            path = Path(here) / name
            if name.startswith("."):
                continue
            try:
                mode = os.lstat(path).st_mode
            except OSError:
                continue
            if stat.S_ISREG(mode):
                members.append((path.relative_to(folder).as_posix(), path))
    return members


class _Pipe:
    """A write-only file for :class:`zipfile.ZipFile` whose bytes are taken out as they are written."""

    def __init__(self) -> None:
        self.chunks: list[bytes] = []
        self.offset = 0

    def write(self, data: bytes) -> int:
        self.chunks.append(bytes(data))
        self.offset += len(data)
        return len(data)

    def tell(self) -> int:
        return self.offset

    def flush(self) -> None:
        pass

    def take(self) -> bytes:
        out = b"".join(self.chunks)
        self.chunks.clear()
        return out


def _zip_stream(run_id: str, members: list[tuple[str, Path]]) -> Iterator[bytes]:
    pipe = _Pipe()
    with zipfile.ZipFile(pipe, "w", compression=zipfile.ZIP_DEFLATED, compresslevel=6) as archive:
        for name, path in members:
            try:
                # O_NOFOLLOW: a file swapped for a symlink since it was listed is not followed.
                fd = os.open(path, os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0))
            except OSError:
                continue
            with os.fdopen(fd, "rb") as source, archive.open(f"{run_id}/{name}", "w") as target:
                while chunk := source.read(_CHUNK):
                    target.write(chunk)
                    if pipe.chunks:
                        yield pipe.take()
            yield pipe.take()
    yield pipe.take()


@router.get(
    "/runs/{run_id}/archive",
    summary="The run's files as a zip (streamed)",
    response_class=StreamingResponse,
    responses={
        **_NOT_FOUND,
        200: {"description": "A zip of the run folder", "content": {"application/zip": {}}},
    },
)
async def get_archive(run_id: str, state: Annotated[ServiceState, Depends(get_state)]) -> StreamingResponse:
    folder = await run_in_threadpool(_own_run_dir, state.output_root(), run_id)
    members = await run_in_threadpool(archive_members, folder)
    return StreamingResponse(
        _zip_stream(run_id, members),
        media_type="application/zip",
        headers={
            "Content-Disposition": f'attachment; filename="sketchgen_{run_id}.zip"',
            "X-Content-Type-Options": "nosniff",
        },
    )


def _set_favourite(root: Path, run_id: str, favourite: bool) -> None:
    from generate.run_catalog import FAVOURITE_MARKER, catalog_for

    folder = _own_run_dir(root, run_id)
    catalog = catalog_for(root)
    if catalog is not None:
        catalog.set_favourite(run_id, favourite)
    elif favourite:  # no catalog (read-only outputs): the marker alone is the truth
        (folder / FAVOURITE_MARKER).touch()
    else:
        (folder / FAVOURITE_MARKER).unlink(missing_ok=True)


@router.put(
    "/runs/{run_id}/favourite",
    summary="Star or unstar a run",
    response_model=Favourite,
    responses=_NOT_FOUND,
)
async def put_favourite(
    run_id: str, body: Favourite, state: Annotated[ServiceState, Depends(get_state)]
) -> Favourite:
    await run_in_threadpool(_set_favourite, state.output_root(), run_id, body.favourite)
    return Favourite(favourite=body.favourite)


def _spend(root: Path, now: datetime) -> Spend:
    """Days and months are UTC days of billing, as ``sketchgen spend`` and the daily budget count
    them (a resume counts on the day it ran, the rest of a run on its start day)."""
    from generate.run_catalog import catalog_for, catalog_state

    now = now.astimezone(UTC)
    day = now.replace(hour=0, minute=0, second=0, microsecond=0)
    month = day.replace(day=1)
    next_month = (month + timedelta(days=32)).replace(day=1)
    catalog = catalog_for(root)
    if catalog is not None and (catalog_state(root) or {}).get("building"):
        catalog = None  # another process is rebuilding it: its rows are partial until it ends
    if catalog is not None:
        first, last = month.date().isoformat(), (next_month - timedelta(days=1)).date().isoformat()
        today = catalog.spend(day.date().isoformat(), day.date().isoformat())
        this_month = catalog.spend(first, last)
        by_model = catalog.spend_by_model(first, last)
    else:  # no catalog (read-only outputs): the library's own sums, from the folders
        from generate.spend import DailySpend, summarize_spend

        summary = summarize_spend(root, since=month.date(), by="model")
        this_month = summary["total_usd"]
        by_model = {g["key"]: g["cost_usd"] for g in summary["groups"] if g["cost_usd"]}
        today = DailySpend(root).today(now)
    return Spend(
        today_usd=round(today, 6),
        month_usd=round(this_month, 6),
        by_model={k: round(v, 6) for k, v in by_model.items()},
        day=day.strftime("%Y-%m-%d"),
        month=month.strftime("%Y-%m"),
    )


@router.get("/spend", tags=["spend"], summary="Recorded cost today and this month", response_model=Spend)
async def get_spend(state: Annotated[ServiceState, Depends(get_state)]) -> Spend:
    return await run_in_threadpool(_spend, state.output_root(), datetime.now(UTC))
