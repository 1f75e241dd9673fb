"""The designer's own images (``--image``, ``--ref``, uploads): checked before any call.

:func:`check_image_bytes` is the one gate every user-supplied image passes: the type is sniffed
from the bytes (never the file name), the size is capped, and the pixel count is checked against a
decompression-bomb limit before any pixel is decoded (Pillow's ``MAX_IMAGE_PIXELS`` /
``DecompressionBombError``). Every failure is a one-line :class:`ConfigError` naming the field.
:func:`save_upload` keeps an uploaded image under the output root, named by its hash, so a run can
refer to it by path (the same upload twice is one file); :class:`UploadClaims` lets a service take
back the upload of a refused request without deleting a file another request shares, caps the
uploads' total size and sweeps the expired ones (the retention rules are :mod:`generate.uploads`).
"""

from __future__ import annotations

import hashlib
import io
import os
import threading
import warnings
from dataclasses import dataclass
from pathlib import Path

from PIL import Image

from generate.errors import ConfigError
from generate.postprocess import MIME_SUFFIX, sniff_mime
from generate.runs import atomic_write_bytes
from generate.uploads import (
    UPLOADS_DIR,
    UploadsFull,
    expired_uploads,
    referenced_uploads,
    remove_unused,
    sweep_uploads,
    uploads_bytes,
)

__all__ = [
    "MAX_INPUT_BYTES",
    "MAX_INPUT_PIXELS",
    "CheckedImage",
    "UploadClaims",
    "check_image_bytes",
    "check_image_file",
    "save_upload",
    "UPLOADS_DIR",
]

MAX_INPUT_BYTES = 20 * 1024 * 1024  # a phone photo is 3-8 MB; Gemini inlines ~7 MB per file at most
MAX_INPUT_PIXELS = 50_000_000  # ~7000x7000; far above any sketch, far below a bomb
_ACCEPTED = ("image/png", "image/jpeg", "image/webp")


@dataclass(frozen=True)
class CheckedImage:
    mime_type: str
    width: int
    height: int
    sha256: str


def check_image_bytes(data: bytes, *, field: str, name: str = "the image") -> CheckedImage:
    """Validate one user image; raises ConfigError(field=field) saying what is wrong with it."""
    if not data:
        raise ConfigError(f"{name} is empty", field=field)
    if len(data) > MAX_INPUT_BYTES:
        raise ConfigError(
            f"{name} is {len(data) / 1e6:.1f} MB; the limit is {MAX_INPUT_BYTES // (1024 * 1024)} MiB",
            field=field,
        )
    mime = sniff_mime(data)
    if mime not in _ACCEPTED:
        raise ConfigError(f"{name} is not a PNG, JPEG or WebP image (judged by its bytes)", field=field)
    try:
        with warnings.catch_warnings():
            # Pillow warns between MAX_IMAGE_PIXELS and twice it, and raises above: refuse both.
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            with Image.open(io.BytesIO(data)) as img:
                width, height = img.size
                if width * height > MAX_INPUT_PIXELS:
                    raise Image.DecompressionBombError(f"{width}x{height}")
                img.verify()  # structure and checksums, without decoding the pixels
    except (Image.DecompressionBombError, Image.DecompressionBombWarning):
        raise ConfigError(
            f"{name} has too many pixels (a decompression bomb?); the limit is {MAX_INPUT_PIXELS:,} pixels",
            field=field,
        ) from None
    except Exception as exc:  # noqa: BLE001 - any decoder failure means unusable bytes
        raise ConfigError(f"{name} cannot be read as an image ({type(exc).__name__})", field=field) from None
    return CheckedImage(mime, width, height, hashlib.sha256(data).hexdigest())


def check_image_file(path: Path | str, *, field: str) -> CheckedImage:
    """:func:`check_image_bytes` for a file; a missing or unreadable file is a ConfigError too."""
    path = Path(path)
    try:
        size = path.stat().st_size
        if size > MAX_INPUT_BYTES:  # refused before reading it
            raise ConfigError(
                f"{path} is {size / 1e6:.1f} MB; the limit is {MAX_INPUT_BYTES // (1024 * 1024)} MiB",
                field=field,
            )
        data = path.read_bytes()
    except OSError as exc:
        raise ConfigError(f"cannot read {path}: {exc.strerror or type(exc).__name__}", field=field) from None
    return check_image_bytes(data, field=field, name=str(path))


