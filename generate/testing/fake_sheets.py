"""Sheet images for the fake Gemini server: a grid of distinct sketch-like cells with white gutters.

When a prompt asks for a sheet (``sheet_request`` finds "C columns by R rows" in it) the fake answers
with :func:`make_sheet`: gutters of uneven width, cells of uneven size, a thin frame around the
whole sheet, as a real model draws it. Faults for the tests: ``bridge_row`` draws a stroke across
the column gutters of one row (those cells cannot be separated), ``blank_cell`` leaves one cell
empty.
"""

from __future__ import annotations

import functools
import io
import random
import re

from PIL import Image, ImageDraw

__all__ = ["make_sheet", "sheet_request"]

_SHEET = re.compile(r"\b(\d) columns? by (\d) rows?\b", re.IGNORECASE)
_PAPER = (252, 250, 245)
_PALETTE = [(30, 60, 160), (180, 40, 40), (30, 120, 60), (200, 140, 20), (120, 40, 140), (20, 20, 20)]


def sheet_request(prompt: str) -> tuple[int, int] | None:
    """(columns, rows) when ``prompt`` asks for a sheet, else None."""
    match = _SHEET.search(prompt or "")
    return (int(match.group(1)), int(match.group(2))) if match else None


def _spans(length: int, parts: int, rng: random.Random) -> list[tuple[int, int]]:
    """``parts`` (start, end) cell spans along a side: uneven cells, uneven gutters (2-5 % each)."""
    margin = round(length * 0.015)
    gutters = [round(length * rng.uniform(0.02, 0.05)) for _ in range(parts - 1)]
    room = length - 2 * margin - sum(gutters)
    weights = [rng.uniform(0.92, 1.08) for _ in range(parts)]
    sizes = [int(room * w / sum(weights)) for w in weights]
    spans, pos = [], margin
    for i, size in enumerate(sizes):
        spans.append((pos, pos + size))
        pos += size + (gutters[i] if i < len(gutters) else 0)
    return spans


def _draw_cell(draw: ImageDraw.ImageDraw, box: tuple[int, int, int, int], variant: int) -> None:
    """A sketch-like drawing, different per ``variant``, kept inside ``box`` with a white margin."""
    x0, y0, x1, y1 = box
    w, h = x1 - x0, y1 - y0
    rng = random.Random(variant * 7919 + w)
    stroke = max(2, min(w, h) // 60)
    colour = _PALETTE[variant % len(_PALETTE)]
    cx, cy, r = x0 + w / 2, y0 + h * 0.45, min(w, h) * (0.18 + 0.04 * (variant % 4))
    if variant % 2:
        draw.ellipse((cx - r, cy - r, cx + r, cy + r), outline=colour, width=stroke * 2)
    else:
        draw.rectangle((cx - r, cy - r * 0.8, cx + r, cy + r * 0.8), outline=colour, width=stroke * 2)
    for _ in range(5):
        draw.line(
            [(x0 + rng.uniform(0.15, 0.85) * w, y0 + rng.uniform(0.15, 0.85) * h) for _ in range(2)],
            fill=colour,
            width=stroke,
        )
    draw.line((x0 + w * 0.15, y0 + h * 0.82, x1 - w * 0.15, y0 + h * 0.82), fill=(20, 20, 20), width=stroke)


def make_sheet(
    width: int,
    height: int,
    cols: int,
    rows: int,
    variant: int = 0,
    *,
    bridge_row: int | None = None,
    blank_cell: tuple[int, int] | None = None,
) -> bytes:
    """A PNG sheet of ``cols`` x ``rows`` cells (see the module docstring), deterministic per arguments."""
    return _make_sheet(width, height, cols, rows, variant, bridge_row, blank_cell)


@functools.lru_cache(maxsize=16)
def _make_sheet(width, height, cols, rows, variant, bridge_row, blank_cell) -> bytes:
    rng = random.Random(f"{variant}:{cols}x{rows}:{width}x{height}")
    img = Image.new("RGB", (width, height), _PAPER)
    draw = ImageDraw.Draw(img)
    xs, ys = _spans(width, cols, rng), _spans(height, rows, rng)
    for r, (y0, y1) in enumerate(ys):
        for c, (x0, x1) in enumerate(xs):
            if blank_cell != (r, c):
                _draw_cell(draw, (x0, y0, x1, y1), variant * 16 + r * cols + c)
    if bridge_row is not None:  # the drawing spills over every column gutter of that row
        y0, y1 = ys[bridge_row]
        top, bottom = y0 + (y1 - y0) * 0.4, y0 + (y1 - y0) * 0.65
        for (start, left), (right, end) in zip(xs, xs[1:], strict=False):
            draw.rectangle(
                (left - (left - start) // 4, top, right + (end - right) // 4, bottom), fill=(40, 40, 40)
            )
    draw.rectangle((0, 0, width - 1, height - 1), outline=(30, 30, 30), width=max(2, width // 400))
    out = io.BytesIO()
    img.save(out, format="PNG", compress_level=1)
    return out.getvalue()
