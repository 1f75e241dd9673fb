"""``sketchgen batch FILE``: one run per row, one progress line over every sketch, a summary table."""

from __future__ import annotations

import asyncio
import json
import sys
import time

from cli.commands import FLAGS
from cli.progress import LiveStatus
from generate.events import RunCompleted, RunEvent, RunStarted, SketchCompleted, SketchFailed, SketchRetry
from generate.redact import redact

__all__ = ["add_batch_parser", "cmd_batch", "BatchStatus"]


def add_batch_parser(sub, whole_number) -> None:
    b = sub.add_parser("batch", help="one run per row of a .csv or .jsonl of briefs (resumable)")
    b.add_argument("file", metavar="FILE", help="a .csv with a header row, or .jsonl; column brief at least")
    b.add_argument("--style", default=None, help="default style id for rows without one")
    b.add_argument(
        "-n", "--num-images", type=whole_number, default=None, help="default sketches per row (3-6)"
    )
    b.add_argument("--model", default=None, help="default model for rows without one (default auto)")
    b.add_argument("--aspect", default=None, help="default aspect ratio")
    b.add_argument("--size", default=None, help="default image size: 1K, 2K or 4K")
    b.add_argument("--resolution", default=None, help="default exact output size, e.g. 1024x1024")
    b.add_argument("--seed", type=whole_number, default=None, help="default seed")
    b.add_argument("--top-k", type=whole_number, default=None, help="default reference images per run")
    b.add_argument("--timeout", default=None, metavar="SECONDS", help="default per model call")
    b.add_argument(
        "--max-cost",
        default=None,
        metavar="USD",
        help="the whole batch's cap: stop starting runs before recorded spend + in-flight worst case passes it",
    )
    b.add_argument("--parallel", type=whole_number, default=4, help="runs in flight at once (default 4)")
    b.add_argument(
        "--resume",
        default=None,
        metavar="BATCH_ID",
        help="resume this batch (default: the newest of the same file)",
    )
    b.add_argument(
        "--batch-api", action="store_true", help="send the sketches as a Gemini Batch API job (half price)"
    )
    b.add_argument("--output-dir", default=None, help="where run folders go (the manifest in <it>/batches/)")
    b.add_argument("--json", action="store_true", help="machine-readable summary on stdout")


class BatchStatus(LiveStatus):
    """The live status line over every sketch of every run of the batch (keyed by run and index)."""

    def on_event(self, event: RunEvent) -> None:
        key = (event.run_id, getattr(event, "index", None))
        if isinstance(event, RunStarted):
            self._open()
        elif isinstance(event, SketchRetry):
            self._retry_until[key] = time.monotonic() + max(0.0, event.delay_s)
        elif isinstance(event, (SketchCompleted, SketchFailed)):
            self._finished.add(key)
            self._retry_until.pop(key, None)
            self.done = len(self._finished)
        self.refresh()


def _defaults(args) -> dict:
    return {
        "style_id": args.style,
        "num_images": args.num_images,
        "model": args.model,
        "aspect_ratio": args.aspect,
        "image_size": args.size,
        "resolution": args.resolution,
        "seed": args.seed,
        "top_k": args.top_k,
        "timeout_s": args.timeout,
    }


