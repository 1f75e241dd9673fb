"""contact_sheet.png: every slot in a grid, failed ones visibly marked, written atomically."""

from __future__ import annotations

import unicodedata
from pathlib import Path

import numpy as np
import pytest
from PIL import Image, ImageDraw

from generate.contact_sheet import ContactSlot, build_contact_sheet, sheet_layout

THUMB = 200


def sketch(path: Path, seed: int) -> Path:
    """A sketch-like image: paper with a few dark strokes."""
    im = Image.new("L", (512, 512), 255)
    d = ImageDraw.Draw(im)
    rng = np.random.default_rng(seed)
    for _ in range(6):
        x0, y0, x1, y1 = (int(v) for v in rng.integers(40, 470, 4))
        d.line((x0, y0, x1, y1), fill=20, width=8)
    im.save(path)
    return path


def box_stats(sheet: np.ndarray, box) -> tuple[float, float]:
    """(mean of the box's 3-px border, mean of its interior)."""
    x0, y0, x1, y1 = box
    region = sheet[y0:y1, x0:x1].astype(float)
    border = np.concatenate(
        [region[:3].ravel(), region[-3:].ravel(), region[:, :3].ravel(), region[:, -3:].ravel()]
    )
    return float(border.mean()), float(region[10:-10, 10:-10].mean())


@pytest.fixture
def slots(tmp_path) -> list[ContactSlot]:
    return [
        ContactSlot(0, sketch(tmp_path / "sketch_0.png", 0), "centered-hero / subtle", "ok"),
        ContactSlot(
            1, None, "three-quarter / moderate", "failed", "rate_limited: 429 quota after 3 attempts"
        ),
        ContactSlot(2, sketch(tmp_path / "sketch_2.png", 2), "close-up-bust / bold", "ok"),
        ContactSlot(3, None, "action-pose / moderate", "cancelled"),
        ContactSlot(4, tmp_path / "missing.png", "badge-emblem / subtle", "ok"),  # says ok, file is gone
    ]


def test_grid_holds_every_slot_and_marks_failures(slots, tmp_path):
    out = build_contact_sheet(
        slots, tmp_path / "run" / "contact_sheet.png", title="20250101_120000", thumb=THUMB
    )
    assert out == tmp_path / "run" / "contact_sheet.png"
    with Image.open(out) as im:
        im.load()
        sheet = np.asarray(im)
        assert im.mode == "L"
    size, boxes = sheet_layout(5, thumb=THUMB, titled=True)
    assert sheet.shape == (size[1], size[0]) and len(boxes) == 5
    assert sheet.shape[1] > 3 * THUMB and sheet.shape[0] > 2 * THUMB  # 3 columns x 2 rows

    for slot, box in zip(slots, boxes, strict=True):
        border, inside = box_stats(sheet, box)
        if slot.index in (0, 2):  # real sketches: light frame, mostly paper
            assert border > 150 and inside > 200, slot
        else:  # failed, cancelled, missing file: heavy dark frame over a grey box
            assert border < 60 and inside < 235, slot


def test_slots_are_placed_by_index_not_list_order(slots, tmp_path):
    a = build_contact_sheet(slots, tmp_path / "a.png", thumb=THUMB)
    b = build_contact_sheet(list(reversed(slots)), tmp_path / "b.png", thumb=THUMB)
    assert np.array_equal(np.asarray(Image.open(a)), np.asarray(Image.open(b)))


def test_two_and_four_slots_use_two_columns():
    (w2, _), _ = sheet_layout(2, thumb=THUMB)
    (w4, h4), boxes = sheet_layout(4, thumb=THUMB)
    (w3, _), _ = sheet_layout(3, thumb=THUMB)
    assert w2 == w4 < w3 and boxes[2][1] > boxes[0][1]


def test_written_atomically_and_overwrites(slots, tmp_path):
    target = tmp_path / "contact_sheet.png"
    target.write_bytes(b"old")
    build_contact_sheet(slots[:2], target, thumb=THUMB)
    with Image.open(target) as im:
        assert im.format == "PNG"
    assert sorted(p.name for p in tmp_path.iterdir() if p.name.startswith(".")) == []  # no temp file left


def test_empty_run_still_gets_a_sheet(tmp_path):
    out = build_contact_sheet([], tmp_path / "contact_sheet.png", title="nothing", thumb=THUMB)
    with Image.open(out) as im:
        assert im.mode == "L" and im.width > 0


def test_long_labels_and_reasons_do_not_overflow(tmp_path):
    slot = ContactSlot(7, None, "x" * 300, "failed", "word " * 200)
    out = build_contact_sheet([slot], tmp_path / "c.png", thumb=120)
    with Image.open(out) as im:
        size, _ = sheet_layout(1, thumb=120)
        assert im.size == size


