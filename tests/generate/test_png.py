"""The fixed-filter PNG writer: standard files that decode to exactly the pixels written."""

from __future__ import annotations

import io
import zlib

import numpy as np
import pytest
from PIL import Image

from generate.png import encode_png


def _decode(data: bytes) -> Image.Image:
    with Image.open(io.BytesIO(data)) as img:
        img.load()
        assert img.format == "PNG"
        return img.copy()


def _line_art(size=(257, 131)) -> Image.Image:
    """Paper white with strokes: the content sketch files hold (odd sizes on purpose)."""
    arr = np.full(size[::-1], 255, np.uint8)
    arr[20:24, 10:200] = 30
    arr[:, 100] = 0
    arr[60:, 40:45] = 128
    return Image.fromarray(arr, "L")


@pytest.mark.parametrize("mode", ["L", "RGB"])
def test_round_trip_is_lossless_for_any_pixels(mode):
    rng = np.random.default_rng(7)
    shape = (97, 131) if mode == "L" else (97, 131, 3)
    img = Image.fromarray(rng.integers(0, 256, shape, dtype=np.uint8), mode)
    out = _decode(encode_png(img))
    assert out.mode == mode and out.size == img.size
    assert np.array_equal(np.asarray(out), np.asarray(img))  # wrap-around of the Up filter is exact


def test_line_art_round_trips_and_compresses_like_pillow():
    img = _line_art((1024, 1024))
    data = encode_png(img)
    assert np.array_equal(np.asarray(_decode(data)), np.asarray(img))
    pillow = io.BytesIO()
    img.save(pillow, "PNG", compress_type=zlib.Z_RLE)
    assert len(data) <= 1.5 * len(pillow.getvalue())


def test_every_row_uses_the_up_filter_and_the_crc_checks_out():
    data = encode_png(_line_art())
    assert data.startswith(b"\x89PNG\r\n\x1a\n")
    pos, chunks = 8, {}
    while pos < len(data):
        length = int.from_bytes(data[pos : pos + 4], "big")
        kind, body = data[pos + 4 : pos + 8], data[pos + 8 : pos + 8 + length]
        crc = int.from_bytes(data[pos + 8 + length : pos + 12 + length], "big")
        assert crc == zlib.crc32(kind + body), kind
        chunks[kind] = body
        pos += 12 + length
    assert list(chunks) == [b"IHDR", b"IDAT", b"IEND"]
    raw = zlib.decompress(chunks[b"IDAT"])
    width, height = 257, 131
    assert len(raw) == height * (width + 1)
    assert {raw[row * (width + 1)] for row in range(height)} == {2}


def test_single_row_and_single_pixel_images():
    for size in [(1, 1), (300, 1), (1, 300)]:
        img = Image.new("L", size, 77)
        assert np.array_equal(np.asarray(_decode(encode_png(img))), np.asarray(img))


@pytest.mark.parametrize("mode", ["RGBA", "P", "1", "I;16"])
def test_other_modes_are_refused_by_name(mode):
    with pytest.raises(ValueError, match=mode.replace(";", ".")):
        encode_png(Image.new(mode, (4, 4)))
