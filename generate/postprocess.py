"""Turn a model's image bytes into a draw-over-ready sketch file, and measure it.

Every image, from any adapter, goes through :func:`process_image`: decode (whatever the wire said
the type was), 8-bit grayscale, optionally the exact requested resolution (padded with paper white,
never stretched), PNG. The quality figures go into metadata:

* ``source_colourfulness``: Hasler & Süsstrunk's colourfulness of the model's own image (0 for pure
  grayscale; above ~15 the model ignored "no colour", worth knowing when judging a model).
* ``background_cleanliness``: share of the outer 6 % frame that is near white (>= 230).
* ``ink_coverage``: share of pixels darker than mid-gray (a blank page is ~0, a filled one ~1).
"""

from __future__ import annotations

import io
import os
import threading
from dataclasses import dataclass, field

import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

from generate.errors import ErrorCode, ModelCallError
from generate.png import encode_png

__all__ = ["MIME_SUFFIX", "ProcessedImage", "process_image", "sniff_mime"]

# A decompression bomb guard: 4K Pro images are ~30 MP; anything above this is not a sketch.
Image.MAX_IMAGE_PIXELS = 64_000_000
_METRIC_SIDE = 128  # colourfulness is computed on a box-reduced copy: cheap and stable
_PREVIEW_SIDE = 320  # the contact sheet's thumbnail size; the other figures are measured on it too


@dataclass
class ProcessedImage:
    png: bytes
    width: int
    height: int
    source_mime: str
    source_width: int
    source_height: int
    quality: dict[str, float] = field(default_factory=dict)
    warnings: list[str] = field(default_factory=list)
    preview: Image.Image | None = None  # a box-reduced copy (>= 320 px a side) for the contact sheet


# The file suffix sketchgen gives an image it keeps as received, by its sniffed type.
MIME_SUFFIX = {"image/png": ".png", "image/jpeg": ".jpg", "image/webp": ".webp"}


def sniff_mime(data: bytes) -> str | None:
    """The image type from its magic bytes (PNG, JPEG, WebP, GIF; None if unknown): wire labels lie."""
    if data.startswith(b"\x89PNG\r\n\x1a\n"):
        return "image/png"
    if data.startswith(b"\xff\xd8\xff"):
        return "image/jpeg"
    if data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        return "image/webp"
    if data[:6] in (b"GIF87a", b"GIF89a"):
        return "image/gif"
    return None


def _colourfulness(rgb: Image.Image) -> float:
    arr = np.asarray(rgb, dtype=np.float32)
    r, g, b = arr[..., 0], arr[..., 1], arr[..., 2]
    rg = r - g
    yb = 0.5 * (r + g) - b
    return float(np.hypot(rg.std(), yb.std()) + 0.3 * np.hypot(rg.mean(), yb.mean()))


def _figures(gray: Image.Image) -> dict[str, float]:
    arr = np.asarray(gray, dtype=np.uint8)
    h, w = arr.shape
    bh, bw = max(1, int(h * 0.06)), max(1, int(w * 0.06))
    frame = np.concatenate(
        [arr[:bh].ravel(), arr[-bh:].ravel(), arr[bh:-bh, :bw].ravel(), arr[bh:-bh, -bw:].ravel()]
    )
    return {
        "background_cleanliness": round(float((frame >= 230).mean()), 4),
        "ink_coverage": round(float((arr < 128).mean()), 4),
    }


# Image work is CPU-bound: when many model answers land at once (N sketches finishing together, or
# many runs in the service), running more of them than there are cores only makes every one finish
# later. Capping it at the core count finishes the first sketch in one image's time; the total is the same.
_CPU_SLOTS = threading.BoundedSemaphore(max(1, os.cpu_count() or 1))


def process_image(
    data: bytes,
    *,
    resolution: tuple[int, int] | None = None,
    enforce_grayscale: bool = True,
    expected_size: tuple[int, int] | None = None,
) -> ProcessedImage:
    """Decode, convert and measure one image. Raises ModelCallError(bad_image) for undecodable bytes."""
    with _CPU_SLOTS:
        return _process(data, resolution, enforce_grayscale, expected_size)


def _process(
    data: bytes,
    resolution: tuple[int, int] | None,
    enforce_grayscale: bool,
    expected_size: tuple[int, int] | None,
) -> ProcessedImage:
    mime = sniff_mime(data) or "application/octet-stream"
    try:
        image = Image.open(io.BytesIO(data))
        if image.format == "JPEG" and resolution is not None:
            # Let the JPEG decoder skip detail we are about to throw away (much cheaper at 2K/4K).
            image.draft("RGB", (resolution[0], resolution[1]))
        image.load()
    except (UnidentifiedImageError, OSError, Image.DecompressionBombError, SyntaxError) as exc:
        raise ModelCallError(
            ErrorCode.BAD_IMAGE, f"the model's image could not be decoded ({exc.__class__.__name__})"
        ) from None

    warnings: list[str] = []
    source_w, source_h = image.size
    if image.mode in ("RGBA", "LA", "P", "PA"):
        image = _flatten_on_white(image)

    thumb = image.reduce(max(1, min(image.size) // _METRIC_SIDE))  # a box-filtered small copy: cheap
    colourfulness = _colourfulness(thumb.convert("RGB")) if thumb.mode not in ("L", "1", "I", "F") else 0.0

    out = image.convert("L") if enforce_grayscale else image.convert("RGB")
    if resolution is not None and out.size != resolution:
        src_ratio = out.width / out.height
        dst_ratio = resolution[0] / resolution[1]
        if abs(src_ratio / dst_ratio - 1) > 0.02:
            warnings.append(
                f"model image is {out.width}x{out.height}; padded with white to {resolution[0]}x{resolution[1]} "
                "to keep the drawing undistorted"
            )
        fill = 255 if out.mode == "L" else (255, 255, 255)
        out = ImageOps.pad(out, resolution, method=Image.Resampling.LANCZOS, color=fill)
    if expected_size is not None and (source_w, source_h) != tuple(expected_size):
        warnings.append(
            f"model returned {source_w}x{source_h}, expected {expected_size[0]}x{expected_size[1]} "
            "for the requested aspect ratio and size"
        )

    preview = out.reduce(max(1, min(out.size) // _PREVIEW_SIDE))
    quality = {"source_colourfulness": round(colourfulness, 3), **_figures(preview.convert("L"))}

    return ProcessedImage(
        png=encode_png(out),  # fixed-filter writer: same size as Pillow's PNG, ~40 % of the CPU
        width=out.width,
        height=out.height,
        source_mime=mime,
        source_width=source_w,
        source_height=source_h,
        quality=quality,
        warnings=warnings,
        preview=preview,
    )


def _flatten_on_white(image: Image.Image) -> Image.Image:
    rgba = image.convert("RGBA")
    background = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
    return Image.alpha_composite(background, rgba).convert("RGB")
