"""The floor under the wall-time targets on the machine a benchmark runs on.

When every model answer lands at the same instant (the fake server answers each call after exactly
L seconds), each image must still be decoded, made grayscale and written as a PNG. That CPU work
cannot start before L and cannot use more than the machine's cores, so a run cannot finish before

    L + (images x CPU per image + other processes' CPU) / cores

even with perfect parallelism and nothing else to do. The CPU per image is measured in the same run on
the fake server's own image, two ways: the plainest Pillow conversion (decode, ``convert("L")``, PNG
encode) and sketchgen's :func:`generate.postprocess.process_image` (which also measures the image and
makes the contact-sheet thumbnail, and encodes faster). The floor uses the cheaper of the two. The
benchmarks print it next to their figures, so a target that sits below it on a small machine shows
as such.
"""

from __future__ import annotations

import io
import os
import time
from collections.abc import Callable

from PIL import Image

from generate.postprocess import process_image
from generate.testing.fake_behaviors import make_image


def _least_cpu(fn: Callable[[], object], repeats: int) -> float:
    """The least CPU time of ``repeats`` calls: a floor wants the cost without interference."""
    fn()
    samples = []
    for _ in range(repeats):
        t0 = time.process_time()
        fn()
        samples.append(time.process_time() - t0)
    return min(samples)


def conversion_cpu_per_image(width: int = 1024, height: int = 1024, repeats: int = 15) -> dict[str, float]:
    """Least CPU seconds to turn one model image into a grayscale PNG: plain Pillow and sketchgen."""
    data = make_image(width, height, variant=3)

    def plain_pillow() -> None:
        with Image.open(io.BytesIO(data)) as img:
            img.convert("L").save(io.BytesIO(), "PNG")

    return {
        "plain_pillow": _least_cpu(plain_pillow, repeats),
        "sketchgen": _least_cpu(lambda: process_image(data, resolution=(width, height)), repeats),
    }


def floor_wall_over_latency(
    latency: float, images: int, cpu_per_image: float, *, other_cpu_s: float = 0.0, base: float = 1.0
) -> float:
    """``base`` (wall / L with no image work, e.g. the bare SDK's figure) plus the image work and
    ``other_cpu_s`` (other processes on the same cores after L) spread perfectly over every core."""
    cores = os.cpu_count() or 1
    return base + (images * cpu_per_image + other_cpu_s) / cores / latency
