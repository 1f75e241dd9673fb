"""Cut a sheet (one image holding a grid of sketches) into its cells by finding the gutters.

Pure image arithmetic on a grayscale array (numpy), no I/O: :func:`find_cells` is shared by every
mode of the generator and tested on synthetic images.

How the gutters are found (never a blind equal split):

1. A thin dark frame drawn around the whole sheet is stripped first (line-like rows/columns within
   the outer few percent of each edge).
2. Row gutters: a row is *white* when at most :data:`GUTTER_INK` of its pixels are darker than
   :data:`WHITE` (a thin line along a gutter, a cell's own border, counts as white too). Runs of white rows at least :data:`MIN_GUTTER` of the height tall are gutter
   candidates. For each of the ``rows - 1`` boundaries the widest candidate whose centre lies within
   ±:data:`WINDOW` of a cell pitch of where an even grid would put it is the gutter (so uneven
   spacing is fine); none there means that gutter is missing.
3. Column gutters are found the same way, separately inside each row band, so a missing gutter in
   one row costs that row's cells only.
4. A cell spans from the middle of the gutter before it to the middle of the gutter after it (the
   sheet's edge for outer cells). Thin border lines at a cell's edges are stripped, then the cell is
   checked: not mostly empty, not far from the shape an even grid gives it.

A cell that cannot be separated cleanly comes back with ``box=None`` and a ``code``/``message``
(:class:`generate.errors.ErrorCode` ``SHEET_GUTTER``, ``SHEET_CELL_EMPTY``, ``SHEET_CELL_SHAPE``):
the caller reports it as a failed sketch and never saves it.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

import numpy as np

from generate.errors import ConfigError, ErrorCode

__all__ = ["SheetLayout", "SheetCell", "SHEET_LAYOUTS", "MIN_CELL_PX", "check_cell_size", "find_cells"]

# Layouts are written columns x rows, like an image size (width x height): "3x2" is three across.
SHEET_LAYOUTS = ("2x2", "3x2", "2x3", "3x3")
_LAYOUT = re.compile(r"^\s*(\d+)\s*[x×X*]\s*(\d+)\s*$")

MIN_CELL_PX = 384  # a cell smaller than this a side is too small to draw over
WHITE = 235  # a pixel at or above this gray level is paper ...
PAPER_MARGIN = 20  # ... or at most this much darker than the sheet's paper, if that is darker
GUTTER_INK = 0.02  # share of non-white pixels a gutter row/column may hold (specks, JPEG noise)
MIN_GUTTER = 0.006  # a gutter is at least this share of the sheet's side (and 2 px)
WINDOW = 0.4  # a boundary's gutter lies within this share of a cell pitch of the even-grid line
NARROW_GUTTER = 0.4  # a gutter narrower than this share of the sheet's median gutter is not one
LINE_INK = 0.6  # a row/column this dark is a drawn border line, not drawing
THIN_LINE = 0.01  # ... when at most this share of the side thick
# Border lines are looked for within this share of a side from each edge: the sheet's frame hugs
# the image edge; a cell's own border sits past half a gutter.
FRAME_DEPTH = 0.04
CELL_BORDER_DEPTH = 0.08
MIN_CELL_INK = 0.004  # a cell with less non-white than this is empty
MAX_SHAPE_ERROR = 1.5  # a cell's aspect may differ from the even grid's by at most this factor
MIN_CELL_SHARE = 0.5  # ... and each side must be at least this share of the even grid's


@dataclass(frozen=True)
class SheetLayout:
    """A grid of ``cols`` x ``rows`` cells, read in reading order (row by row, left to right)."""

    cols: int
    rows: int

    @property
    def cells(self) -> int:
        return self.cols * self.rows

    @property
    def name(self) -> str:
        return f"{self.cols}x{self.rows}"

    @classmethod
    def parse(cls, value: object) -> SheetLayout:
        """``"2x2"``, ``"3x2"`` (three columns, two rows), ``"2x3"`` or ``"3x3"``; ConfigError(field
        ``sheet``) for anything else."""
        if isinstance(value, SheetLayout):
            return value
        match = _LAYOUT.match(value) if isinstance(value, str) else None
        layout = cls(int(match.group(1)), int(match.group(2))) if match else None
        if layout is None or layout.name not in SHEET_LAYOUTS:
            raise ConfigError(
                f"sheet must be one of {', '.join(SHEET_LAYOUTS)} (columns x rows), got {value!r}",
                field="sheet",
            )
        return layout

    @classmethod
    def drop_matching_count(cls, data: Any) -> Any:
        """A request's fields with ``num_images`` left out when it equals its ``sheet``'s cell count
        (a 3x3 sheet's 9 is then not refused by a 3-6 bound meant for one call per sketch); any
        other count is left for the config to refuse."""
        if not isinstance(data, dict) or not data.get("sheet") or data.get("num_images") in (None, ""):
            return data
        try:
            cells = cls.parse(data["sheet"]).cells
            same = not isinstance(data["num_images"], bool) and int(data["num_images"]) == cells
        except (ConfigError, TypeError, ValueError):
            return data
        return {k: v for k, v in data.items() if k != "num_images"} if same else data

    def position(self, cell: int) -> tuple[int, int]:
        """(row, column) of the ``cell``-th cell in reading order."""
        return divmod(cell, self.cols)


@dataclass(frozen=True)
class SheetCell:
    """One cell of a cut sheet: ``box`` (x0, y0, x1, y1; end exclusive) or why it has none."""

    row: int
    col: int
    box: tuple[int, int, int, int] | None
    code: str | None = None
    message: str | None = None

    @property
    def ok(self) -> bool:
        return self.box is not None


def check_cell_size(layout: SheetLayout, pixels: tuple[int, int] | None, *, model: str, where: str) -> None:
    """ConfigError(field ``sheet``) when the image (``pixels``, width x height) cannot hold the
    layout's cells at :data:`MIN_CELL_PX` a side; ``where`` names the aspect ratio and size."""
    if pixels is None:
        return
    cell_w, cell_h = pixels[0] // layout.cols, pixels[1] // layout.rows
    if min(cell_w, cell_h) < MIN_CELL_PX:
        raise ConfigError(
            f"sheet {layout.name} is too fine for {model} at {where}: its images are "
            f"{pixels[0]}x{pixels[1]}, so each cell would be about {cell_w}x{cell_h} px "
            f"(at least {MIN_CELL_PX} px a side is needed); choose a larger image size or a smaller sheet",
            field="sheet",
        )


def _share(ink: np.ndarray, axis: int) -> np.ndarray:
    """Share of ink along ``axis`` (1: per row, 0: per column), without a float copy of the image."""
    return np.count_nonzero(ink, axis=axis) / max(1, ink.shape[axis])


def _runs(white: np.ndarray) -> list[tuple[int, int]]:
    """Maximal runs of True as (start, end) with end exclusive."""
    padded = np.concatenate(([False], white, [False])).astype(np.int8)
    edges = np.flatnonzero(np.diff(padded))
    return [(int(a), int(b)) for a, b in zip(edges[::2], edges[1::2], strict=True)]


def _gutter_like(ink_share: np.ndarray) -> np.ndarray:
    """Rows (or columns) that may be part of a gutter: paper, or a thin border line drawn along
    it (a cell's frame), which the white on either side then joins."""
    paper = ink_share <= GUTTER_INK
    thin = max(3, round(THIN_LINE * len(ink_share)))
    for a, b in _runs(ink_share >= LINE_INK):
        if b - a <= thin:
            paper[a:b] = True
    return paper


def _boundaries(ink_share: np.ndarray, parts: int) -> list[tuple[float, float] | None]:
    """(cut, width) of the gutter at each of the ``parts - 1`` boundaries along one axis, None where
    none was found. ``cut`` is the gutter's middle; for a run of white that holds a blank cell
    (wider than a cell, or reaching the sheet's edge) it is the even-grid line, kept inside the run."""
    length = len(ink_share)
    pitch = length / parts
    min_width = max(2, round(MIN_GUTTER * length))
    runs = [(a, b) for a, b in _runs(_gutter_like(ink_share)) if b - a >= min_width]
    found: list[tuple[float, float] | None] = []
    for k in range(1, parts):
        expected = k * pitch
        near = []
        for a, b in runs:
            blank = b - a > pitch or a == 0 or b == length  # holds a blank cell, not just a gutter
            cut = min(max(expected, a + min_width), b - min_width) if blank else (a + b) / 2
            if abs(cut - expected) <= WINDOW * pitch:
                near.append((min(b - a, pitch / 2), -abs(cut - expected), cut))
        if not near:
            found.append(None)
            continue
        width, _, cut = max(near)
        found.append((cut, width))
    return found


def _drop_narrow(*axes: list[tuple[float, float] | None]) -> None:
    """Forget gutters much narrower than the sheet's typical one (in place).

    A stroke that bridges a gutter leaves only slivers of white beside it, in a cell's own margin;
    cutting there would save parts of two drawings as one cell.
    """
    widths = [g[1] for axis in axes for g in axis if g is not None]
    if not widths:
        return
    floor = NARROW_GUTTER * float(np.median(widths))
    for axis in axes:
        for i, gutter in enumerate(axis):
            if gutter is not None and gutter[1] < floor:
                axis[i] = None


def _edge_lines(ink: np.ndarray, depth_share: float) -> tuple[int, int, int, int]:
    """(top, bottom, left, right) of ``ink`` once thin border lines at its edges are stripped."""
    h, w = ink.shape
    rows, cols = _share(ink, 1), _share(ink, 0)

    def strip(profile: np.ndarray, side: int) -> tuple[int, int]:
        depth = max(3, round(depth_share * side))
        lines = np.flatnonzero(profile[:depth] >= LINE_INK)
        start = int(lines[-1]) + 1 if len(lines) else 0
        lines = np.flatnonzero(profile[::-1][:depth] >= LINE_INK)
        end = side - (int(lines[-1]) + 1 if len(lines) else 0)
        return start, end

    top, bottom = strip(rows, h)
    left, right = strip(cols, w)
    return top, bottom, left, right


def _missing(row: int, col: int, what: str) -> SheetCell:
    return SheetCell(
        row,
        col,
        None,
        ErrorCode.SHEET_GUTTER,
        f"sheet cell (row {row + 1}, column {col + 1}) could not be separated: {what} not found",
    )


def find_cells(gray: np.ndarray, layout: SheetLayout) -> list[SheetCell]:
    """The ``layout.cells`` cells of the sheet ``gray`` (2-D uint8), in reading order.

    Never raises for a badly drawn sheet: a cell that cannot be separated cleanly carries its
    error instead of a box (see the module docstring).
    """
    gray = np.asarray(gray)
    # Paper is what most of a sheet is; a model may draw on off-white or gray-tinted paper.
    paper = float(np.percentile(gray[::4, ::4], 75))  # a sample is plenty, and a 4K sort is not free
    ink = gray < min(WHITE, paper - PAPER_MARGIN)
    height, width = ink.shape
    top, bottom, left, right = _edge_lines(ink, FRAME_DEPTH)
    inner = ink[top:bottom, left:right]
    ih, iw = inner.shape
    pitch_w, pitch_h = iw / layout.cols, ih / layout.rows
    row_gutters = _boundaries(_share(inner, 1), layout.rows)
    # Column gutters per row band (a band spans from gutter middle to gutter middle).
    row_cuts = [0.0, *(g[0] if g else None for g in row_gutters), float(ih)]
    col_gutters: list[list[tuple[float, float] | None] | None] = []
    for r in range(layout.rows):
        y0, y1 = row_cuts[r], row_cuts[r + 1]
        band = inner[round(y0) : round(y1)] if y0 is not None and y1 is not None else None
        col_gutters.append(_boundaries(_share(band, 0), layout.cols) if band is not None else None)
    _drop_narrow(row_gutters, *(g for g in col_gutters if g is not None))
    row_cuts = [0.0, *(g[0] if g else None for g in row_gutters), float(ih)]
    cells: list[SheetCell] = []
    for r in range(layout.rows):
        y0, y1 = row_cuts[r], row_cuts[r + 1]
        gutters = col_gutters[r]
        if y0 is None or y1 is None or gutters is None:
            side = "above" if y0 is None else "below"
            cells += [_missing(r, c, f"the gutter {side} its row") for c in range(layout.cols)]
            continue
        col_cuts = [0.0, *(g[0] if g else None for g in gutters), float(iw)]
        for c in range(layout.cols):
            x0, x1 = col_cuts[c], col_cuts[c + 1]
            if x0 is None or x1 is None:
                side = "left of" if x0 is None else "right of"
                cells.append(_missing(r, c, f"the gutter {side} it in its row"))
                continue
            box = (round(x0), round(y0), round(x1), round(y1))
            cells.append(_check_cell(inner, r, c, box, (pitch_w, pitch_h), (left, top)))
    return cells


def _check_cell(
    inner: np.ndarray,
    row: int,
    col: int,
    box: tuple[int, int, int, int],
    pitch: tuple[float, float],
    offset: tuple[int, int],
) -> SheetCell:
    x0, y0, x1, y1 = box
    top, bottom, left, right = _edge_lines(inner[y0:y1, x0:x1], CELL_BORDER_DEPTH)
    x0, y0, x1, y1 = x0 + left, y0 + top, x0 + right, y0 + bottom
    where = f"sheet cell (row {row + 1}, column {col + 1})"
    w, h = x1 - x0, y1 - y0
    if w < MIN_CELL_SHARE * pitch[0] or h < MIN_CELL_SHARE * pitch[1]:
        return SheetCell(
            row,
            col,
            None,
            ErrorCode.SHEET_CELL_SHAPE,
            f"{where} is {w}x{h} px, too small for a {pitch[0]:.0f}x{pitch[1]:.0f} px grid cell",
        )
    expected, actual = pitch[0] / pitch[1], w / h
    if max(actual / expected, expected / actual) > MAX_SHAPE_ERROR:
        return SheetCell(
            row,
            col,
            None,
            ErrorCode.SHEET_CELL_SHAPE,
            f"{where} is {w}x{h} px, far from the grid's cell shape ({pitch[0]:.0f}x{pitch[1]:.0f} px)",
        )
    share = float(np.count_nonzero(inner[y0:y1, x0:x1])) / max(1, w * h)
    if share < MIN_CELL_INK:
        return SheetCell(
            row, col, None, ErrorCode.SHEET_CELL_EMPTY, f"{where} is empty ({share:.2%} of it drawn)"
        )
    return SheetCell(row, col, (x0 + offset[0], y0 + offset[1], x1 + offset[0], y1 + offset[1]))