def save_upload(
    data: bytes, root: Path | str, *, field: str, max_total_bytes: int | None = None
) -> tuple[Path, bool]:
    """Check an uploaded image and keep it as ``<root>/uploads/<sha256>.<ext>``.

    Returns (the path, whether this call wrote it). Nothing is written for a bad image, nor
    (:class:`generate.uploads.UploadsFull`) for a new one that would take the folder past
    ``max_total_bytes``. An upload already kept is not written again, but its time is renewed: the
    retention counts from the last time it was saved.
    """
    checked = check_image_bytes(data, field=field, name=f"the uploaded {field}")
    folder = Path(root) / UPLOADS_DIR
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{checked.sha256}{MIME_SUFFIX[checked.mime_type]}"
    if path.is_file():
        try:
            os.utime(path)
        except OSError:
            pass  # a read-only folder keeps its uploads; retention is the only thing lost
        return path.resolve(), False
    if max_total_bytes is not None:
        used = uploads_bytes(root)
        if used + len(data) > max_total_bytes:
            raise UploadsFull(used, len(data), max_total_bytes, field=field)
    atomic_write_bytes(path, data)
    return path.resolve(), True


class UploadClaims:
    """The uploads that requests being prepared hold, so that a refused request takes back only a
    file no one else needs.

    Identical uploads share one file (named by hash), so "this request wrote it" is not enough: a
    second request may have found it there meanwhile. :meth:`save` claims the file;
    :meth:`settle` releases a request's claims: an accepted request keeps its files for good, and a
    file is removed only when its last holder was refused, none was accepted, and it was not on
    disk before the first claim. Thread-safe (requests are prepared in worker threads).
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._held: dict[Path, list] = {}  # path -> [requests holding it, keep it]

    def save(
        self,
        data: bytes,
        root: Path | str,
        *,
        field: str,
        max_total_bytes: int | None = None,
        retention_hours: float | None = None,
    ) -> Path:
        """:func:`save_upload`, claimed for the calling request (settle it with :meth:`settle`).

        With ``max_total_bytes``, a new upload that does not fit first has the uploads expired
        after ``retention_hours`` swept, then is refused with ``UploadsFull`` if it still does not.
        """
        with self._lock:
            try:
                path, new = save_upload(data, root, field=field, max_total_bytes=max_total_bytes)
            except UploadsFull:
                if retention_hours is None or not self._sweep(root, retention_hours):
                    raise
                path, new = save_upload(data, root, field=field, max_total_bytes=max_total_bytes)
            entry = self._held.setdefault(path, [0, not new])
            entry[0] += 1
        return path

    def sweep(self, root: Path | str, retention_hours: float) -> list[Path]:
        """Remove the expired uploads under ``root`` (see :mod:`generate.uploads`), never one a
        request holds. The runs are read with uploads going on; the files are removed under the
        lock saves take, each checked again, so one saved meanwhile (young again) stays."""
        old = expired_uploads(root, retention_hours)
        if not old:
            return []
        used = referenced_uploads(root)
        with self._lock:
            return remove_unused(old, used, retention_hours, keep=list(self._held))

    def _sweep(self, root: Path | str, retention_hours: float) -> list[Path]:
        return sweep_uploads(root, retention_hours, keep=list(self._held))

    def settle(self, paths, *, accepted: bool) -> None:
        """Release one request's claims (each path once per :meth:`save`)."""
        with self._lock:
            for path in paths:
                entry = self._held.get(path)
                if entry is None:
                    continue
                entry[0] -= 1
                entry[1] = entry[1] or accepted
                if entry[0] <= 0:
                    del self._held[path]
                    if not entry[1]:
                        path.unlink(missing_ok=True)
