"""The trace model's sheets: traced cells composed into one grid image with white gutters.

The trace model reads no prompt, so a sheet request (:class:`generate.adapter.SheetRequest`)
names each cell's layout and exaggeration; each cell is traced like a single sketch of that
variation (from the cell's own reference, as sketch ``k`` of a run would be) and placed on one white
page. Sheet mode then cuts the page apart again by its gutters: an offline way to see and test
the whole path.
"""

from __future__ import annotations

from collections.abc import Callable

from PIL import Image

__all__ = ["MARGIN", "GUTTER", "cell_boxes", "compose_sheet"]

MARGIN = 0.02  # of the page's side, around the grid
GUTTER = 0.04  # of the page's side, between cells


def cell_boxes(size: tuple[int, int], cols: int, rows: int) -> list[tuple[int, int, int, int]]:
    """(x0, y0, x1, y1) of every cell of a ``cols`` x ``rows`` grid on a page of ``size``, in
    reading order."""
    width, height = size

    def spans(length: int, parts: int) -> list[tuple[int, int]]:
        margin, gutter = round(length * MARGIN), round(length * GUTTER)
        cell = (length - 2 * margin - (parts - 1) * gutter) // parts
        return [(margin + i * (cell + gutter), margin + i * (cell + gutter) + cell) for i in range(parts)]

    return [(x0, y0, x1, y1) for y0, y1 in spans(height, rows) for x0, x1 in spans(width, cols)]


def compose_sheet(
    size: tuple[int, int], cols: int, rows: int, draw_cell: Callable[[int, tuple[int, int]], Image.Image]
) -> Image.Image:
    """A white page of ``size`` holding ``draw_cell(k, (w, h))`` in every cell ``k`` (mode "L")."""
    page = Image.new("L", size, 255)
    for k, (x0, y0, x1, y1) in enumerate(cell_boxes(size, cols, rows)):
        page.paste(draw_cell(k, (x1 - x0, y1 - y0)).convert("L"), (x0, y0))
    return page
