"""Benchmark of the offline ``trace`` model: seconds per sketch at 1K and 2K (and optionally 4K).

Each size renders the same 8 requests (the shipped ``vintage-mascot`` references, the 8 layouts, the
3 exaggeration levels in turn) through ``get_adapter("trace").generate`` - the full call: decode the
reference, trace, PNG-encode - after one warm-up call. Reported per size: median / mean / max wall
seconds and CPU seconds per sketch, and PNG bytes. ``demo_4x1K_s`` is the wall time of the README
demo's model work: 4 sketches at 1K 1:1 made concurrently the way the generator does (threads).

Run on its own: ``.venv/bin/python bench/trace_bench.py [--sizes 1K 2K 4K]`` prints JSON.
``bench/generation.py`` imports :func:`bench_trace`.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from generate.adapter import ImageRequest, get_adapter  # noqa: E402
from generate.adapters.trace.sketchify import EXAGGERATIONS, LAYOUTS, pixel_size  # noqa: E402

__all__ = ["bench_trace"]

REFERENCES = ROOT / "style" / "builtin" / "references" / "vintage-mascot"


def _requests(image_size: str, aspect_ratio: str = "1:1") -> list[ImageRequest]:
    refs = tuple(sorted(REFERENCES.glob("*.png")))
    levels = list(EXAGGERATIONS)
    return [
        ImageRequest(
            index=i,
            prompt="bench",
            aspect_ratio=aspect_ratio,
            image_size=image_size,
            layout=layout,
            exaggeration=levels[i % len(levels)],
            reference_images=refs,
            seed=1,
        )
        for i, layout in enumerate(LAYOUTS)
    ]


def _time_size(adapter, image_size: str) -> dict:
    reqs = _requests(image_size)
    adapter.generate(reqs[0])  # warm-up: imports, first-touch allocations
    walls, cpus, sizes = [], [], []
    for req in reqs:
        w0, c0 = time.perf_counter(), time.process_time()
        out = adapter.generate(req)
        walls.append(time.perf_counter() - w0)
        cpus.append(time.process_time() - c0)
        sizes.append(len(out.data))
    return {
        "pixels": list(pixel_size("1:1", image_size)),
        "n": len(reqs),
        "median_s": round(statistics.median(walls), 4),
        "mean_s": round(statistics.fmean(walls), 4),
        "max_s": round(max(walls), 4),
        "median_cpu_s": round(statistics.median(cpus), 4),
        "median_png_kb": round(statistics.median(sizes) / 1024, 1),
    }


def _demo_wall(adapter, workers: int = 4) -> float:
    reqs = _requests("1K")[:4]
    t0 = time.perf_counter()
    with ThreadPoolExecutor(max_workers=workers) as pool:
        list(pool.map(adapter.generate, reqs))
    return round(time.perf_counter() - t0, 3)


def bench_trace(sizes: tuple[str, ...] = ("1K", "2K")) -> dict:
    """Time the trace model per sketch at each size; returns a JSON-ready dict."""
    adapter = get_adapter("trace")
    per_size = {size: _time_size(adapter, size) for size in sizes}
    return {
        "benchmark": "trace",
        "model": "trace",
        "machine": {
            "cpus": os.cpu_count(),
            "python": platform.python_version(),
            "machine": platform.machine(),
        },
        "per_sketch": per_size,
        "demo_4x1K_s": _demo_wall(adapter),
        "targets_met": {
            "1K_median<1s": per_size.get("1K", {}).get("median_s", 0) < 1.0,
            "2K_median<5s": per_size.get("2K", {}).get("median_s", 0) < 5.0,
        },
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", nargs="+", default=["1K", "2K"], choices=["1K", "2K", "4K"])
    args = parser.parse_args(argv)
    print(json.dumps(bench_trace(tuple(args.sizes)), indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
