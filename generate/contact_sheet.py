"""``contact_sheet.png``: every sketch of a run in one grayscale grid, failures marked in place.

Each cell shows the sketch thumbnail with a ``#{index} {label}`` caption (the label is usually the
variation, e.g. ``three-quarter / bold``). A slot whose status is not a success, or whose file is
missing or unreadable, is drawn as a crossed-out box with its status in capitals and a short reason,
so a partial run is obvious at a glance. The sheet is written atomically (temp file + ``os.replace``),
so a reader never sees half a PNG.

A run builds its sheet as it goes (:class:`ContactSheet`): the title and captions are drawn while
the model calls are in flight, each thumbnail is pasted when its sketch is written, and the run's end
only marks the failures and encodes the file. :func:`build_contact_sheet` does it all at once.
"""

from __future__ import annotations

import math
import threading
from dataclasses import dataclass
from pathlib import Path

from PIL import Image, ImageDraw

from generate.fonts import FallbackFont
from generate.png import encode_png
from generate.runs import atomic_write_bytes

__all__ = [
    "ContactSheet",
    "ContactSlot",
    "build_contact_sheet",
    "sheet_layout",
    "SUCCESS_STATUSES",
]

SUCCESS_STATUSES = frozenset({"ok", "complete", "completed", "succeeded", "success"})
_PAPER = 255
_INK = 20
_MUTED = 110
_FRAME = 200


@dataclass(frozen=True)
class ContactSlot:
    """One sketch slot of a run. ``path`` is None when no image exists (failed, cancelled, pending)."""

    index: int
    path: Path | None
    label: str
    status: str
    message: str | None = None
    image: Image.Image | None = None  # the sketch already in memory: used instead of re-reading ``path``


def _font(size: int) -> FallbackFont:
    """The sheet's font: any script the installed fonts cover (see :mod:`generate.fonts`)."""
    return FallbackFont(size)


def _fit(draw: ImageDraw.ImageDraw, text: str, font, width: float) -> str:
    """Shorten ``text`` with an ellipsis until it fits ``width`` pixels."""
    if font.length(draw, text) <= width:
        return text
    while text and font.length(draw, text + "...") > width:
        text = text[:-1]
    return text.rstrip() + "..."


def _wrap(draw: ImageDraw.ImageDraw, text: str, font, width: float, max_lines: int) -> list[str]:
    """Greedy word wrap to at most ``max_lines`` lines; the last one is ellipsised if needed."""
    lines: list[str] = []
    current = ""
    words = text.split()
    for i, word in enumerate(words):
        trial = f"{current} {word}".strip()
        if font.length(draw, trial) <= width or not current:
            current = trial
            continue
        lines.append(current)
        current = word
        if len(lines) == max_lines - 1:
            current = " ".join(words[i:])
            break
    if current:
        lines.append(current)
    return [_fit(draw, line, font, width) for line in lines[:max_lines]]


def _load_grayscale(path: Path) -> Image.Image | None:
    """The image at ``path`` in mode "L", or None if it is missing or does not decode."""
    try:
        with Image.open(path) as im:
            im.load()
            return im.convert("L")
    except (OSError, ValueError):
        return None


def _fit_thumb(image: Image.Image, thumb: int) -> Image.Image:
    g = image.convert("L")  # a new image: the caller's stays untouched
    # Previews arrive already box-reduced to just above ``thumb``: bilinear is plenty for the rest.
    small_step = max(g.size) <= thumb * 1.5
    g.thumbnail((thumb, thumb), Image.Resampling.BILINEAR if small_step else Image.Resampling.LANCZOS)
    return g


def _cols_for(n: int) -> int:
    if n in (2, 4):
        return 2
    return max(1, min(3, n))


