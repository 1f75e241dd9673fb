"""The `sketchgen` subcommands. Each takes the parsed arguments and returns an exit code."""

from __future__ import annotations

import asyncio
import errno
import json
import os
import sys
import time
from pathlib import Path
from typing import Any

from cli.progress import LiveStatus
from generate.errors import ConfigError
from generate.events import (
    RunCompleted,
    RunStarted,
    SketchCompleted,
    SketchFailed,
    SketchFallback,
    SketchRetry,
    StageEvent,
)
from generate.redact import redact

__all__ = [
    "cmd_generate",
    "cmd_refine",
    "cmd_vary",
    "cmd_resume",
    "cmd_index",
    "cmd_weights",
    "cmd_styles",
    "cmd_models",
    "cmd_runs",
    "cmd_spend",
    "cmd_batch",
    "cmd_serve",
]


def _out(text: str = "") -> None:
    print(redact(text), flush=True)


def _err(text: str) -> None:
    print(redact(text), file=sys.stderr, flush=True)


# How the CLI's user knows each request field (error lines name the flag, not the field).
FLAGS = {
    "brief": "the brief",
    "style_id": "--style",
    "model": "--model",
    "aspect_ratio": "--aspect",
    "image_size": "--size",
    "seed": "--seed",
    "context": "--context",
    "num_images": "-n",
    "top_k": "--top-k",
    "resolution": "--resolution",
    "response_modalities": "--response-modalities",
    "google_search": "--google-search",
    "person_generation": "--person-generation",
    "allow_retired": "--allow-retired",
    "timeout_s": "--timeout",
    "max_cost_usd": "--max-cost",
    "image": "--image",
    "references": "--ref",
    "sheet": "--sheet",
    "run_id": "RUN_ID",
    "index": "INDEX",
    "instruction": "INSTRUCTION",
}


def _request(args):
    from generate.pipeline import RunRequest

    fields = {
        "brief": args.brief,
        "style_id": args.style,
        "num_images": args.num_images,
        "model": args.model,
        "aspect_ratio": args.aspect,
        "image_size": args.size,
        "resolution": args.resolution,
        "seed": args.seed,
        "top_k": args.top_k,
        "context": args.context,
        "response_modalities": args.response_modalities,
        "google_search": args.google_search,
        "person_generation": args.person_generation,
        "allow_retired": args.allow_retired,
        "timeout_s": args.timeout,
        "image": args.image,
        "references": args.ref,
        "max_cost_usd": args.max_cost,
        "sheet": args.sheet,
    }
    return RunRequest.parse(fields, labels=FLAGS)


def cmd_generate(args) -> int:
    from generate.pipeline import SketchPipeline

    pipeline = SketchPipeline(output_dir=args.output_dir)
    prepared = pipeline.validate(_request(args), dry_run=args.dry_run)
    if args.dry_run:
        return _print_dry_run(pipeline.dry_run(prepared), as_json=args.json)
    what = f"{args.brief!r}" + (f" redrawing {args.image}" if args.image else "")
    return _run(pipeline, prepared, what, as_json=args.json)


def _iterate(args, kind: str) -> int:
    from generate.iterate import IterateRequest, VaryRequest
    from generate.pipeline import SketchPipeline

    fields = {
        "run_id": args.run_id,
        "index": args.index,
        "instruction": args.instruction,
        "kind": kind,
        "num_images": args.num_images,
        "model": args.model,
        "seed": args.seed,
    }
    request = (VaryRequest if kind == "vary" else IterateRequest).parse(fields, labels=FLAGS)
    pipeline = SketchPipeline(output_dir=args.output_dir)
    prepared = pipeline.prepare_iteration(request)
    if args.dry_run:
        return _print_dry_run(pipeline.dry_run(prepared), as_json=args.json)
    plan = prepared.plan
    what = f"{kind} of sketch {args.index} of run {args.run_id}"
    if args.instruction:
        what += f": {args.instruction!r}"
    show = _err if args.json else _out
    show(f"sketchgen: {what} ({plan.path.replace('_', '-')}: {plan.reason})")
    return _run(pipeline, prepared, what, as_json=args.json, announce=False)


def cmd_refine(args) -> int:
    return _iterate(args, "refine")


def cmd_vary(args) -> int:
    return _iterate(args, "vary")


