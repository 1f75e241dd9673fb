"""Safe lookup of a run's files for ``GET /runs/{run_id}/files/{name}``.

A request may only ever reach a regular file that lies *directly* in one run folder under the output
root. Every way out is closed, in layers (any one would suffice for most attacks; together they also
cover the odd ones):

1. ``run_id`` must be a run id (``YYYYMMDD_HHMMSS[_N]``) and ``name`` a plain file name
   (letters, digits, ``._-``; no leading dot, no separators, no ``%``, no NUL). The router already
   refuses ``/`` in a path parameter, including ``%2F`` (the server decodes it before routing), and
   ``%252F`` arrives as a literal ``%`` that step 1 refuses.
2. The run folder, resolved (symlinks followed), must be a child of the resolved output root.
3. The file, resolved, must sit directly in that resolved run folder and be a regular file, so a
   symlink inside the run folder that points anywhere else is refused.

Anything refused is indistinguishable from "not there": 404, without saying why.
"""

from __future__ import annotations

import mimetypes
import re
from pathlib import Path

from generate.runs import run_dir, run_file

__all__ = ["resolve_run_dir", "resolve_run_file", "content_type_for", "list_run_files"]

_FILE_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,127}$")
_TYPES = {
    ".png": "image/png",
    ".jpg": "image/jpeg",
    ".jpeg": "image/jpeg",
    ".webp": "image/webp",
    ".json": "application/json",
    ".txt": "text/plain; charset=utf-8",
}


def resolve_run_dir(root: Path, run_id: str) -> Path | None:
    """The resolved run folder, or None if ``run_id`` is malformed, unknown, or escapes ``root``
    (the library's rule, :func:`generate.runs.run_dir`, which every reader of a run shares)."""
    try:
        return run_dir(run_id, root)
    except KeyError:
        return None


def resolve_run_file(root: Path, run_id: str, name: str) -> Path | None:
    """The resolved file, or None for anything unknown, malformed or outside its run folder."""
    if not _FILE_NAME.match(name or "") or ".." in name:
        return None
    folder = resolve_run_dir(root, run_id)
    if folder is None:
        return None
    return run_file(folder, name)


def content_type_for(path: Path) -> str:
    known = _TYPES.get(path.suffix.lower())
    if known:
        return known
    guessed, _ = mimetypes.guess_type(path.name)
    return guessed or "application/octet-stream"


def list_run_files(folder: Path) -> list[tuple[str, int, str]]:
    """(name, size, content type) of the servable files of a resolved run folder, sorted by name.
    Temporary files (leading dot) and anything not resolving inside the folder are left out."""
    out: list[tuple[str, int, str]] = []
    for entry in sorted(folder.iterdir(), key=lambda p: p.name):
        if not _FILE_NAME.match(entry.name):
            continue
        target = run_file(folder, entry.name)
        if target is None:
            continue
        out.append((entry.name, target.stat().st_size, content_type_for(target)))
    return out