def _metrics(thumb: int, titled: bool) -> tuple[int, int, int]:
    pad = max(8, thumb // 20)
    cap_h = int(max(12, thumb // 18) * 1.7)
    title_h = int(max(14, thumb // 14) * 2.0) if titled else 0
    return pad, cap_h, title_h


def sheet_layout(
    n: int, *, thumb: int = 320, titled: bool = False
) -> tuple[tuple[int, int], list[tuple[int, int, int, int]]]:
    """Sheet size and the thumbnail box of each of ``n`` slots (in index order): 2 columns for 2 or 4
    slots, else up to 3; each cell is the ``thumb`` x ``thumb`` picture with its caption below."""
    pad, cap_h, title_h = _metrics(thumb, titled)
    cols = _cols_for(n)
    rows = max(1, math.ceil(n / cols))
    cell_w, cell_h = thumb + 2 * pad, thumb + cap_h + 2 * pad
    size = (cols * cell_w + pad, rows * cell_h + pad + title_h)
    boxes = []
    for pos in range(n):
        x0 = pad + (pos % cols) * cell_w
        y0 = title_h + pad + (pos // cols) * cell_h
        boxes.append((x0, y0, x0 + thumb, y0 + thumb))
    return size, boxes


class ContactSheet:
    """One run's sheet, filled in as its sketches arrive; thread-safe.

    ``slots``: (index, label) of every sketch of the run, in any order (cells follow the index).
    """

    def __init__(self, slots, *, title: str | None = None, thumb: int = 320) -> None:
        self._lock = threading.Lock()
        self.thumb = thumb
        order = sorted(slots, key=lambda s: s[0])
        self._pad, _, title_h = _metrics(thumb, bool(title))
        self._cap_font, self._small_font = _font(max(12, thumb // 18)), _font(max(10, thumb // 24))
        size, boxes = sheet_layout(len(order), thumb=thumb, titled=bool(title))
        self._boxes = {index: box for (index, _), box in zip(order, boxes, strict=True)}
        self._sheet = Image.new("L", size, _PAPER)
        self._draw = ImageDraw.Draw(self._sheet)
        self.filled: set[int] = set()  # indexes whose cell is final: a picture or a failure mark
        pad, draw = self._pad, self._draw
        if title:
            font = _font(max(14, thumb // 14))
            font.draw_text(draw, (pad, pad // 2), _fit(draw, title, font, self._sheet.width - 2 * pad), _INK)
        if not order:
            self._cap_font.draw_text(draw, (pad, title_h + pad), "no sketches in this run", _MUTED)
        for index, label in order:
            x0, y0 = self._boxes[index][:2]
            caption = _fit(draw, f"#{index} {label}", self._cap_font, thumb)
            self._cap_font.draw_text(draw, (x0, y0 + thumb + pad // 2), caption, _INK)

    def place(self, index: int, image: Image.Image) -> None:
        """Put sketch ``index``'s picture in its cell (any size or mode; scaled down to fit)."""
        small = _fit_thumb(image, self.thumb)  # outside the lock: the only per-picture CPU work
        box = self._boxes[index]
        x0, y0 = box[0], box[1]
        with self._lock:
            self._sheet.paste(
                small, (x0 + (self.thumb - small.width) // 2, y0 + (self.thumb - small.height) // 2)
            )
            self._draw.rectangle(box, outline=_FRAME, width=1)
            self.filled.add(index)

    def mark_failed(self, index: int, status: str, reason: str | None) -> None:
        """Cross out sketch ``index``'s cell with its status and reason."""
        with self._lock:
            _draw_failed(self._draw, self._boxes[index], status, reason, self._cap_font, self._small_font)
            self.filled.add(index)

    def settle(
        self,
        index: int,
        status: str,
        *,
        path: str | Path | None = None,
        message: str | None = None,
        image: Image.Image | None = None,
    ) -> None:
        """Fill sketch ``index``'s cell from its outcome: the picture (``image``, else read from
        ``path``) for a success, else the failure mark with ``message``. A success whose file is
        missing or unreadable is marked "unreadable"."""
        if status.lower() not in SUCCESS_STATUSES or path is None:
            self.mark_failed(index, status, message)
            return
        picture = image if image is not None else _load_grayscale(Path(path))
        if picture is None:
            self.mark_failed(index, "unreadable", "the sketch file is missing or unreadable")
        else:
            self.place(index, picture)

    def png(self) -> bytes:
        with self._lock:
            return encode_png(self._sheet)

    def save(self, out_path: str | Path) -> Path:
        """Write the sheet as it stands to ``out_path`` (PNG, mode "L"), atomically."""
        out_path = Path(out_path)
        out_path.parent.mkdir(parents=True, exist_ok=True)
        atomic_write_bytes(out_path, self.png(), durable=False)  # the run fsyncs it with its sketches
        return out_path


def build_contact_sheet(
    slots: list[ContactSlot] | tuple[ContactSlot, ...],
    out_path: str | Path,
    *,
    title: str | None = None,
    thumb: int = 320,
) -> Path:
    """Draw ``slots`` (in index order) as a grid and write ``out_path`` (PNG, mode "L") atomically."""
    sheet = ContactSheet([(s.index, s.label) for s in slots], title=title, thumb=thumb)
    for slot in slots:
        sheet.settle(slot.index, slot.status, path=slot.path, message=slot.message, image=slot.image)
    return sheet.save(out_path)


def _draw_failed(draw: ImageDraw.ImageDraw, box, status: str, reason: str | None, font, small) -> None:
    """A crossed, thick-framed box with the status in capitals and up to three lines of reason."""
    x0, y0, x1, y1 = box
    w = x1 - x0
    draw.rectangle(box, fill=235, outline=_INK, width=max(3, w // 80))
    draw.line((x0, y0, x1, y1), fill=170, width=max(2, w // 120))
    draw.line((x0, y1, x1, y0), fill=170, width=max(2, w // 120))
    label = status.upper()
    tw = font.length(draw, label)
    band_h = int(w * 0.36)
    by = y0 + (w - band_h) // 2
    draw.rectangle((x0 + w // 12, by, x1 - w // 12, by + band_h), fill=_PAPER, outline=_INK, width=2)
    font.draw_text(draw, (x0 + (w - tw) / 2, by + band_h * 0.1), label, _INK)
    lines = _wrap(draw, reason or "no reason recorded", small, w * 0.8, 3)
    line_h = band_h * 0.2
    for i, line in enumerate(lines):
        lw = small.length(draw, line)
        small.draw_text(draw, (x0 + (w - lw) / 2, by + band_h * 0.38 + i * line_h), line, _MUTED - 40)
