"""Batch benchmark: a batch of briefs under a per-model image rate limit. Prints one JSON object.

Setup: the fake Gemini server in its own process (answers every call after L s, default 1 s), and
this process running ``SketchPipeline.arun_batch`` over B briefs of N sketches each (default 200 x 4)
with ``SKETCHGEN_RATE_LIMITS="<model id>=<ipm>"`` (images per minute, default 60) set for the
process's shared limiter. When half the batch's sketches are done, an *interactive* run of N
sketches starts beside it, as a designer's ``generate`` would in the same process.

Figures:

* ``wall_s`` of the batch (``check_s`` of it checking every row first) against its ``floor_s`` = B x N / ipm minutes (a rate limit admits no
  more); ``wall_over_floor`` should be close to 1 (above: the limit is not kept busy; well below:
  the limit is not enforced, which ``limit_enforced`` says);
* ``lost``: sketches asked for minus sketches written (target 0), and the rows not complete;
* ``interactive``: its latency in the middle of the batch against its latency alone (measured
  first, same process, after one warm-up run, nothing else running) plus one rate slot (60 / ipm
  s); target: within it.

The full size takes at least B x N / ipm minutes (13.3 for 800 images at 60/min); ``--briefs 10
--per-brief 3`` is a one-minute version.

Run: ``.venv/bin/python bench/batch.py [--briefs 200] [--per-brief 4] [--ipm 60] [--latency 1.0]``
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from generate.testing import fake_gemini_process  # noqa: E402

BRIEFS = ("golf mascot", "coffee cup logo", "bike shop badge", "surf club crest", "bakery emblem")


def _build_reads_rate_limits() -> bool:
    """Whether this build's library knows SKETCHGEN_RATE_LIMITS at all (it may be absent)."""
    return any(
        "SKETCHGEN_RATE_LIMITS" in path.read_text(encoding="utf-8")
        for path in (ROOT / "generate").rglob("*.py")
        if "testing" not in path.parts
    )


async def _interactive(pipeline, model: str, n: int) -> float:
    from generate.pipeline import RunRequest

    started = time.perf_counter()
    result = await pipeline.arun(RunRequest(brief="interactive golf mascot", model=model, num_images=n))
    if result.status != "complete":
        raise RuntimeError(f"the interactive run ended {result.status}")
    return time.perf_counter() - started


async def _bench(args, out: Path) -> dict:
    from generate.events import SketchCompleted
    from generate.pipeline import SketchPipeline

    pipeline = SketchPipeline(output_dir=out)
    n = args.per_brief
    await _interactive(pipeline, args.model, n)  # warm-up: imports, style files, the first client
    alone = await _interactive(pipeline, args.model, n)

    rows = [{"brief": f"{BRIEFS[i % len(BRIEFS)]} number {i}", "seed": i} for i in range(args.briefs)]
    total = args.briefs * n
    done = 0
    middle = asyncio.get_running_loop().create_future()

    def on_event(ev) -> None:
        nonlocal done
        if isinstance(ev, SketchCompleted):
            done += 1
            if done >= total // 2 and not middle.done():
                middle.set_result(time.perf_counter())

    from generate.batch import prepare_batch
    from generate.batch_run import arun_prepared

    started = time.perf_counter()
    prepared = await asyncio.to_thread(
        prepare_batch, pipeline, rows, defaults={"model": args.model, "num_images": n}, parallel=args.parallel
    )
    check_s = time.perf_counter() - started  # every row checked, its adapter built, the manifest made
    batch = asyncio.create_task(arun_prepared(prepared, on_event=on_event))
    interactive_s = None
    finished_first = asyncio.ensure_future(asyncio.shield(batch))
    waited = await asyncio.wait({middle, finished_first}, return_when=asyncio.FIRST_COMPLETED)
    if middle in waited[0]:
        interactive_s = await _interactive(pipeline, args.model, n)
    result = await batch
    wall = time.perf_counter() - started

    written = sum(1 for r in result.rows if r.run_id for _ in (out / r.run_id).glob("sketch_*.png"))
    floor = total / args.ipm * 60.0
    slot = 60.0 / args.ipm
    return {
        "wall_s": round(wall, 2),
        "check_s": round(check_s, 2),
        "floor_s": round(floor, 2),
        "wall_over_floor": round(wall / floor, 3),
        "limit_enforced": wall >= 0.9 * floor,
        "build_reads_SKETCHGEN_RATE_LIMITS": _build_reads_rate_limits(),
        "images": total,
        "written": written,
        "lost": total - written,
        "rows_not_complete": sum(1 for r in result.rows if r.status != "complete"),
        "batch_status": result.status,
        "interactive": {
            "alone_s": round(alone, 2),
            "in_batch_s": round(interactive_s, 2) if interactive_s is not None else None,
            "rate_slot_s": round(slot, 2),
            "target_s": round(alone + slot, 2),
            "within_target": interactive_s is not None and interactive_s <= alone + slot,
        },
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--briefs", type=int, default=200)
    parser.add_argument("--per-brief", type=int, default=4, help="sketches per brief (3-6)")
    parser.add_argument("--ipm", type=int, default=60, help="the model's images-per-minute limit")
    parser.add_argument("--latency", type=float, default=1.0, help="the fake server's answer delay, s")
    parser.add_argument("--parallel", type=int, default=4, help="batch runs in flight at once")
    parser.add_argument("--model", default="nano-banana")
    args = parser.parse_args()

    from generate.adapters.gemini.catalog import resolve_model

    model_id = resolve_model(args.model).id
    with tempfile.TemporaryDirectory() as tmp, fake_gemini_process(args.latency) as (base, record):
        for name in ("SKETCHGEN_API_TOKEN", "GOOGLE_API_KEY", "GEMINI_MODEL", "SKETCHGEN_STYLES_DIR"):
            os.environ.pop(name, None)
        os.environ.update(
            {
                "GEMINI_API_KEY": "bench-key",
                "GEMINI_BASE_URL": base,
                "SKETCHGEN_INDEX_DIR": str(Path(tmp) / "index"),
                "SKETCHGEN_RATE_LIMITS": f"{model_id}={args.ipm}",
                "HF_HUB_OFFLINE": "1",
            }
        )
        import logging

        logging.basicConfig(level=logging.ERROR)
        figures = asyncio.run(_bench(args, Path(tmp) / "outputs"))
    figures["fake_server_requests"] = record.get("requests")
    report = {
        "benchmark": "batch",
        "setup": {
            "briefs": args.briefs,
            "per_brief": args.per_brief,
            "ipm": args.ipm,
            "latency_s": args.latency,
            "parallel": args.parallel,
            "model": model_id,
            "SKETCHGEN_RATE_LIMITS": f"{model_id}={args.ipm}",
            "cpus": os.cpu_count(),
            "python": platform.python_version(),
        },
        **figures,
        "targets": {
            "lost": 0,
            "wall_over_floor": "about 1",
            "interactive": "in_batch_s <= alone_s + rate_slot_s",
        },
    }
    print(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
