"""Post-processing: any decodable image becomes an 8-bit grayscale PNG of the asked size, measured."""

from __future__ import annotations

import io

import pytest
from PIL import Image

from generate.errors import ErrorCode, ModelCallError
from generate.postprocess import process_image, sniff_mime


def _encode(img, fmt):
    buf = io.BytesIO()
    img.save(buf, fmt)
    return buf.getvalue()


def test_jpeg_labelled_png_is_sniffed_and_converted():
    img = Image.new("RGB", (1200, 896), (30, 120, 220))
    data = _encode(img, "JPEG")
    assert sniff_mime(data) == "image/jpeg"
    out = process_image(data, resolution=(1024, 1024))
    assert out.source_mime == "image/jpeg"
    with Image.open(io.BytesIO(out.png)) as png:
        assert png.format == "PNG" and png.mode == "L" and png.size == (1024, 1024)
    assert out.quality["source_colourfulness"] > 20
    assert any("padded" in w for w in out.warnings)  # 4:3 into 1:1 is padded, not stretched


def test_figures_tell_clean_sketch_from_dark_page():
    clean = Image.new("L", (512, 512), 255)
    clean.paste(0, (200, 200, 300, 300))
    dark = Image.new("L", (512, 512), 20)
    a = process_image(_encode(clean, "PNG"), resolution=None).quality
    b = process_image(_encode(dark, "PNG"), resolution=None).quality
    assert a["background_cleanliness"] == 1.0 and b["background_cleanliness"] == 0.0
    assert 0.03 < a["ink_coverage"] < 0.05 and b["ink_coverage"] == 1.0
    assert a["source_colourfulness"] == 0.0


def test_transparent_png_is_flattened_on_white():
    img = Image.new("RGBA", (256, 256), (0, 0, 0, 0))
    out = process_image(_encode(img, "PNG"), resolution=None)
    assert out.quality["background_cleanliness"] == 1.0


def test_undecodable_bytes_are_a_typed_error():
    with pytest.raises(ModelCallError) as exc:
        process_image(b"\x89PNG\r\n\x1a\nnot really", resolution=None)
    assert exc.value.code == ErrorCode.BAD_IMAGE
