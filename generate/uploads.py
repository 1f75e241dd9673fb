"""Retention of the service's uploads (``<outputs>/uploads/<sha256>.<ext>``, see
:func:`generate.inputs.save_upload`): what may go, and how much may be kept.

* An upload is **referenced** while any run folder's ``metadata.json`` names it (a sketch's
  ``input_images`` or ``references``, an earlier turn, anything), or any batch's ``manifest.json``
  (its defaults, for rows not started yet): a resume, refine or vary sends it again, so it is never
  removed, however old. A run writes its metadata when it starts, so a
  running run counts too; the seconds between a request saving its upload and its run starting are
  covered by the age rule (saving touches the file, so a re-uploaded old image is young again) and
  by ``keep`` (the uploads requests being prepared hold). :meth:`generate.inputs.UploadClaims.sweep`
  reads the runs without holding up uploads, then removes under the lock its saves take, checking
  each file's age again, so an upload saved meanwhile is never removed under its request.
* :func:`sweep_uploads` removes the uploads that no run references, no request holds, and that
  were last saved more than ``SKETCHGEN_UPLOAD_RETENTION_HOURS`` ago (default 24). The service runs
  it at start, then every :func:`sweep_interval_s`, and before refusing an upload for space. The
  temp file of a write that never ended (its process died) goes once that old too.
* ``SKETCHGEN_UPLOADS_MAX_MB`` (default 1024) caps the folder's total size: an upload that would
  pass it is refused with :class:`UploadsFull` (the HTTP API answers 507, ``code: uploads_full``).
"""

from __future__ import annotations

import logging
import math
import os
import re
import time
from collections.abc import Collection
from pathlib import Path

from generate.batch_manifest import BATCHES_DIR
from generate.errors import ConfigError, SketchgenError
from generate.runs import RUN_ID_PATTERN

__all__ = [
    "UPLOADS_DIR",
    "DEFAULT_RETENTION_HOURS",
    "DEFAULT_MAX_MB",
    "UploadsFull",
    "retention_hours_from_env",
    "max_bytes_from_env",
    "sweep_interval_s",
    "referenced_uploads",
    "uploads_bytes",
    "expired_uploads",
    "remove_unused",
    "sweep_uploads",
]

log = logging.getLogger("sketchgen.uploads")

UPLOADS_DIR = "uploads"
DEFAULT_RETENTION_HOURS = 24.0
DEFAULT_MAX_MB = 1024
# An upload's name as save_upload gives it, wherever a metadata.json mentions it (any field, either slash).
_UPLOAD_NAME = re.compile(r"uploads(?:/|\\\\)([0-9a-f]{64}\.(?:png|jpg|jpeg|webp))")


class UploadsFull(SketchgenError):
    """Keeping one more upload would pass ``SKETCHGEN_UPLOADS_MAX_MB``; nothing was written."""

    code = "uploads_full"

    def __init__(self, used: int, adding: int, cap: int, *, field: str) -> None:
        super().__init__(
            f"the service's uploads are full ({used / 2**20:.1f} MiB kept, this image {adding / 2**20:.1f} MiB, "
            f"limit {cap / 2**20:.0f} MiB, SKETCHGEN_UPLOADS_MAX_MB); uploads no run uses are removed after "
            "SKETCHGEN_UPLOAD_RETENTION_HOURS: try again later, or send a smaller image",
            field=field,
        )


def _env_number(name: str, default: float) -> float:
    raw = os.environ.get(name, "").strip()
    if not raw:
        return default
    try:
        value = float(raw)
    except ValueError:
        raise ConfigError(f"{name} must be a number above 0, got {raw!r}", field=name) from None
    if not math.isfinite(value) or value <= 0:
        raise ConfigError(f"{name} must be a number above 0, got {raw!r}", field=name)
    return value


def retention_hours_from_env() -> float:
    """``SKETCHGEN_UPLOAD_RETENTION_HOURS``: hours an unreferenced upload is kept (default 24)."""
    return _env_number("SKETCHGEN_UPLOAD_RETENTION_HOURS", DEFAULT_RETENTION_HOURS)


def max_bytes_from_env() -> int:
    """``SKETCHGEN_UPLOADS_MAX_MB`` in bytes: the most the uploads folder may hold (default 1024 MiB).
    A cap past what any disk holds (``1e308``) is no cap, not an overflow at start."""
    return int(min(_env_number("SKETCHGEN_UPLOADS_MAX_MB", DEFAULT_MAX_MB) * 2**20, 2.0**62))


