"""``contact_sheet.png``: every sketch of a run in one grayscale grid, failures marked in place.

Each cell shows the sketch thumbnail with a ``#{index} {label}`` caption (the label is usually the
variation, e.g. ``three-quarter / bold``). A slot whose status is not a success, or whose file is
missing or unreadable, is drawn as a crossed-out box with its status in capitals and a short reason,
so a partial run is obvious at a glance. The sheet is written atomically (temp file + ``os.replace``),
so a reader never sees half a PNG.
"""

from __future__ import annotations

import math
import os
import zlib
from dataclasses import dataclass
from pathlib import Path

from PIL import Image, ImageDraw, ImageFont

__all__ = ["ContactSlot", "build_contact_sheet", "sheet_layout", "SUCCESS_STATUSES"]

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


def _font(size: int) -> ImageFont.ImageFont | ImageFont.FreeTypeFont:
    try:
        return ImageFont.load_default(size=size)  # FreeType-backed in Pillow >= 10.1
    except TypeError:  # pragma: no cover - very old Pillow: fixed-size bitmap font
        return ImageFont.load_default()


def _fit(draw: ImageDraw.ImageDraw, text: str, font, width: float) -> str:
    """Shorten ``text`` with an ellipsis until it fits ``width`` pixels."""
    if draw.textlength(text, font=font) <= width:
        return text
    while text and draw.textlength(text + "...", font=font) > width:
        text = text[:-1]
    return text.rstrip() + "..."


def _wrap(draw: ImageDraw.ImageDraw, text: str, font, width: float, max_lines: int) -> list[str]:
    """Greedy word wrap to at most ``max_lines`` lines; the last one is ellipsised if needed."""
    lines: list[str] = []
    current = ""
    words = text.split()
    for i, word in enumerate(words):
        trial = f"{current} {word}".strip()
        if draw.textlength(trial, font=font) <= width or not current:
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


def _load_thumb(path: Path, thumb: int) -> Image.Image | None:
    try:
        with Image.open(path) as im:
            im.load()
            g = im.convert("L")
    except (OSError, ValueError):
        return None
    return _fit_thumb(g, thumb)


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


def build_contact_sheet(
    slots: list[ContactSlot] | tuple[ContactSlot, ...],
    out_path: str | Path,
    *,
    title: str | None = None,
    thumb: int = 320,
) -> Path:
    """Draw ``slots`` (in index order) as a grid and write ``out_path`` (PNG, mode "L") atomically."""
    out_path = Path(out_path)
    slots = sorted(slots, key=lambda s: s.index)
    pad, _, title_h = _metrics(thumb, bool(title))
    cap_font, small_font = _font(max(12, thumb // 18)), _font(max(10, thumb // 24))
    title_font = _font(max(14, thumb // 14))
    size, boxes = sheet_layout(len(slots), thumb=thumb, titled=bool(title))
    sheet = Image.new("L", size, _PAPER)
    draw = ImageDraw.Draw(sheet)
    if title:
        draw.text(
            (pad, pad // 2), _fit(draw, title, title_font, sheet.width - 2 * pad), fill=_INK, font=title_font
        )
    if not slots:
        draw.text((pad, title_h + pad), "no sketches in this run", fill=_MUTED, font=cap_font)

    for slot, box in zip(slots, boxes, strict=True):
        x0, y0 = box[0], box[1]
        ok = slot.status.lower() in SUCCESS_STATUSES and slot.path is not None
        img = (
            (_fit_thumb(slot.image, thumb) if slot.image is not None else _load_thumb(Path(slot.path), thumb))
            if ok
            else None
        )
        if img is not None:
            sheet.paste(img, (x0 + (thumb - img.width) // 2, y0 + (thumb - img.height) // 2))
            draw.rectangle(box, outline=_FRAME, width=1)
        else:
            reason = slot.message if not ok else "the sketch file is missing or unreadable"
            status = slot.status if not ok else "unreadable"
            _draw_failed(draw, box, status, reason, cap_font, small_font)
        caption = _fit(draw, f"#{slot.index} {slot.label}", cap_font, thumb)
        draw.text((x0, y0 + thumb + pad // 2), caption, fill=_INK, font=cap_font)

    out_path.parent.mkdir(parents=True, exist_ok=True)
    tmp = out_path.with_name(f".{out_path.name}.{os.getpid()}.tmp")
    try:
        sheet.save(tmp, format="PNG", compress_type=zlib.Z_RLE)  # line art: run-length is fast and small
        os.replace(tmp, out_path)
    finally:
        if tmp.exists():
            tmp.unlink()
    return out_path


def _draw_failed(draw: ImageDraw.ImageDraw, box, status: str, reason: str | None, font, small) -> None:
    """A crossed, thick-framed box with the status in capitals and up to three lines of reason."""
    x0, y0, x1, y1 = box
    w = x1 - x0
    draw.rectangle(box, fill=235, outline=_INK, width=max(3, w // 80))
    draw.line((x0, y0, x1, y1), fill=170, width=max(2, w // 120))
    draw.line((x0, y1, x1, y0), fill=170, width=max(2, w // 120))
    label = status.upper()
    tw = draw.textlength(label, font=font)
    band_h = int(w * 0.36)
    by = y0 + (w - band_h) // 2
    draw.rectangle((x0 + w // 12, by, x1 - w // 12, by + band_h), fill=_PAPER, outline=_INK, width=2)
    draw.text((x0 + (w - tw) / 2, by + band_h * 0.1), label, fill=_INK, font=font)
    lines = _wrap(draw, reason or "no reason recorded", small, w * 0.8, 3)
    line_h = band_h * 0.2
    for i, line in enumerate(lines):
        lw = draw.textlength(line, font=small)
        draw.text((x0 + (w - lw) / 2, by + band_h * 0.38 + i * line_h), line, fill=_MUTED - 40, font=small)