def _run(pipeline, prepared, what: str, *, as_json: bool, announce: bool = True) -> int:
    """Run ``prepared`` with live progress; exit 0 complete, 3 partial, 4 failed or cancelled."""
    return _run_with_progress(
        lambda on_event: pipeline.arun(prepared, on_event=on_event),
        what,
        total=prepared.config.num_images,
        concurrency=prepared.config.max_concurrency,
        as_json=as_json,
        announce=announce,
    )


def cmd_resume(args) -> int:
    from generate.resume import aresume, prepare_resume

    prepared = prepare_resume(args.run_id, args.output_dir)  # unknown, running or complete: exit 2
    brief = (prepared.metadata.get("prompt_spec") or {}).get("brief", "")
    which = ", ".join(str(i) for i in prepared.indexes)
    show = _err if args.json else _out
    show(f"sketchgen: resuming {prepared.previous_status} run {args.run_id} ({brief!r}): sketch {which}")
    return _run_with_progress(
        lambda on_event: aresume(prepared, on_event=on_event),
        f"run {args.run_id}",
        total=len(prepared.indexes),
        concurrency=len(prepared.indexes),
        as_json=args.json,
        announce=False,
    )


def _run_with_progress(
    start, what: str, *, total: int, concurrency: int, as_json: bool, announce: bool = True
) -> int:
    """Await ``start(on_event)`` (a run: it gives a GenerationResult) with live progress, one line per
    sketch as it settles, then the summary; exit 0 complete, 3 partial, 4 failed or cancelled."""
    done = 0
    status = LiveStatus(total, concurrency)  # only drawn when stderr is a terminal

    def show(text: str) -> None:
        status.write(text, sys.stderr if as_json else sys.stdout)

    def on_event(ev) -> None:
        nonlocal done
        if isinstance(ev, RunCompleted):
            status.on_event(ev)  # the status line goes before the summary is printed
        if isinstance(ev, RunStarted):
            if announce:
                show(f"sketchgen: {total} sketches of {what} in style {ev.style_id} with model {ev.model}")
            else:
                show(f"  {total} sketches in style {ev.style_id} with model {ev.model}")
            if ev.model_reason:
                show(f"  {ev.model_reason}")
            for w in ev.warnings:
                show(f"  warning: {w}")
        elif isinstance(ev, StageEvent) and ev.name == "references_retrieved":
            refs = ev.details.get("references", [])
            how = ev.details.get("method")
            names = ", ".join(f"{r['name']} ({r['score']:.2f})" for r in refs) or "none"
            show(f"  references ({how}): {names}")
            if ev.details.get("reason"):
                show(f"    ({ev.details['reason']})")
            if ev.details.get("skipped"):
                show(f"  warning: {_skipped_line(ev.details['skipped'])}")
        elif isinstance(ev, SketchCompleted):
            done += 1
            var = ev.variation
            show(
                f"  [{done}/{total}] sketch_{ev.index}.png  {var.get('layout')}, {var.get('exaggeration')}"
                f"  {ev.latency_s:.1f}s  ${ev.cost_usd:.3f}" + (f"  from {ev.model}" if ev.fallbacks else "")
            )
        elif isinstance(ev, SketchFailed):
            done += 1
            billed = f"  (billed ${ev.cost_usd:.4f})" if ev.cost_usd > 0 else ""
            show(f"  [{done}/{total}] sketch {ev.index} FAILED: {ev.code}: {ev.message}{billed}")
        elif isinstance(ev, SketchFallback):
            show(f"  sketch {ev.index}: {ev.reason} on {ev.from_model}, trying {ev.to_model}")
        elif isinstance(ev, SketchRetry):
            show(
                f"  sketch {ev.index}: {ev.reason}, retry {ev.attempt}/{ev.max_attempts} in {ev.delay_s:.1f}s"
            )
        elif isinstance(ev, RunCompleted):
            sketches = ev.succeeded + ev.failed + ev.cancelled  # the whole run's, a resumed one's too
            show(
                f"{ev.status}: {ev.succeeded} of {sketches} sketches in {ev.wall_s:.1f}s, cost ${ev.cost_usd:.3f}"
            )
            show(f"  folder: {ev.output_dir}")
        if not isinstance(ev, RunCompleted):
            status.on_event(ev)

    async def run():
        ticker = asyncio.create_task(status.tick()) if status.enabled else None
        try:
            return await start(on_event)
        finally:
            status.close()
            if ticker is not None:
                ticker.cancel()

    result = asyncio.run(run())
    if as_json:
        _out(json.dumps(_result_json(result), indent=2))
    else:
        if result.contact_sheet_path:
            _out(f"  contact sheet: {result.contact_sheet_path}")
        _out(f"  metadata: {result.metadata_path}")
    return 0 if result.status == "complete" else (3 if result.status == "partial" else 4)


