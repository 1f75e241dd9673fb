"""GPU check of the local diffusion family: real weights, real sketches, one JSON object.

For a machine with a CUDA device and the weights on disk (``sketchgen weights --local sdxl-scribble``
beforehand, or ``SKETCHGEN_LOCAL_MODEL_DIR``). It loads ``local:<id>`` from disk only, makes
``--n`` sketches (default 4) of one brief through the pipeline (references retrieved as in a run),
and prints:

* ``load_s``: loading the pipeline onto the device (first sketch's extra time);
* ``s_per_image``: the median wall time of one sketch after the load, and each sketch's time;
* ``peak_gpu_mb``: ``torch.cuda.max_memory_allocated`` over the run (None on the CPU);
* ``same_bytes_again``: whether the first sketch made again with the same seed gives the same bytes;
* ``blank_sketches``: sketches of one flat grey level (an fp16 VAE overflowing gives black images);
* ``prompt_tokens``: the most tokens any sketch's ``prompt`` / ``prompt_2`` / negative texts took,
  counted by the pipeline's own tokenizers (each must be at most ``token_window``), and
  ``sketches_trimmed``: how many sketches carry the warning that something did not fit;
* the device, dtype, steps, and the run folder (look at the sketches).

``--tiny`` runs the same script end to end on a tiny random pipeline (built in a temporary
folder, no weights, no network), on the CPU unless ``--device cuda``: it proves the script and
the plumbing before GPU time is spent on the real weights; its sketches are noise.

Run: ``.venv/bin/python bench/local_gpu.py [--model local:sdxl-scribble] [--n 4] [--steps 30]
[--tiny [--device cuda]]``. Exits 2 with one line when there is no CUDA device (without
``--tiny``), no extra or no weights; 1 when the run was not complete.
"""

from __future__ import annotations

import argparse
import atexit
import io
import json
import os
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from generate.adapter import ImageRequest, get_adapter  # noqa: E402
from generate.errors import SketchgenError  # noqa: E402


def _args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="local:sdxl-scribble")
    parser.add_argument("--n", type=int, default=4)
    parser.add_argument("--steps", type=int, default=None, help="default: the model's (30); 2 with --tiny")
    parser.add_argument("--brief", default="playful golf mascot")
    parser.add_argument("--tiny", action="store_true", help="a tiny random pipeline, no weights needed")
    parser.add_argument(
        "--device", choices=("cpu", "cuda"), default=None, help="default: cuda; cpu with --tiny"
    )
    return parser.parse_args()


def _use_tiny_model(model: str) -> None:
    """Point the family at a tiny random pipeline saved in a temporary folder."""
    from generate.testing.tiny_diffusion import save_tiny_controlnet_pipeline

    root = Path(tempfile.mkdtemp(prefix="sketchgen-tiny-local-"))
    atexit.register(shutil.rmtree, root, ignore_errors=True)
    save_tiny_controlnet_pipeline(root, model.split(":", 1)[-1])
    os.environ["SKETCHGEN_LOCAL_MODEL_DIR"] = str(root)


def _blank(png: bytes) -> bool:
    from PIL import Image

    with Image.open(io.BytesIO(png)) as img:
        low, high = img.convert("L").getextrema()
    return low == high


def main() -> int:
    args = _args()
    device = args.device or ("cpu" if args.tiny else "cuda")
    steps = args.steps or (2 if args.tiny else None)
    if steps:
        os.environ["SKETCHGEN_LOCAL_STEPS"] = str(steps)
    os.environ["SKETCHGEN_LOCAL_DEVICE"] = device
    try:
        import torch
    except ImportError:
        print("no torch here: pip install 'sketchgen[local]'", file=sys.stderr)
        return 2
    cuda = device == "cuda"
    if cuda and not torch.cuda.is_available():
        print("no CUDA device: this check is for a machine with a GPU (or pass --tiny)", file=sys.stderr)
        return 2
    if args.tiny:
        _use_tiny_model(args.model)
    try:
        adapter = get_adapter(args.model)
    except SketchgenError as exc:
        print(exc, file=sys.stderr)
        return 2

    from generate.adapters.diffusers.runtime import load_pipeline, token_counters
    from generate.pipeline import SketchPipeline
    from prompt.compiler import prompt_parts
    from prompt.spec import PromptSpec

    started = time.perf_counter()
    loaded = load_pipeline(adapter.weights)
    if cuda:
        torch.cuda.synchronize()
        torch.cuda.reset_peak_memory_stats()
    load_s = time.perf_counter() - started

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
    peak_mb = round(torch.cuda.max_memory_allocated() / 2**20) if cuda else None

    meta = json.loads(result.metadata_path.read_text())
    run_dir = result.metadata_path.parent
    done = [s for s in meta["sketches"] if s["status"] == "completed"]
    count, count_2, window, window_2 = token_counters(loaded)
    counters = {"prompt": count, "prompt_2": count_2, "negative_prompt": count, "negative_prompt_2": count_2}
    tokens = {
        name: max((counter(s["prompt_sent"][name]) for s in done), default=None)
        for name, counter in counters.items()
    }
    # Determinism on this device: the first sketch's request again, straight through the adapter.
    same = None
    if done:
        first = done[0]
        request = ImageRequest(
            index=first["index"],
            prompt=first["prompt"],
            aspect_ratio=meta["config"]["aspect_ratio"],
            image_size=meta["config"]["image_size"],
            layout=first["variation"]["layout"],
            exaggeration=first["variation"]["exaggeration"],
            reference_images=tuple(Path(r["path"]) for r in first["references_sent"]),
            seed=1,
            timeout_s=3600,
            prompt_parts=prompt_parts(PromptSpec.model_validate(meta["prompt_spec"]), meta["style"]["name"]),
        )
        again = adapter.generate(request)
        same = again.data == adapter.generate(request).data
        same = same and again.prompt_sent == first["prompt_sent"]  # the run sent what the check sends
    print(
        json.dumps(
            {
                "model": args.model,
                "tiny": args.tiny,
                "device": torch.cuda.get_device_name(0) if cuda else "cpu",
                "dtype": str(loaded.pipe.unet.dtype),
                "steps": adapter.steps,
                "weights": adapter.weights.kind,
                "status": result.status,
                "n": args.n,
                "load_s": round(load_s, 2),
                "wall_s": round(wall_s, 2),
                "s_per_image": round(statistics.median(times), 2) if times else None,
                "per_image_s": times,
                "peak_gpu_mb": peak_mb,
                "same_bytes_again": same,
                "blank_sketches": sum(_blank((run_dir / s["file"]).read_bytes()) for s in done),
                "prompt_tokens": tokens,
                "token_window": min(window, window_2),
                "sketches_trimmed": sum(
                    any("tokens of each text encoder" in w for w in s["warnings"]) for s in done
                ),
                "run_dir": str(run_dir),
            },
            indent=2,
        )
    )
    return 0 if result.status == "complete" else 1


if __name__ == "__main__":
    sys.exit(main())
