"""Thumbnails stay small: a big run does not flood an agent's context."""

from __future__ import annotations

import base64
import io

import numpy as np
import pytest
from PIL import Image

from mcp_server.thumbnails import MAX_BYTES_EACH, MAX_BYTES_TOTAL, MAX_COUNT, MAX_PX, make_thumbnails


def _noisy(path, size, seed=0):
    rng = np.random.default_rng(seed)
    Image.fromarray(rng.integers(0, 256, size[::-1], dtype=np.uint8), "L").save(path)
    return path


def test_each_thumbnail_is_small_and_the_set_is_capped(tmp_path):
    # Pixel noise at thumbnail size is the worst case for JPEG: the quality is lowered to fit, and
    # what does not fit the cap is left out and named.
    paths = [(i, _noisy(tmp_path / f"sketch_{i}.png", size=(MAX_PX, 192), seed=i)) for i in range(12)]
    shown = make_thumbnails(paths)
    assert 0 < len(shown.thumbnails) <= MAX_COUNT and shown.omitted
    assert shown.total_bytes <= MAX_BYTES_TOTAL
    assert [t.index for t in shown.thumbnails] + shown.omitted == sorted(range(12))
    big = make_thumbnails([(0, _noisy(tmp_path / "big.png", size=(2048, 1536)))]).thumbnails[0]
    with Image.open(io.BytesIO(big.data)) as img:
        assert img.size == (MAX_PX, 192) and img.format == "JPEG"
    for thumb in shown.thumbnails:
        assert len(thumb.data) <= MAX_BYTES_EACH
        with Image.open(io.BytesIO(thumb.data)) as img:
            assert max(img.size) == MAX_PX and img.format == "JPEG"
    described = shown.describe()
    assert described["omitted"] == shown.omitted and "left out" in described["note"]


def test_an_unreadable_file_is_left_out(tmp_path):
    bad = tmp_path / "sketch_0.png"
    bad.write_bytes(b"not an image")
    shown = make_thumbnails([(0, bad), (1, _noisy(tmp_path / "sketch_1.png", size=(900, 600)))])
    assert [t.index for t in shown.thumbnails] == [1] and shown.omitted == [0]


@pytest.mark.slow
async def test_a_six_sketch_4k_run_answers_in_a_few_hundred_kb(connect, fake, output_dir):
    async with connect() as client:
        result = await client.call_tool(
            "generate_sketches",
            {"brief": "golf mascot", "model": "nano-banana-pro", "num_images": 6, "image_size": "4K"},
        )
        assert not result.is_error, result.content[0].text
    run_id = result.structured_content["run_id"]
    on_disk = sum(p.stat().st_size for p in (output_dir / run_id).iterdir())
    answer = len(result.model_dump_json())
    images = [c for c in result.content if c.type == "image"]
    assert len(images) == 6 and all(len(base64.b64decode(i.data)) <= MAX_BYTES_EACH for i in images)
    for image in images:
        with Image.open(io.BytesIO(base64.b64decode(image.data))) as img:
            assert max(img.size) <= MAX_PX
    assert answer <= MAX_BYTES_TOTAL * 4 // 3 + 100_000  # base64 of the thumbnails, and the JSON
    assert answer * 10 < on_disk  # the full sketches are links, not content
    links = [c for c in result.content if c.type == "resource_link"]
    assert all((output_dir / run_id / c.name).stat().st_size == c.size for c in links)
