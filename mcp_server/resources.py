"""Run files as MCP resources: ``sketchgen://runs/{run_id}/{file}``.

Only files directly inside a run folder are readable, by the same rule as the HTTP service's
``GET /runs/{run_id}/files/{name}``: :func:`generate.runs.run_dir` and :func:`generate.runs.run_file`
resolve symlinks and refuse anything that leads outside the output root.
"""

from __future__ import annotations

import base64
import mimetypes
import re
from pathlib import Path
from typing import Any
from urllib.parse import unquote

import mcp_types as types

from generate.runs import list_runs, run_dir, run_file

__all__ = [
    "URI_TEMPLATE",
    "file_uri",
    "parse_uri",
    "read_run_file",
    "resource_templates",
    "recent_resources",
    "resource_link",
    "ResourceNotFound",
    "mime_type",
    "run_files",
]

URI_TEMPLATE = "sketchgen://runs/{run_id}/{file}"
_URI = re.compile(r"^sketchgen://runs/(?P<run_id>[^/]+)/(?P<file>[^/]+)$")
RECENT_RUNS = 20  # resources/list shows the files of this many newest runs; any run is readable
MAX_NAME_CHARS = 255  # a file name longer than this is on no file system
_SHOWN_CHARS = 80  # how much of a bad URI an error message repeats


class ResourceNotFound(KeyError):
    """No such run, or no such file directly in it."""


def file_uri(run_id: str, name: str) -> str:
    return f"sketchgen://runs/{run_id}/{name}"


def _shown(text: str) -> str:
    return repr(text if len(text) <= _SHOWN_CHARS else text[:_SHOWN_CHARS] + "...")


def parse_uri(uri: str) -> tuple[str, str]:
    """``(run_id, file)`` of a run file URI, percent-decoded (``%2e`` is ``.``, as in any URI).

    ResourceNotFound for anything else, a decoded part naming no plain file name included
    (``..``, a ``/`` or ``\\`` in it, a NUL, over :data:`MAX_NAME_CHARS`)."""
    m = _URI.match(str(uri))
    if not m:
        raise ResourceNotFound(f"not a sketchgen run file: {_shown(str(uri))} (expected {URI_TEMPLATE})")
    run_id, name = unquote(m.group("run_id")), unquote(m.group("file"))
    for part in (run_id, name):
        if part in (".", "..") or len(part) > MAX_NAME_CHARS or any(c in part for c in "/\\\0"):
            raise ResourceNotFound(f"not a run file name: {_shown(part)} (expected {URI_TEMPLATE})")
    return run_id, name


def mime_type(name: str) -> str:
    return mimetypes.guess_type(name)[0] or "application/octet-stream"


def _locate(run_id: str, name: str, root: Path | str | None) -> Path:
    try:
        folder = run_dir(run_id, root)
    except KeyError:
        raise ResourceNotFound(f"no run {_shown(run_id)} (see the list_runs tool)") from None
    path = run_file(folder, name)
    if path is None:
        raise ResourceNotFound(f"run {run_id!r} has no file {_shown(name)} (see the get_run tool)")
    return path


def read_run_file(uri: str, root: Path | str | None = None) -> types.ReadResourceResult:
    """The resource's contents (text for JSON, base64 blob otherwise); ResourceNotFound if absent."""
    run_id, name = parse_uri(uri)
    path = _locate(run_id, name, root)
    try:
        data = path.read_bytes()
    except OSError:  # removed or made unreadable since it was found
        raise ResourceNotFound(f"run {run_id!r} has no readable file {_shown(name)}") from None
    mime = mime_type(name)
    if mime == "application/json" or mime.startswith("text/"):
        content: Any = types.TextResourceContents(uri=uri, mime_type=mime, text=data.decode("utf-8"))
    else:
        content = types.BlobResourceContents(uri=uri, mime_type=mime, blob=base64.b64encode(data).decode())
    return types.ReadResourceResult(contents=[content])


def resource_link(run_id: str, name: str, root: Path | str | None = None, *, description: str | None = None):
    """A ``resource_link`` content block for one run file (its size when the file is there)."""
    size = None
    try:
        size = _locate(run_id, name, root).stat().st_size
    except (ResourceNotFound, OSError):
        pass
    return types.ResourceLink(
        uri=file_uri(run_id, name), name=name, mime_type=mime_type(name), size=size, description=description
    )


def resource_templates() -> list[types.ResourceTemplate]:
    return [
        types.ResourceTemplate(
            uri_template=URI_TEMPLATE,
            name="run-file",
            title="A file of a sketchgen run",
            description="A sketch (sketch_N.png), the run's metadata.json or its contact_sheet.png.",
        )
    ]


def run_files(run_id: str, root: Path | str | None = None) -> list[Path]:
    """The regular files directly in the run folder (name order); ResourceNotFound for an unknown run."""
    try:
        folder = run_dir(run_id, root)
    except KeyError:
        raise ResourceNotFound(f"no run {run_id!r}") from None
    out = []
    for entry in sorted(folder.iterdir()):
        path = run_file(folder, entry.name)
        if path is not None and not entry.name.startswith("."):
            out.append(path)
    return out


def recent_resources(root: Path | str | None = None) -> list[types.Resource]:
    """The files of the newest runs (blocking: reads the output folder)."""
    out: list[types.Resource] = []
    for summary in list_runs(root, limit=RECENT_RUNS):
        run_id = summary["run_id"]
        try:
            files = run_files(run_id, root)
        except ResourceNotFound:
            continue
        for path in files:
            out.append(
                types.Resource(
                    uri=file_uri(run_id, path.name),
                    name=f"{run_id}/{path.name}",
                    mime_type=mime_type(path.name),
                    size=path.stat().st_size,
                )
            )
    return out
