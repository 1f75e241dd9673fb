"""GPU check of the local diffusion family: real weights, real sketches, one JSON object.

For a machine with a CUDA device and the weights on disk (``sketchgen weights --local sdxl-scribble``
beforehand, or ``SKETCHGEN_LOCAL_MODEL_DIR``). It loads ``local:<id>`` from disk only, makes
``--n`` sketches (default 4) of one brief through the pipeline (references retrieved as in a run),
and prints:

* ``load_s``: loading the pipeline onto the device (first sketch's extra time);
* ``s_per_image``: the median wall time of one sketch after the load, and each sketch's time;
* ``peak_gpu_mb``: ``torch.cuda.max_memory_allocated`` over the run;
* ``same_bytes_again``: whether the first sketch made again with the same seed gives the same bytes;
* the device, dtype, steps, and the run folder (look at the sketches).

Run: ``.venv/bin/python bench/local_gpu.py [--model local:sdxl-scribble] [--n 4] [--steps 30]``.
Exits 2 with one line when there is no CUDA device, no extra or no weights.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from generate.adapter import ImageRequest, get_adapter  # noqa: E402
from generate.errors import SketchgenError  # noqa: E402


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="local:sdxl-scribble")
    parser.add_argument("--n", type=int, default=4)
    parser.add_argument("--steps", type=int, default=None, help="default: the model's (30)")
    parser.add_argument("--brief", default="playful golf mascot")
    args = parser.parse_args()
    if args.steps:
        os.environ["SKETCHGEN_LOCAL_STEPS"] = str(args.steps)
    try:
        import torch
    except ImportError:
        print("no torch here", file=sys.stderr)
        return 2
    if not torch.cuda.is_available():
        print("no CUDA device: this check is for a machine with a GPU", file=sys.stderr)
        return 2
    try:
        adapter = get_adapter(args.model)
    except SketchgenError as exc:
        print(exc, file=sys.stderr)
        return 2

    from generate.adapters.diffusers.runtime import load_pipeline
    from generate.pipeline import SketchPipeline

    started = time.perf_counter()
    loaded = load_pipeline(adapter.weights)
    torch.cuda.synchronize()
    load_s = time.perf_counter() - started
    torch.cuda.reset_peak_memory_stats()

    out = Path(tempfile.mkdtemp(prefix="sketchgen-local-gpu-"))
    times: list[float] = []

    def on_event(event) -> None:
        if event.event == "sketch.completed":
            times.append(event.latency_s)

    run_started = time.perf_counter()
    result = SketchPipeline(output_dir=out).run(
        {"brief": args.brief, "model": args.model, "num_images": args.n, "seed": 1, "timeout_s": 3600},
        on_event=on_event,
    )
    wall_s = time.perf_counter() - run_started
    peak_mb = torch.cuda.max_memory_allocated() / 2**20

    # Determinism on this device: the first sketch's request again, straight through the adapter.
    meta = json.loads(result.metadata_path.read_text())
    first = meta["sketches"][0]
    request = ImageRequest(
        index=0,
        prompt=first["prompt"],
        aspect_ratio=meta["config"]["aspect_ratio"],
        image_size=meta["config"]["image_size"],
        layout=first["variation"]["layout"],
        exaggeration=first["variation"]["exaggeration"],
        reference_images=tuple(Path(r["path"]) for r in first["references_sent"]),
        seed=1,
        timeout_s=3600,
    )
    same = adapter.generate(request).data == adapter.generate(request).data
    print(
        json.dumps(
            {
                "model": args.model,
                "device": torch.cuda.get_device_name(0),
                "dtype": str(loaded.pipe.unet.dtype),
                "steps": adapter.steps,
                "weights": adapter.weights.kind,
                "status": result.status,
                "n": args.n,
                "load_s": round(load_s, 2),
                "wall_s": round(wall_s, 2),
                "s_per_image": round(statistics.median(times), 2) if times else None,
                "per_image_s": times,
                "peak_gpu_mb": round(peak_mb),
                "same_bytes_again": same,
                "run_dir": str(result.metadata_path.parent),
            },
            indent=2,
        )
    )
    return 0 if result.status == "complete" else 1


if __name__ == "__main__":
    sys.exit(main())