def cmd_batch(args) -> int:
    from generate.batch import prepare_batch
    from generate.batch_run import arun_prepared
    from generate.pipeline import SketchPipeline

    as_json = args.json
    out = sys.stderr if as_json else sys.stdout

    from generate.errors import ConfigError
    from generate.types import check_max_cost

    cap = check_max_cost(args.max_cost, source="--max-cost")
    if args.batch_api:  # said before any manifest exists
        try:
            import generate.batch_api  # noqa: F401
        except ModuleNotFoundError as exc:
            if exc.name != "generate.batch_api":
                raise
            raise ConfigError(
                "the Gemini Batch API is not available in this build", field="batch_api"
            ) from None
    if args.parallel < 1:
        raise ConfigError(f"--parallel must be at least 1 (got {args.parallel})", field="parallel")
    pipeline = SketchPipeline(output_dir=args.output_dir)
    batch = prepare_batch(
        pipeline,
        args.file,
        defaults=_defaults(args),
        max_cost_usd=cap,
        labels=FLAGS,
        resume=args.resume,
        parallel=args.parallel,
        batch_api=args.batch_api,
    )
    complete = {r["row"] for r in batch.manifest.data["rows"] if r["status"] == "complete"}
    total = sum(r.prepared.config.num_images for r in batch.rows if r.number not in complete)
    status = BatchStatus(total, max(r.prepared.config.max_concurrency for r in batch.rows))
    rows_of = {}

    def show(text: str) -> None:
        status.write(redact(text), out)

    done = len(complete)
    again = f" (resuming: {done} of {len(batch.rows)} rows already complete)" if batch.resumed else ""
    carried = batch.manifest.data.get("carried_from")
    if carried and carried.get("rows"):
        again = (
            f" (the file changed since batch {carried['batch_id']}: {carried['rows']} unchanged rows "
            f"carried over, {done} already complete)"
        )
    cap = f", cap ${batch.max_cost_usd:.2f}" if batch.max_cost_usd is not None else ""
    show(f"sketchgen: batch {batch.batch_id}: {len(batch.rows)} rows, {total} sketches to make{cap}{again}")
    show(f"  manifest: {batch.manifest.path}")

    def on_event(ev: RunEvent) -> None:
        if isinstance(ev, RunStarted):
            rows_of[ev.run_id] = next(
                (r["row"] for r in batch.manifest.data["rows"] if r.get("run_id") == ev.run_id), "?"
            )
        elif isinstance(ev, RunCompleted):
            show(
                f"  row {rows_of.get(ev.run_id, '?')}: {ev.run_id} {ev.status}, "
                f"{ev.succeeded} ok / {ev.failed} failed, ${ev.cost_usd:.3f}"
            )
        status.on_event(ev)

    options = _batch_api_options(args, batch, show) if args.batch_api else None

    async def run():
        ticker = asyncio.create_task(status.tick()) if status.enabled else None
        try:
            return await arun_prepared(
                batch, on_event=on_event, batch_api=args.batch_api, batch_api_options=options
            )
        finally:
            status.close()
            if ticker is not None:
                ticker.cancel()

    try:
        result = asyncio.run(run())
    except KeyboardInterrupt:
        if not args.batch_api:
            # The runs in flight were recorded cancelled: say how to pick the batch up again.
            print(
                f"interrupted: batch {batch.batch_id} stopped, its manifest is saved; run the same "
                "command again to resume it (complete rows are skipped, cancelled runs resumed)",
                file=sys.stderr,
                flush=True,
            )
            return 130
        # The job is not "pending model calls": say what became of it (the line above says how
        # to resume a kept one).
        entry = batch.manifest.data.get("batch_api") or {}
        job = entry.get("job")
        if not job:
            line = "interrupted before the batch job was submitted: nothing was sent"
        elif entry.get("cancelled"):
            line = f"interrupted: stopped waiting for batch job {job}; it was cancelled at Google"
        elif entry.get("state") in ("SUCCEEDED", "FAILED", "CANCELLED", "EXPIRED"):
            line = f"interrupted while writing the runs of batch job {job}: run the command again to finish"
        else:
            line = f"interrupted: stopped waiting for batch job {job}; it goes on at Google"
        print(line, file=sys.stderr, flush=True)
        return 130
    if as_json:
        print(redact(json.dumps(result.to_dict(), indent=2)), flush=True)
    else:
        _print_summary(result)
    return 0 if result.status == "complete" else (3 if result.status == "partial" else 4)


def _batch_api_options(args, batch, show) -> dict:
    """``--batch-api``: say each change of the job's state; on Ctrl-C ask whether to cancel it (no
    terminal: keep it running), and say how to resume."""
    from generate.batch_api import ask_cancel

    resume = f"sketchgen batch {args.file} --batch-api --resume {batch.batch_id}"
    last: dict[str, str] = {}

    def on_state(state: dict) -> None:
        if not last:  # the first poll: what the job is and how long it may take
            since = f", submitted {state['submitted_at']}" if state.get("submitted_at") else ""
            show(
                f"  Gemini batch job {state['job']} ({state['model']}{since}): the Batch API aims to "
                "finish within 24 hours, usually much sooner; Ctrl-C stops waiting (the job keeps "
                "running unless you cancel it)"
            )
        if last.get("state") != state["state"]:
            last["state"] = state["state"]
            show(f"  Gemini batch job {state['job']} ({state['model']}): {state['state'].lower()}")

    return {"on_state": on_state, "on_interrupt": lambda job: ask_cancel(job, command=resume)}


def _print_summary(result) -> None:
    print(f"\n{'row':>5}  {'run id':<20} {'status':<15} {'ok':>3} {'failed':>6} {'cost':>9}")
    for r in result.rows:
        print(
            f"{r.row:>5}  {r.run_id or '-':<20} {r.status:<15} {r.succeeded:>3} {r.failed:>6} ${r.cost_usd:>8.3f}"
        )
        if r.error:
            print(redact(f"       error: {r.error}"))
    ok = sum(1 for r in result.rows if r.status == "complete")
    print(
        f"{result.status}: {ok} of {len(result.rows)} rows complete, cost ${result.cost_usd:.3f}", flush=True
    )
    print(f"  manifest: {result.manifest_path}", flush=True)
