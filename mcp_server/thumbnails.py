"""Small previews of a run's sketches for a tool result, under a size cap.

An agent's context is the scarce thing: a 6-sketch 2K run is ~6 MB of PNG, which no client wants
inline. Each sketch becomes a JPEG whose longest side is at most :data:`MAX_PX` (grayscale line art
stays legible at that size), each at most :data:`MAX_BYTES_EACH` (quality is lowered until it fits),
and the whole set at most :data:`MAX_COUNT` images and :data:`MAX_BYTES_TOTAL`; sketches that do not fit are left out and named
in the result. The full files are always there as resource links.
"""

from __future__ import annotations

import io
from dataclasses import dataclass, field
from pathlib import Path

from PIL import Image

__all__ = [
    "Thumbnail",
    "ThumbnailSet",
    "make_thumbnails",
    "MAX_PX",
    "MAX_BYTES_EACH",
    "MAX_BYTES_TOTAL",
    "MAX_COUNT",
]

MAX_PX = 256
MAX_BYTES_EACH = 30_000
MAX_COUNT = 6  # a run has at most 6 sketches; more would only crowd the context
MAX_BYTES_TOTAL = MAX_COUNT * MAX_BYTES_EACH
_QUALITIES = (80, 65, 50, 35)


@dataclass(frozen=True)
class Thumbnail:
    index: int
    data: bytes
    mime_type: str = "image/jpeg"


@dataclass
class ThumbnailSet:
    thumbnails: list[Thumbnail] = field(default_factory=list)
    omitted: list[int] = field(default_factory=list)

    @property
    def total_bytes(self) -> int:
        return sum(len(t.data) for t in self.thumbnails)

    def describe(self) -> dict:
        """The ``thumbnails`` field of a tool result (see :class:`mcp_server.schemas.ThumbnailsOut`)."""
        note = (
            f"thumbnails: longest side <= {MAX_PX} px, <= {MAX_BYTES_EACH // 1000} KB each, "
            f"<= {MAX_COUNT} images and {MAX_BYTES_TOTAL // 1000} KB in all; read the sketchgen:// resource links for full size"
        )
        if self.omitted:
            note += f"; left out to stay under the cap: sketches {', '.join(map(str, self.omitted))}"
        return {
            "count": len(self.thumbnails),
            "max_px": MAX_PX,
            "total_bytes": self.total_bytes,
            "omitted": list(self.omitted),
            "note": note,
        }


def _jpeg(path: Path) -> bytes | None:
    try:
        with Image.open(path) as img:
            img.draft("L", (MAX_PX, MAX_PX))  # JPEG sources decode straight to a smaller size
            small = img.convert("L")
    except (OSError, ValueError):
        return None
    small.thumbnail((MAX_PX, MAX_PX), Image.Resampling.LANCZOS)
    data = b""
    for quality in _QUALITIES:
        buf = io.BytesIO()
        small.save(buf, format="JPEG", quality=quality, optimize=True)
        data = buf.getvalue()
        if len(data) <= MAX_BYTES_EACH:
            return data
    return None


def make_thumbnails(sketches: list[tuple[int, Path]]) -> ThumbnailSet:
    """Thumbnails of ``(index, path)`` in the order given (blocking: PIL work, call it in a thread)."""
    out = ThumbnailSet()
    for index, path in sketches:
        data = _jpeg(path) if len(out.thumbnails) < MAX_COUNT else None
        if data is None or out.total_bytes + len(data) > MAX_BYTES_TOTAL:
            out.omitted.append(index)
            continue
        out.thumbnails.append(Thumbnail(index=index, data=data))
    return out