def sweep_interval_s(retention_hours: float) -> float:
    """How often the service sweeps: a quarter of the retention, between one minute and one hour,
    so an upload outlives its retention by at most a quarter of it."""
    return min(3600.0, max(60.0, retention_hours * 3600 / 4))


def referenced_uploads(root: Path | str) -> set[str]:
    """The names of the uploads that some run folder (or batch manifest) under ``root`` refers to.

    A run's names are read again only when its metadata.json changed (a finished run's never
    does), so a periodic sweep of a large history reads each run once per process."""
    names: set[str] = set()
    try:
        files = [p / "metadata.json" for p in Path(root).iterdir() if RUN_ID_PATTERN.match(p.name)]
    except OSError:
        return names
    try:  # a batch's manifest: its defaults' images, for the rows whose runs have not started yet
        batches = Path(root) / BATCHES_DIR
        files += [p / "manifest.json" for p in batches.iterdir() if RUN_ID_PATTERN.match(p.name)]
    except OSError:
        pass  # no batches
    for path in files:
        try:
            stat = path.stat()
            key = (stat.st_mtime_ns, stat.st_size)
            cached = _REFERENCES.get(path)
            if cached is None or cached[0] != key:
                text = path.read_text(encoding="utf-8", errors="replace")
                cached = _REFERENCES[path] = (key, frozenset(_UPLOAD_NAME.findall(text)))
        except OSError:
            continue  # a folder being created has no metadata yet; its upload is young
        names.update(cached[1])
    return names


_REFERENCES: dict[Path, tuple[tuple[int, int], frozenset[str]]] = {}


def _uploads(root: Path | str, *, temp: bool = False) -> list[os.DirEntry]:
    """The upload files (plain files, no links); with ``temp``, the temp files of writes too."""
    try:
        with os.scandir(Path(root) / UPLOADS_DIR) as entries:
            return [
                e
                for e in entries
                if e.is_file(follow_symlinks=False)
                and (not e.name.startswith(".") or temp and _TEMP.match(e.name))
            ]
    except OSError:
        return []


# The temp file of an upload's atomic write (generate.runs.atomic_write_bytes): one older than the
# retention is left by a process that died mid-write, and nothing else would ever remove it.
_TEMP = re.compile(r"^\.[0-9a-f]{64}\.(?:png|jpg|jpeg|webp)\.\d+\.\d+\.tmp$")


def uploads_bytes(root: Path | str) -> int:
    """What the uploads folder under ``root`` holds, in bytes (temp files of writes in flight excluded)."""
    total = 0
    for entry in _uploads(root):
        try:
            total += entry.stat(follow_symlinks=False).st_size
        except OSError:
            pass
    return total


def _expired(path: Path, cutoff: float) -> bool:
    try:
        return path.stat().st_mtime < cutoff
    except OSError:
        return False


def expired_uploads(root: Path | str, retention_hours: float, *, now: float | None = None) -> list[Path]:
    """The uploads under ``root`` last saved more than ``retention_hours`` ago (referenced or not),
    and the temp files that writes which never ended left as long ago."""
    cutoff = (time.time() if now is None else now) - retention_hours * 3600
    return [Path(e.path) for e in _uploads(root, temp=True) if _expired(Path(e.path), cutoff)]


def remove_unused(
    candidates: Collection[Path],
    used: Collection[str],
    retention_hours: float,
    *,
    keep: Collection[Path] = (),
    now: float | None = None,
) -> list[Path]:
    """Remove each of ``candidates`` that no run uses (``used``: names), is not in ``keep`` and is
    still expired (saved again since it was listed, it is young again); returns the removed paths."""
    cutoff = (time.time() if now is None else now) - retention_hours * 3600
    held = {Path(p).name for p in keep}
    removed = []
    for path in candidates:
        if path.name in used or path.name in held or not _expired(path, cutoff):
            continue
        try:
            path.unlink()
        except OSError as exc:
            log.warning("upload %s not removed: %s", path.name, exc)
            continue
        removed.append(path)
    if removed:
        log.info("removed %d upload(s) no run uses, older than %g h", len(removed), retention_hours)
    return removed


def sweep_uploads(
    root: Path | str, retention_hours: float, *, keep: Collection[Path] = (), now: float | None = None
) -> list[Path]:
    """Remove the uploads under ``root`` last saved more than ``retention_hours`` ago that no run
    references and that are not in ``keep``; returns the removed paths. Never raises."""
    old = expired_uploads(root, retention_hours, now=now)
    if not old:
        return []  # the common case: no run metadata to read
    return remove_unused(old, referenced_uploads(root), retention_hours, keep=keep, now=now)