def _result_json(result) -> dict[str, Any]:
    return {
        "run_id": result.run_id,
        "status": result.status,
        "model": result.model,
        "output_dir": str(result.output_dir),
        "metadata_path": str(result.metadata_path),
        "contact_sheet": str(result.contact_sheet_path) if result.contact_sheet_path else None,
        "cost_usd": result.cost_usd,
        "wall_s": result.wall_s,
        "warnings": list(result.warnings),
        "sketches": [
            {
                "index": s.index,
                "status": s.status,
                "path": str(s.path) if s.path else None,
                "variation": s.variation,
                "error": s.error,
                "attempts": s.attempts,
                "cost_usd": s.cost_usd,
                "model": s.model,
                "fallbacks": s.fallbacks,
            }
            for s in result.sketches
        ],
    }


def _skipped_line(skipped: list[dict[str, str]]) -> str:
    names = ", ".join(f"{Path(s['path']).name} ({s['reason']})" for s in skipped)
    return f"skipped {len(skipped)} unreadable reference file(s): {names}"


def _print_dry_run(plan: dict[str, Any], *, as_json: bool) -> int:
    if as_json:
        _out(json.dumps(plan, indent=2))
        return 0
    _out(
        f"dry run: {plan['num_images']} sketch{'es' if plan['num_images'] != 1 else ''}, style {plan['style_id']}, model {plan['model']}, "
        f"{plan['aspect_ratio']} {plan['image_size']} (no model is called)"
    )
    it = plan.get("iteration")
    if it:
        parent = it.get("parent") or {}
        of = f" of sketch {parent['index']} of run {parent['run_id']}" if parent else ""
        _out(f"  {it['kind']}{of}, sent as {it['path'].replace('_', '-')}: {it['reason']}")
        for w in it.get("warnings") or []:
            _out(f"  warning: {w}")
    if plan.get("model_reason"):
        _out(f"  {plan['model_reason']}")
    for warning in plan.get("warnings", []):
        _out(f"  warning: {warning}")
    ret = plan["retrieval"]
    _out(f"\nreferences ({ret['method']}):")
    for ref in ret["references"] or [{"path": "none", "score": 0.0}]:
        _out(f"  {ref['score']:.3f}  {ref['path']}")
    if ret.get("reason"):
        _out(f"  ({ret['reason']})")
    if ret.get("skipped"):
        _out(f"  warning: {_skipped_line(ret['skipped'])}")
    for sk in plan["sketches"]:
        _out(f"\n--- sketch {sk['index']}: {sk['layout']}, {sk['exaggeration']} ---")
        for part in sk.get("turn") or [{"text": sk["prompt"]}]:
            _out(part["text"] if "text" in part else f"[image: {part['image']}]")
    _out("\nestimated cost:")
    for c in plan["estimated_cost"]:
        size = f" {c['image_size']}" if c.get("image_size") else ""
        _out(
            f"  {c['model']:<34} {c['status']:<16} ${c['per_image_usd']:.4f}/image{size}  ${c['run_usd']:.3f}/run"
        )
    return 0


def cmd_index(args) -> int:
    from tqdm import tqdm

    from rag.embedder import load_embedder_from_env
    from rag.indexing import index_directory
    from style.registry import StyleRegistry

    StyleRegistry().get_style(args.style)  # unknown style: a clear error before any work
    if not args.directory.is_dir():
        raise ConfigError(f"not a folder: {args.directory}", field="directory")
    _fetch_weights()  # the first index downloads the weights once; offline: one line naming what to do
    embedder = load_embedder_from_env()
    bar = tqdm(total=0, unit="img", desc=f"indexing {args.style}", disable=args.json, file=sys.stderr)

    def progress(done: int, total: int) -> None:
        bar.total = total
        bar.n = done
        bar.refresh()

    try:
        summary = index_directory(
            args.directory,
            args.style,
            index_dir=args.index_dir,
            embedder=embedder,
            progress=progress,
            rebuild=args.rebuild,
        )
    finally:
        bar.close()
    if args.json:
        _out(json.dumps(summary.to_dict(), indent=2, default=str))
    else:
        _out(summary.format())
    return 0


