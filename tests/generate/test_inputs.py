"""The gate every designer image passes: sniffed type, size limit, decompression-bomb guard."""

from __future__ import annotations

import io

import pytest
from PIL import Image

from generate.errors import ConfigError
from generate.inputs import MAX_INPUT_BYTES, check_image_bytes, check_image_file, save_upload


def _encoded(fmt: str, size=(40, 30), mode="RGB") -> bytes:
    out = io.BytesIO()
    Image.new(mode, size, "white").save(out, format=fmt)
    return out.getvalue()


@pytest.mark.parametrize("fmt", ["PNG", "JPEG", "WEBP"])
def test_a_real_image_passes_whatever_its_name(fmt, tmp_path):
    path = tmp_path / "looks-like.gif"
    path.write_bytes(_encoded(fmt))
    checked = check_image_file(path, field="image")
    assert (checked.width, checked.height) == (40, 30) and checked.mime_type.endswith(fmt.lower())


@pytest.mark.parametrize(
    ("data", "words"),
    [
        (b"", "is empty"),
        (b"%PDF-1.7 not an image", "not a PNG, JPEG or WebP"),
        (_encoded("GIF"), "not a PNG, JPEG or WebP"),
        (b"\x89PNG\r\n\x1a\n" + b"\0" * 64, "cannot be read as an image"),
        (b"\x89PNG\r\n\x1a\n" + bytes(MAX_INPUT_BYTES), "the limit is 20 MiB"),
        (_encoded("PNG", (8000, 8000), "1"), "decompression bomb"),
    ],
)
def test_bad_images_are_one_clear_error(data, words):
    with pytest.raises(ConfigError, match=words) as info:
        check_image_bytes(data, field="image")
    assert info.value.field == "image"


def test_a_file_over_the_limit_is_refused_before_it_is_read(tmp_path):
    path = tmp_path / "huge.png"
    with path.open("wb") as fh:
        fh.truncate(MAX_INPUT_BYTES + 1)
    with pytest.raises(ConfigError, match="the limit is 20 MiB"):
        check_image_file(path, field="image")


def test_an_upload_is_kept_once_by_its_hash(tmp_path):
    data = _encoded("PNG")
    first, new = save_upload(data, tmp_path, field="image")
    again, new_again = save_upload(data, tmp_path, field="image")
    assert first == again and new and not new_again and first.read_bytes() == data
    with pytest.raises(ConfigError):
        save_upload(b"nope", tmp_path / "other", field="image")
    assert not (tmp_path / "other").exists()
