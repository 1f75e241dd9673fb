"""The sheet cutter on synthetic grids: gutters are found, not assumed; bad cells come back failed."""

from __future__ import annotations

import io

import numpy as np
import pytest
from PIL import Image

from generate.errors import ConfigError, ErrorCode
from generate.sheet_cut import SheetLayout, find_cells


def grid(xs, ys, size, *, frame=0, cell_border=0, blank=(), bridge_row=None):
    """A white page of ``size`` (w, h) with a drawing in every cell spanned by ``xs`` x ``ys``."""
    w, h = size
    page = np.full((h, w), 250, np.uint8)
    for r, (y0, y1) in enumerate(ys):
        for c, (x0, x1) in enumerate(xs):
            if (r, c) in blank:
                continue
            cw, ch = x1 - x0, y1 - y0
            # A figure: an outline box and a diagonal, inset from the cell's edges.
            page[y0 + ch // 4 : y0 + ch // 4 + 6, x0 + cw // 5 : x1 - cw // 5] = 20
            page[y1 - ch // 4 : y1 - ch // 4 + 6, x0 + cw // 5 : x1 - cw // 5] = 20
            page[y0 + ch // 4 : y1 - ch // 4, x0 + cw // 5 : x0 + cw // 5 + 6] = 20
            for t in range(ch // 2):
                page[y0 + ch // 4 + t, x0 + cw // 5 + t * (cw // 2) // max(1, ch // 2)] = 60
            if cell_border:
                page[y0 : y0 + cell_border, x0:x1] = 0
                page[y1 - cell_border : y1, x0:x1] = 0
                page[y0:y1, x0 : x0 + cell_border] = 0
                page[y0:y1, x1 - cell_border : x1] = 0
    if bridge_row is not None:
        y0, y1 = ys[bridge_row]
        page[y0 + (y1 - y0) // 3 : y1 - (y1 - y0) // 3, xs[0][1] - 60 : xs[-1][0] + 60] = 30
    if frame:
        page[:frame], page[-frame:], page[:, :frame], page[:, -frame:] = 0, 0, 0, 0
    return page


UNEVEN_X = [(20, 600), (635, 1000)]  # uneven columns, a 35 px gutter well right of the middle
UNEVEN_Y = [(15, 380), (420, 1005)]  # uneven rows, a 40 px gutter well above the middle


def test_uneven_gutters_are_found_where_they_are_not_where_an_even_split_puts_them():
    page = grid(UNEVEN_X, UNEVEN_Y, (1024, 1024))
    cells = find_cells(page, SheetLayout.parse("2x2"))
    assert [c.ok for c in cells] == [True] * 4
    assert [(c.row, c.col) for c in cells] == [(0, 0), (0, 1), (1, 0), (1, 1)]
    across, down = cells[0].box[2], cells[0].box[3]
    assert cells[1].box[0] == across and cells[3].box[1] == down
    # The cuts run through paper only, well off the even grid's 512.
    assert page[:, across].min() > 200 and page[down, :].min() > 200
    assert across > 560 and down < 470
    for cell, (x0, x1), (y0, y1) in zip(
        cells, UNEVEN_X * 2, [UNEVEN_Y[0]] * 2 + [UNEVEN_Y[1]] * 2, strict=True
    ):
        drawn = page[y0:y1, x0:x1] < 200
        ys, xs = np.nonzero(drawn)
        bx0, by0, bx1, by1 = cell.box
        # The whole drawing of the cell is inside its box.
        assert bx0 <= x0 + xs.min() and x0 + xs.max() < bx1 and by0 <= y0 + ys.min() and y0 + ys.max() < by1


def test_a_frame_and_cell_borders_are_tolerated_and_stripped():
    xs, ys = [(30, 330), (350, 670), (690, 995)], [(30, 480), (520, 995)]
    page = grid(xs, ys, (1024, 1024), frame=3, cell_border=2)
    cells = find_cells(page, SheetLayout.parse("3x2"))
    assert all(c.ok for c in cells), [c.message for c in cells]
    for cell in cells:
        x0, y0, x1, y1 = cell.box
        inside = page[y0:y1, x0:x1]
        # No border line left at a cut edge: the outer rows/columns of each cell are paper.
        assert inside[0].min() > 200 and inside[-1].min() > 200
        assert inside[:, 0].min() > 200 and inside[:, -1].min() > 200


def test_a_bridged_gutter_fails_the_cells_beside_it_and_only_those():
    xs = [(20, 330), (360, 670), (700, 1000)]
    ys = [(20, 330), (360, 670), (700, 1000)]
    cells = find_cells(grid(xs, ys, (1024, 1024), bridge_row=1), SheetLayout.parse("3x3"))
    failed = [(c.row, c.col) for c in cells if not c.ok]
    assert failed == [(1, 0), (1, 1), (1, 2)]
    for cell in cells:
        if not cell.ok:
            assert cell.code == ErrorCode.SHEET_GUTTER and cell.box is None
            assert f"row {cell.row + 1}, column {cell.col + 1}" in cell.message


def test_a_blank_cell_is_reported_empty_and_its_neighbours_survive():
    cells = find_cells(grid(UNEVEN_X, UNEVEN_Y, (1024, 1024), blank={(0, 1)}), SheetLayout.parse("2x2"))
    assert [c.ok for c in cells] == [True, False, True, True]
    assert cells[1].code == ErrorCode.SHEET_CELL_EMPTY and "empty" in cells[1].message


def test_a_cell_far_from_the_grid_shape_is_refused():
    # The column gutter sits far left of the middle: the left cells are tall strips.
    xs, ys = [(20, 250), (290, 1000)], [(20, 490), (530, 1000)]
    cells = find_cells(grid(xs, ys, (1024, 1024)), SheetLayout.parse("2x2"))
    assert [c.ok for c in cells] == [False, True, False, True]
    assert cells[0].code == cells[2].code == ErrorCode.SHEET_CELL_SHAPE
    assert "far from the grid's cell shape" in cells[0].message


def test_a_plain_drawing_is_not_mistaken_for_a_sheet():
    page = np.full((1024, 1024), 250, np.uint8)
    page[100:900, 100:106] = 0
    page[100:106, 100:900] = 0
    page[500:506, 100:900] = 0
    page[100:900, 600:606] = 0
    cells = find_cells(page, SheetLayout.parse("2x2"))
    assert not all(c.ok for c in cells)


@pytest.mark.parametrize("value", ["2x2", "3x2", "2x3", "3x3", " 3X2 ", "2×2"])
def test_layouts_parse_as_columns_by_rows(value):
    layout = SheetLayout.parse(value)
    assert layout.name == value.strip().lower().replace("×", "x")
    assert layout.cells == layout.cols * layout.rows
    assert layout.position(layout.cols) == (1, 0)


@pytest.mark.parametrize("value", ["4x4", "1x2", "2by2", "", None, 4])
def test_unknown_layouts_are_one_clear_error(value):
    with pytest.raises(ConfigError) as info:
        SheetLayout.parse(value)
    assert info.value.field == "sheet" and "2x2, 3x2, 2x3, 3x3" in str(info.value)


def test_gray_tinted_paper_and_jpeg_noise_still_cut():
    page = (grid(UNEVEN_X, UNEVEN_Y, (1024, 1024)) * 0.86).astype(np.uint8)  # paper at ~215, not white
    buf = io.BytesIO()
    Image.fromarray(page).save(buf, format="JPEG", quality=70)
    noisy = np.asarray(Image.open(io.BytesIO(buf.getvalue())).convert("L"))
    cells = find_cells(noisy, SheetLayout.parse("2x2"))
    assert [c.ok for c in cells] == [True] * 4
    assert 560 < cells[0].box[2] < 700
