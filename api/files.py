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

__all__ = [
    "resolve_run_dir",
    "resolve_run_file",
    "content_type_for",
    "list_run_files",
    "convert_image",
    "IMAGE_FORMATS",
]

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


# ?format= of a file download: (Pillow format, suffix, content type).
IMAGE_FORMATS = {
    "png": ("PNG", ".png", "image/png"),
    "jpeg": ("JPEG", ".jpg", "image/jpeg"),
    "webp": ("WEBP", ".webp", "image/webp"),
}


def convert_image(path: Path, fmt: str) -> bytes | None:
    """The image at ``path`` re-encoded as ``fmt`` (a key of :data:`IMAGE_FORMATS`), or None if the
    file is not an image Pillow reads. A grayscale sketch stays grayscale: mode ``L`` is kept where
    the format has it (PNG, JPEG); WebP, which has no gray mode, is lossless with equal R, G and B."""
    import io

    from PIL import Image, UnidentifiedImageError

    pil_format = IMAGE_FORMATS[fmt][0]
    try:
        with Image.open(path) as image:
            image.load()
            if _is_gray(image):
                image = image.convert("LA" if "A" in image.mode or "transparency" in image.info else "L")
            if pil_format == "JPEG":  # no alpha in JPEG: flatten on white paper
                if image.mode in ("LA", "RGBA", "P"):
                    rgba = image.convert("RGBA")
                    paper = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
                    image = Image.alpha_composite(paper, rgba).convert("L" if image.mode == "LA" else "RGB")
                elif image.mode not in ("L", "RGB"):
                    image = image.convert("RGB")
            options: dict = {"quality": 92} if pil_format in ("JPEG", "WEBP") else {}
            if pil_format == "WEBP" and image.mode in ("L", "LA"):
                image = image.convert("RGBA" if image.mode == "LA" else "RGB")
                # Lossy WebP is YUV 4:2:0, which tints gray pixels; lossless keeps R = G = B (and
                # line art compresses well losslessly).
                options = {"lossless": True}
            out = io.BytesIO()
            image.save(out, pil_format, **options)
            return out.getvalue()
    except (UnidentifiedImageError, OSError, ValueError):
        return None


def _is_gray(image) -> bool:
    """True for a gray mode, or colour channels that are equal everywhere (a model's RGB sketch)."""
    from PIL import ImageChops

    if image.mode in ("L", "LA", "I", "I;16", "1"):
        return True
    if image.mode not in ("RGB", "RGBA", "P"):
        return False
    red, green, blue = image.convert("RGB").split()
    return (
        ImageChops.difference(red, green).getbbox() is None
        and ImageChops.difference(green, blue).getbbox() is None
    )