def test_sheet_filled_as_sketches_arrive_matches_the_one_built_at_once(slots, tmp_path):
    """A run pastes each sketch as it is written (from worker threads, in any order) and marks the
    failures at the end; the file is the same as drawing everything in one go."""
    from concurrent.futures import ThreadPoolExecutor

    from generate.contact_sheet import ContactSheet

    sheet = ContactSheet([(s.index, s.label) for s in slots], title="run", thumb=THUMB)
    assert sheet.filled == set()
    with ThreadPoolExecutor(2) as pool:
        list(pool.map(lambda s: sheet.place(s.index, Image.open(s.path)), [slots[2], slots[0]]))
    assert sheet.filled == {0, 2}
    for s in slots[1:2] + slots[3:4]:
        sheet.mark_failed(s.index, s.status, s.message)
    sheet.mark_failed(4, "unreadable", "the sketch file is missing or unreadable")
    incremental = sheet.save(tmp_path / "incremental.png")
    at_once = build_contact_sheet(slots, tmp_path / "at_once.png", title="run", thumb=THUMB)
    assert np.array_equal(np.asarray(Image.open(incremental)), np.asarray(Image.open(at_once)))


def test_a_large_picture_is_scaled_into_its_cell(tmp_path):
    from generate.contact_sheet import ContactSheet

    sheet = ContactSheet([(0, "a")], thumb=THUMB)
    big = Image.new("L", (1600, 800), 255)
    ImageDraw.Draw(big).rectangle((0, 0, 1599, 799), outline=0, width=40)
    sheet.place(0, big)
    arr = np.asarray(Image.open(sheet.save(tmp_path / "s.png")))
    _, boxes = sheet_layout(1, thumb=THUMB)
    x0, y0 = boxes[0][:2]
    dark_rows = np.nonzero(arr[:, x0 + THUMB // 2] < 100)[0]
    # a 2:1 picture fills the cell's width and half its height, centred: its frame is the dark band
    top, bottom = y0 + THUMB // 4, y0 + 3 * THUMB // 4
    assert abs(dark_rows.min() - top) <= 2 and abs(dark_rows.max() - (bottom - 1)) <= 2
    dark_cols = np.nonzero(arr[y0 + THUMB // 2, x0 : x0 + THUMB] < 100)[0]
    assert dark_cols.min() <= 2 and dark_cols.max() >= THUMB - 3


# ---- titles in any script ----------------------------------------------------------------------
def _have_fonts() -> bool:
    from generate.fonts import _fallback_paths

    names = {p.name for p in _fallback_paths()}
    cjk = names & {"NotoSansCJK-Regular.ttc", "wqy-microhei.ttc", "DroidSansFallbackFull.ttf"}
    thai = names & {"NotoSansThai-Regular.ttf", "Loma.ttf", "Garuda.ttf"}
    return bool(cjk and thai)


needs_fonts = pytest.mark.skipif(
    not _have_fonts(),
    reason="needs a CJK and a Thai font (apt: fonts-wqy-microhei fonts-tlwg-loma-ttf; .ci/run)",
)
NO_GLYPH = "\U000f0001"  # a private-use code point no font draws: the .notdef box


def _glyph(char: str) -> bytes:
    from generate.fonts import FallbackFont

    font = FallbackFont(32)
    im = Image.new("L", (64, 64), 255)
    font.draw_text(ImageDraw.Draw(im), (8, 8), char, 0)
    return im.tobytes()


@needs_fonts
@pytest.mark.parametrize(
    "text", ["สนุกกอล์ฟมาสคอต", "高尔夫吉祥物", "ゴルフのマスコット", "골프 마스코트", "café"]
)
def test_every_character_of_a_thai_or_cjk_brief_has_its_own_glyph(text):
    box = _glyph(NO_GLYPH)
    chars = [c for c in dict.fromkeys(text) if not c.isspace() and unicodedata.category(c) != "Mn"]
    glyphs = [_glyph(c) for c in chars]
    assert all(g != box for g in glyphs), "drawn as the missing-glyph box"
    assert len(set(glyphs)) == len(glyphs), "distinct characters drew the same picture (boxes)"
    assert all(g != Image.new("L", (64, 64), 255).tobytes() for g in glyphs), "drew nothing"


def _title_band(title: str, tmp_path: Path) -> np.ndarray:
    out = build_contact_sheet(
        [ContactSlot(0, None, "centered-hero / bold", "failed", "x")],
        tmp_path / f"{len(title)}.png",
        title=title,
    )
    sheet = np.asarray(Image.open(out))
    return sheet[: THUMB // 4]


@needs_fonts
def test_contact_sheet_titles_in_thai_and_chinese_are_not_boxes(tmp_path):
    boxes = _title_band(NO_GLYPH * 6, tmp_path)
    thai = _title_band("สนุกกอล์ฟ", tmp_path)
    chinese = _title_band("高尔夫吉祥", tmp_path)
    other_chinese = _title_band("复古徽章设", tmp_path)
    for band in (thai, chinese, other_chinese):
        assert (band < 128).sum() > 50  # ink in the title
    # Boxes draw every title of a length alike; real glyphs do not.
    assert not np.array_equal(chinese, other_chinese)
    assert not np.array_equal(chinese[:, : chinese.shape[1] // 3], boxes[:, : boxes.shape[1] // 3])