def _fetch_weights():
    from rag.download import ensure_weights
    from rag.embedder import clip_model_from_env

    return ensure_weights(*clip_model_from_env(), say=_err)


def cmd_weights(args) -> int:
    """Download the configured CLIP weights (``SKETCHGEN_CLIP_MODEL`` / ``_PRETRAINED``) and nothing else;
    with ``--local ID``, a local diffusion model's weights instead."""
    if getattr(args, "local", None):
        return _fetch_local_weights(args)
    fetch = _fetch_weights()
    if args.json:
        _out(json.dumps(fetch.to_dict(), indent=2))
    elif fetch.downloaded:
        for f in fetch.files:
            _out(f"  {f.path}")
        _out(f"CLIP weights {fetch.model} ready in {fetch.cache_dir}")
    else:
        _out(
            f"CLIP weights {fetch.model} are already on disk (cache: {fetch.cache_dir}); nothing to download"
        )
    return 0


def _fetch_local_weights(args) -> int:
    from generate.adapters.diffusers.catalog import download_weights, find_weights, spec_for

    spec = spec_for(args.local)
    downloaded = download_weights(spec, say=_err)
    where = find_weights(spec)
    if args.json:
        _out(json.dumps({"model": spec.name, "downloaded": downloaded, "weights": str(where.pipeline_dir)}))
    elif downloaded:
        _out(f"{spec.name} weights ready in {where.pipeline_dir}")
    else:
        _out(f"{spec.name} weights are already on disk ({where.pipeline_dir}); nothing to download")
    return 0


def cmd_styles(args) -> int:
    from style.registry import StyleRegistry

    styles = StyleRegistry().list_styles()
    if args.json:
        _out(json.dumps([s.model_dump(mode="json") for s in styles], indent=2))
        return 0
    for s in styles:
        _out(f"{s.id:<18} {s.name} — {s.description}")
    return 0


def cmd_models(args) -> int:
    """Every family with its availability (the reason line), then its models and price per image."""
    from generate.models import list_families, list_models

    models = list_models()
    if args.json:
        _out(json.dumps(models, indent=2, default=str))
        return 0
    auto = models[0]
    _out(f"auto -> {auto.get('resolves_to')}  ({auto.get('notes')})")
    for family in list_families():
        state = "available" if family["available"] else "not available"
        fix = f"; {family['fix']}" if family.get("fix") else ""
        _out(f"\n{family['name']} — {family['display_name']}: {state} ({family['reason']}{fix})")
        _out(f"  {'model':<30} {'status':<16} {'price per image (USD)':<44} aliases")
        for m in (m for m in models if m.get("family") == family["name"]):
            prices = ", ".join(f"{k} ${v:.3f}" for k, v in (m.get("price_per_image_usd") or {}).items())
            aliases = ", ".join(m.get("aliases") or [])
            _out(f"  {m['id']:<30} {m.get('status', ''):<16} {prices or '-':<44} {aliases}".rstrip())
    return 0


def _print_tree(nodes, depth: int = 0) -> None:
    for node in nodes:
        parent = node.get("parent") or {}
        if parent:
            how = f"{node['kind']} of #{parent['index']}"
            if parent.get("instruction"):
                how += f": {parent['instruction']!r}"
        else:
            how = repr(node["brief"]) + (" (from your image)" if node["kind"] == "edit" else "")
        lead = "  " * depth + ("└ " if depth else "")
        _out(
            f"{lead}{node['run_id']}  {node['status'] or '?'}  {node['model'] or ''}  "
            f"{node['succeeded']}/{node['num_images']}  {how}"
        )
        _print_tree(node["children"], depth + 1)


