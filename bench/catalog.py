"""Run-catalog benchmark: prints ONE JSON object with figures, targets and pass/fail per target.

    .venv/bin/python bench/catalog.py                  # 100,000 synthetic runs (a few minutes)
    .venv/bin/python bench/catalog.py --runs 10000     # quicker

Parts, all on one outputs folder of synthetic run folders (each with a realistic metadata.json):

* ``build``: seconds to build the catalog from the folders (``generate.run_catalog.reindex``, what
  ``sketchgen runs --reindex`` runs, and what the first history query on an uncatalogued folder does).
* ``queries``: p50/p99 of ``GET /runs`` through the real FastAPI app (in process, over ASGI) with a
  style filter, with a text search, with a deep offset (90 % down the history), and with a filter
  that matches nothing. Target: p50 <= 20 ms and p99 <= 100 ms at 100,000 runs.
* ``baseline``: the same filter that matches nothing, answered the way the history was answered
  before the catalog (``generate.runs.scan_runs``: read every folder's metadata), measured in the
  same run; ``ratio`` is baseline p50 / catalog p50.

Nothing here reaches the network. Progress goes to stderr; stdout is the JSON alone.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import copy
import json
import os
import platform
import random
import statistics
import sys
import tempfile
import time
from datetime import datetime, timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from generate.run_catalog import reindex  # noqa: E402
from generate.runs import atomic_write_json, scan_runs  # noqa: E402

STYLES = ["vintage-mascot", "line-art", "blueprint", "storyboard", "retro-badge"]
MODELS = ["gemini-3-pro-image-preview", "gemini-2.5-flash-image", "trace"]
WORDS = "golf owl rocket bear lighthouse fox robot dragon coffee surf badge poster mug crest".split()
ADJECTIVES = "playful stern retro calm bold tiny heroic sleepy".split()


def log(text: str) -> None:
    print(text, file=sys.stderr, flush=True)


def template_metadata(workdir: Path) -> dict:
    """A real run's metadata.json (three traced sketches, offline) to copy: the size and shape of
    what the catalog reads at 100,000 runs."""
    from generate.pipeline import RunRequest, SketchPipeline

    result = SketchPipeline(output_dir=workdir).run(
        RunRequest(brief="playful golf mascot", model="trace", num_images=4, top_k=1)
    )
    return json.loads((workdir / result.run_id / "metadata.json").read_text("utf-8"))


def make_runs(root: Path, n: int, template: dict, seed: int = 7) -> None:
    """``n`` run folders, one a minute back from 2026-12-01, each a copy of ``template`` with its own
    id, time, brief, style, model, status and cost."""
    rng = random.Random(seed)
    start = datetime(2026, 12, 1, 9, 0, 0)
    for i in range(n):
        when = start - timedelta(minutes=i)
        run_id = when.strftime("%Y%m%d_%H%M%S")
        model = rng.choice(MODELS)
        meta = copy.deepcopy(template)
        meta.update(run_id=run_id, timestamp=when.isoformat(), status="complete" if i % 17 else "partial")
        meta["style_id"] = STYLES[i % len(STYLES)]
        meta["prompt_spec"]["brief"] = (
            f"{rng.choice(ADJECTIVES)} {rng.choice(WORDS)} {rng.choice(WORDS)} mascot for run {i}"
        )
        meta["config"]["model_name"] = model
        meta["model"] = {**(meta.get("model") or {}), "requested": model, "used": model}
        meta["totals"]["cost_usd"] = 0.536 if model != "trace" else 0.0
        folder = root / run_id
        folder.mkdir()
        atomic_write_json(folder / "metadata.json", meta, durable=False)
        if i and i % 10_000 == 0:
            log(f"  {i} runs written")


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def figures(samples: list[float]) -> dict[str, float]:
    return {
        "p50_ms": round(statistics.median(samples) * 1000, 2),
        "p99_ms": round(percentile(samples, 0.99) * 1000, 2),
        "max_ms": round(max(samples) * 1000, 2),
        "n": len(samples),
    }


async def time_queries(root: Path, queries: dict[str, dict], repeats: int) -> dict[str, dict]:
    import httpx

    from api.main import create_app

    app = create_app(output_dir=root)
    out = {}
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://bench") as client:
        for name, params in queries.items():
            samples = []
            for _ in range(repeats):
                t0 = time.perf_counter()
                response = await client.get("/runs", params=params)
                samples.append(time.perf_counter() - t0)
                if response.status_code != 200:
                    raise SystemExit(f"GET /runs {params} answered {response.status_code}: {response.text}")
            out[name] = {"params": params, "returned": len(response.json()["runs"]), **figures(samples)}
            log(f"  {name}: p50 {out[name]['p50_ms']} ms, p99 {out[name]['p99_ms']} ms")
    return out


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--runs", type=int, default=100_000)
    parser.add_argument("--repeats", type=int, default=200, help="requests per query kind")
    parser.add_argument("--baseline-repeats", type=int, default=3)
    parser.add_argument("--dir", default=None, help="where to make the outputs folder (default: a temp dir)")
    parser.add_argument(
        "--keep",
        default=None,
        metavar="DIR",
        help="make the runs in DIR and leave them there; a second run with the same DIR reuses them",
    )
    args = parser.parse_args()

    place = contextlib.nullcontext(args.keep) if args.keep else tempfile.TemporaryDirectory(dir=args.dir)
    with place as tmp:
        root = Path(tmp) / "outputs"
        template = template_metadata(Path(tmp) / "template")
        write_s = None
        if root.is_dir() and sum(1 for _ in root.iterdir()) >= args.runs:
            log(f"reusing the runs in {root}")
        else:
            root.mkdir(parents=True)
            log(
                f"writing {args.runs} synthetic runs in {root} ({len(json.dumps(template))} bytes of metadata each)"
            )
            t0 = time.perf_counter()
            make_runs(root, args.runs, template)
            write_s = time.perf_counter() - t0

        log("building the catalog from the folders")
        t0 = time.perf_counter()
        count = reindex(root)
        build_s = time.perf_counter() - t0
        assert count == args.runs, (count, args.runs)

        queries = {
            "style_filter": {"style": "line-art", "limit": 50},
            "text_search": {"q": "lighthouse robot", "limit": 50},
            "deep_offset": {"offset": int(args.runs * 0.9), "limit": 50},
            "matches_nothing": {"style": "no-such-style", "limit": 50},
        }
        log(f"timing GET /runs, {args.repeats} requests per query kind")
        catalog = asyncio.run(time_queries(root, queries, args.repeats))

        log(f"baseline: the folder scan for a filter that matches nothing, {args.baseline_repeats}x")
        samples = []
        for _ in range(args.baseline_repeats):
            t0 = time.perf_counter()
            found = scan_runs(root, style="no-such-style", limit=50)
            samples.append(time.perf_counter() - t0)
            assert found == []
        baseline = figures(samples)

    worst_p50 = max(q["p50_ms"] for q in catalog.values())
    worst_p99 = max(q["p99_ms"] for q in catalog.values())
    report = {
        "benchmark": "catalog",
        "machine": {
            "cpus": os.cpu_count(),
            "python": platform.python_version(),
            "load_avg_1m_at_end": round(os.getloadavg()[0], 1),
        },
        "runs": args.runs,
        "metadata_bytes_per_run": len(json.dumps(template)),
        "write_folders_s": None if write_s is None else round(write_s, 1),
        "build": {"seconds": round(build_s, 2), "runs_per_s": round(args.runs / build_s)},
        "queries": catalog,
        "baseline": {"what": "generate.runs.scan_runs, filter matching nothing", **baseline},
        "ratio_baseline_over_catalog_p50": round(
            baseline["p50_ms"] / catalog["matches_nothing"]["p50_ms"], 1
        ),
        "targets": {
            "p50_ms<=20": {"value": worst_p50, "pass": worst_p50 <= 20},
            "p99_ms<=100": {"value": worst_p99, "pass": worst_p99 <= 100},
        },
    }
    print(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
