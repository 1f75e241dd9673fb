"""Reference folders on disk: which files are images, which are sidecars, which a style excludes.

Rules (shared by indexing, the retriever and the lexical fallback, so they never disagree):

* Images are files with one of :data:`IMAGE_SUFFIXES` (case-insensitive).
* Sidecars are notes that live beside images: ``.txt``, ``.md``, ``.json``, ``.toml`` files and any
  ``README*``. Hidden files (``.DS_Store``, editor swap files) are treated the same way. They are
  *skipped* silently: they are not images, but nothing is wrong with them.
* Anything else (``.pdf``, ``.psd``, no suffix, ...) is *unreadable* with a reason, like an image
  whose bytes do not decode: it is reported and skipped, never fatal.
* ``Style.do_not_use`` entries are file names, paths relative to a reference folder, or glob
  patterns (``fnmatch``) over either; see :func:`is_excluded`.
"""

from __future__ import annotations

import fnmatch
import functools
import hashlib
import os
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

__all__ = [
    "IMAGE_SUFFIXES",
    "SIDECAR_SUFFIXES",
    "ScanResult",
    "scan_directory",
    "is_excluded",
    "sha256_file",
    "caption_for",
    "list_style_images",
    "unreadable_reason",
]

IMAGE_SUFFIXES = frozenset({".png", ".jpg", ".jpeg", ".webp", ".gif", ".bmp", ".tif", ".tiff"})
SIDECAR_SUFFIXES = frozenset({".txt", ".md", ".json", ".toml", ".yaml", ".yml"})


@dataclass
class ScanResult:
    """One walk of a folder: ``images`` sorted by path; ``skipped`` sidecars; ``unsupported`` others."""

    images: list[Path] = field(default_factory=list)
    skipped: list[Path] = field(default_factory=list)
    unsupported: list[tuple[Path, str]] = field(default_factory=list)


def _classify(path: Path) -> str:
    name = path.name
    if name.startswith(".") or name.upper().startswith("README"):
        return "skip"
    suffix = path.suffix.lower()
    if suffix in IMAGE_SUFFIXES:
        return "image"
    if suffix in SIDECAR_SUFFIXES:
        return "skip"
    return "unsupported"


def _walk(directory: Path) -> Iterator[Path]:
    # os.scandir is several times faster than Path.rglob on big folders and lets us prune hidden dirs.
    stack = [directory]
    seen: set[str] = set()
    while stack:
        current = stack.pop()
        real = os.path.realpath(current)
        if real in seen:  # a symlink loop, or two links to one folder
            continue
        seen.add(real)
        try:
            with os.scandir(current) as it:
                entries = list(it)
        except OSError:
            continue
        for entry in entries:
            if entry.is_dir(follow_symlinks=True):
                if not entry.name.startswith("."):
                    stack.append(Path(entry.path))
            elif entry.is_file(follow_symlinks=True):
                yield Path(entry.path)


def scan_directory(directory: Path) -> ScanResult:
    """Walk ``directory`` recursively (hidden folders pruned) and classify every file. Deterministic."""
    result = ScanResult()
    for path in _walk(Path(directory)):
        kind = _classify(path)
        if kind == "image":
            result.images.append(path)
        elif kind == "skip":
            result.skipped.append(path)
        else:
            suffix = path.suffix or "(no suffix)"
            result.unsupported.append((path, f"not an image file type: {suffix}"))
    result.images.sort(key=str)
    result.skipped.sort(key=str)
    result.unsupported.sort(key=lambda item: str(item[0]))
    return result


def is_excluded(path: Path, patterns: Iterable[str], roots: Iterable[Path] = ()) -> bool:
    """True when ``path`` matches a ``do_not_use`` entry.

    An entry matches the file name, the path relative to any of ``roots`` (POSIX separators), the
    absolute path, or a trailing part of the path (``"old/logo.png"`` matches ``.../refs/old/logo.png``);
    glob characters (``*?[``) work in each form.
    """
    pats = [p.strip().replace("\\", "/") for p in patterns if p and p.strip()]
    if not pats:
        return False
    path = Path(path)
    forms = {path.name, path.as_posix()}
    for root in roots:
        try:
            forms.add(path.relative_to(root).as_posix())
        except ValueError:
            continue
    for pat in pats:
        pat = pat.removeprefix("./")
        for form in forms:
            if fnmatch.fnmatchcase(form, pat):
                return True
        if "/" in pat and fnmatch.fnmatchcase(path.as_posix(), "*/" + pat):
            return True
    return False


def sha256_file(path: Path, chunk: int = 1 << 20) -> str:
    """Hex sha256 of a file's bytes."""
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        while block := fh.read(chunk):
            digest.update(block)
    return digest.hexdigest()


def caption_for(image: Path) -> str:
    """The sidecar caption ``<stem>.txt`` beside ``image`` (empty when absent or unreadable)."""
    sidecar = image.with_suffix(".txt")
    try:
        return sidecar.read_text(encoding="utf-8", errors="replace")[:4000]
    except OSError:
        return ""


def unreadable_reason(path: Path) -> str | None:
    """Why ``path`` cannot be used as a reference image (None when its bytes decode as an image).

    A file with an image suffix may still be a PDF, an HTML error page or a truncated download;
    sent on, the trace model fails that sketch and Gemini silently drops it. Decoding is the only
    honest test; JPEGs decode at reduced scale (``draft``), which checks the bytes at a fraction
    of the cost. The answer is cached per file version (path, size, mtime), so a library that
    does not change is decoded once per process.
    """
    try:
        st = os.stat(path)
    except FileNotFoundError:
        return "file not found"
    except OSError as exc:
        return f"cannot be read ({type(exc).__name__})"
    return _decode_check(str(path), st.st_size, st.st_mtime_ns)


@functools.lru_cache(maxsize=4096)
def _decode_check(path: str, size: int, mtime_ns: int) -> str | None:
    from PIL import Image

    try:
        with Image.open(path) as img:
            img.draft("RGB", (256, 256))
            img.load()
    except FileNotFoundError:
        return "file not found"
    except Exception as exc:  # noqa: BLE001 - any decoder failure means the file is unusable
        return f"not a readable image ({type(exc).__name__})"
    return None


def list_style_images(reference_dirs: Iterable[Path], do_not_use: Iterable[str] = ()) -> list[Path]:
    """Every image under a style's reference folders, ``do_not_use`` removed, sorted, de-duplicated."""
    roots = [Path(d) for d in reference_dirs]
    patterns = list(do_not_use)
    seen: set[Path] = set()
    out: list[Path] = []
    for root in roots:
        if not root.is_dir():
            continue
        for image in scan_directory(root).images:
            resolved = image.resolve()
            if resolved in seen or is_excluded(resolved, patterns, [r.resolve() for r in roots]):
                continue
            seen.add(resolved)
            out.append(resolved)
    out.sort(key=str)
    return out