def cmd_runs(args) -> int:
    from generate.runs import list_runs, run_tree

    if args.limit < 1:
        raise ConfigError(f"--limit must be at least 1 (got {args.limit})", field="limit")
    if args.search is not None and not args.search.replace("*", "").strip():
        raise ConfigError("--search needs at least one word", field="search")
    if args.reindex:
        from generate.run_catalog import CatalogUnavailable, reindex
        from generate.types import default_output_root

        root = Path(args.output_dir) if args.output_dir else default_output_root()
        if not root.is_dir():
            raise ConfigError(f"no outputs folder at {root}", field="output_dir")
        started = time.perf_counter()
        try:
            count = reindex(root)
        except CatalogUnavailable as exc:
            raise ConfigError(f"cannot rebuild the run catalog: {exc}", field="output_dir") from None
        _err(f"catalog rebuilt from {count} run folder(s) in {time.perf_counter() - started:.1f} s")
    if args.tree:
        tree = run_tree(args.output_dir)
        if args.json:
            _out(json.dumps(tree, indent=2, default=str))
        elif not tree:
            _out("no runs yet")
        else:
            _print_tree(tree)
        return 0
    try:
        runs = list_runs(
            args.output_dir,
            style=args.style,
            model=args.model,
            status=args.status,
            since=args.since,
            until=args.until,
            text=args.search,
            favourite=True if args.favourites else None,
            sort=args.sort,
            limit=args.limit,
            offset=args.offset,
        )
    except ValueError as exc:
        raise ConfigError(str(exc), field="since") from None
    if args.json:
        _out(json.dumps(runs, indent=2, default=str))
        return 0
    if not runs:
        _out("no runs yet")
    for r in runs:
        _out(
            f"{r['run_id']:<18} {r['status'] or '?':<10} {r['style_id'] or '':<16} {r['model'] or '':<28} "
            f"{r['succeeded']}/{r['num_images']}  ${r['cost_usd']:.3f}  {'* ' if r.get('favourite') else ''}"
            f"{r['brief']!r}"
        )
    return 0


def cmd_batch(args) -> int:
    from cli.batch import cmd_batch as run_batch_command

    return run_batch_command(args)


def cmd_spend(args) -> int:
    from generate.spend import parse_day, summarize_spend

    since = parse_day(args.since, field="--since")  # a bad date named by its flag
    summary = summarize_spend(args.output_dir, since=since, by=args.by)
    if args.json:
        _out(json.dumps(summary, indent=2))
        return 0
    since = f" since {summary['since']}" if summary["since"] else ""
    _out(f"{'':<2}{args.by:<32} {'runs':>6} {'sketches':>9} {'cost (USD)':>12}")
    for g in summary["groups"]:
        _out(f"  {g['key']:<32} {g['runs']:>6} {g['sketches']:>9} {g['cost_usd']:>12.4f}")
    _out(
        f"total{since}: ${summary['total_usd']:.4f} over {summary['runs']} runs, {summary['sketches']} sketches"
    )
    return 0


def _check_port_free(host: str, port: int) -> None:
    """A busy or unusable address is the user's to fix: one line and exit 2, not uvicorn's log and exit 1.

    Probed the way uvicorn binds (IPv6 for a host with ':', SO_REUSEADDR), then released.
    """
    import socket

    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind((host, port))
        except socket.gaierror as exc:
            raise ConfigError(f"cannot serve on host {host!r}: {exc.strerror}", field="host") from None
        except OSError as exc:
            reason = (
                "is already in use" if exc.errno == errno.EADDRINUSE else f"cannot be used ({exc.strerror})"
            )
            raise ConfigError(
                f"port {port} on {host} {reason}: stop what is using it, or pick another with --port",
                field="port",
            ) from None


def cmd_serve(args) -> int:
    import uvicorn

    _check_port_free(args.host, args.port)
    _out(
        f"sketchgen service on http://{args.host}:{args.port}/ (API docs: http://{args.host}:{args.port}/docs)"
    )
    uvicorn.run("api.main:app", host=args.host, port=args.port)
    return 0


def cmd_mcp(args) -> int:
    """stdio: stdout carries the protocol only, so every word for the user goes to stderr."""
    if not args.http:
        import anyio

        from mcp_server import serve_stdio

        anyio.run(serve_stdio, args.output_dir)
        return 0
    from mcp_server import MCP_PATH, serve_http

    _check_port_free(args.host, args.port)
    token = os.environ.get("SKETCHGEN_API_TOKEN", "").strip()
    if not token and args.host not in ("127.0.0.1", "localhost", "::1"):
        _err(
            f"warning: serving on {args.host} with no SKETCHGEN_API_TOKEN: anyone who reaches the port can run paid calls"
        )
    auth = " (bearer token required)" if token else ""
    _err(f"sketchgen MCP server on http://{args.host}:{args.port}{MCP_PATH}{auth}")
    serve_http(args.output_dir, host=args.host, port=args.port)
    return 0
