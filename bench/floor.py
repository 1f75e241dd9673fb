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
from pathlib import Path

from PIL import Image

from generate.postprocess import process_image
from generate.runs import atomic_write_bytes
from generate.testing.fake_behaviors import make_image


def conversions(width: int, height: int, workdir: Path | None = None) -> dict[str, Callable[[], None]]:
    """The two ways to turn one model image (the fake server's own, ``width`` x ``height``) into a
    grayscale PNG: the plainest Pillow conversion and sketchgen's ``process_image``. With ``workdir``
    each also writes its file there (sketchgen's atomically, as a run does)."""
    data = make_image(width, height, variant=3)

    def plain_pillow() -> None:
        with Image.open(io.BytesIO(data)) as img:
            buf = io.BytesIO()
            img.convert("L").save(buf, "PNG")
        if workdir is not None:
            (workdir / "plain_pillow.png").write_bytes(buf.getvalue())

    def sketchgen() -> None:
        out = process_image(data, resolution=(width, height))
        if workdir is not None:
            atomic_write_bytes(workdir / "sketchgen.png", out.png)

    return {"plain_pillow": plain_pillow, "sketchgen": sketchgen}


def cpu_samples(fns: dict[str, Callable[[], None]], repeats: int) -> dict[str, list[float]]:
    """CPU seconds of ``repeats`` calls of each function (after one warm-up call each), the calls
    interleaved so that drift on the machine hits all of them alike."""
    for fn in fns.values():
        fn()
    samples: dict[str, list[float]] = {name: [] for name in fns}
    for _ in range(repeats):
        for name, fn in fns.items():
            t0 = time.process_time()
            fn()
            samples[name].append(time.process_time() - t0)
    return samples


def conversion_cpu_per_image(width: int = 1024, height: int = 1024, repeats: int = 15) -> dict[str, float]:
    """Least CPU seconds to turn one model image into a grayscale PNG, plain Pillow and sketchgen: a
    floor wants the cost without interference."""
    return {name: min(values) for name, values in cpu_samples(conversions(width, height), repeats).items()}


def floor_wall_over_latency(
    latency: float, images: int, cpu_per_image: float, *, other_cpu_s: float = 0.0, base: float = 1.0
) -> float:
    """``base`` (wall / L with no image work, e.g. the bare SDK's figure) plus the image work and
    ``other_cpu_s`` (other processes on the same cores after L) spread perfectly over every core."""
    cores = os.cpu_count() or 1
    return base + (images * cpu_per_image + other_cpu_s) / cores / latency
