"""The `sketchgen` command: parses arguments, calls the library, prints.

Errors the user can fix print one line (``error: ...``) and exit 2; anything unexpected prints one
line and exits 1 (set ``SKETCHGEN_DEBUG=1`` for the traceback). ``--json`` prints machine-readable
output on stdout and keeps progress off it.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import sys
import warnings
from pathlib import Path
from typing import Any

from generate.env_file import load_env_file
from generate.errors import SketchgenError
from generate.redact import install_log_redaction, redact, redact_exception, redact_value

__all__ = ["main", "build_parser"]


class _Parser(argparse.ArgumentParser):
    """argparse with one-line errors (its default prints the whole usage block first), exit 2."""

    def error(self, message: str):
        self.exit(2, f"error: {message} (see `{self.prog} --help`)\n")


def _whole_number(text: str) -> int:
    try:
        return int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"must be a whole number, not {text!r}") from None


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(
        prog="sketchgen", description="Grayscale, draw-over-ready concept sketches from a design brief."
    )
    parser.add_argument("-v", "--verbose", action="store_true", help="show the library's log warnings too")
    sub = parser.add_subparsers(
        dest="command",
        required=True,
        metavar="COMMAND",
        parser_class=_Parser,
        help="what to do (`sketchgen COMMAND --help`)",
    )

    gen = sub.add_parser("generate", help="make 3-6 concept sketches for a brief")
    gen.add_argument("brief", help='what to sketch, e.g. "playful golf mascot"')
    gen.add_argument("--style", default="vintage-mascot", help="style id (see `sketchgen styles`)")
    gen.add_argument(
        "-n", "--num-images", type=_whole_number, default=None, help="3-6 (default: the style's)"
    )
    gen.add_argument(
        "--model",
        default="auto",
        help="auto (default), trace, nano-banana, nano-banana-pro, a Gemini id; or a fallback chain "
        "tried in order per sketch when a call fails for capacity or quota, e.g. nano-banana-pro,trace",
    )
    gen.add_argument(
        "--aspect", default=None, help="aspect ratio, e.g. 1:1, 3:4, 16:9 (default: the style's)"
    )
    gen.add_argument("--size", default="1K", help="1K, 2K or 4K")
    gen.add_argument(
        "--sheet",
        default=None,
        metavar="LAYOUT",
        help="one call for a grid of sketches, cut into one per cell: 2x2, 3x2, 2x3 or 3x3 "
        "(columns x rows; -n is then the cell count)",
    )
    gen.add_argument("--resolution", default=None, help="exact output size, e.g. 1024x1024")
    gen.add_argument(
        "--seed",
        type=_whole_number,
        default=None,
        help="same seed, same variation plan (sent to Gemini: best effort)",
    )
    gen.add_argument(
        "--response-modalities",
        default="text+image",
        choices=["text+image", "image"],
        help="what the model answers with: text and image (default) or image only",
    )
    gen.add_argument(
        "--google-search",
        action="store_true",
        help="ground the sketches in Google Search results (models that offer it; needs text+image)",
    )
    gen.add_argument(
        "--person-generation",
        default=None,
        choices=["ALLOW_ALL", "ALLOW_ADULT", "ALLOW_NONE"],
        help="whether people may be drawn (Vertex AI only)",
    )
    gen.add_argument("--top-k", type=_whole_number, default=3, help="reference images to retrieve (0-14)")
    gen.add_argument(
        "--timeout",
        default=None,
        metavar="SECONDS",
        help="per model call (default $SKETCHGEN_TIMEOUT_S, else 180)",
    )
    gen.add_argument(
        "--context", action="append", default=[], help="an extra note for the prompt (repeatable)"
    )
    gen.add_argument(
        "--max-cost",
        default=None,
        metavar="USD",
        help="refuse the run, before any call, if its worst-case cost is over this many US dollars",
    )
    gen.add_argument(
        "--output-dir",
        default=None,
        help="where run folders go (default $SKETCHGEN_OUTPUT_DIR or ./generated_outputs)",
    )
    gen.add_argument(
        "--image",
        default=None,
        metavar="PATH",
        help="your own drawing or photo: every sketch redraws it (the subject, not a reference)",
    )
    gen.add_argument(
        "--ref",
        action="append",
        default=[],
        metavar="PATH",
        help="an extra reference image for this run (repeatable), sent before what retrieval found",
    )
    gen.add_argument(
        "--dry-run", action="store_true", help="show prompts, references and cost; call no model"
    )
    gen.add_argument(
        "--allow-retired",
        action="store_true",
        help="run a model past its shutdown date anyway (an endpoint that still serves it)",
    )
    gen.add_argument("--json", action="store_true", help="machine-readable output")

    for name, summary in (
        ("refine", "revise one sketch of a run with an instruction (a new child run)"),
        ("vary", "more like one sketch of a run: same design, new layouts (a new child run)"),
    ):
        it = sub.add_parser(name, help=summary)
        it.add_argument("run_id", help="the parent run (see `sketchgen runs`)")
        it.add_argument("index", type=int, help="which sketch of that run (0-based, as in sketch_0.png)")
        if name == "refine":
            it.add_argument("instruction", help='what to change, e.g. "make the cap bigger, keep the pose"')
            it.add_argument("-n", "--num-images", type=int, default=1, help="1-6 takes (default 1)")
        else:
            it.add_argument("--instruction", default="", help="optional: something to change as well")
            it.add_argument("-n", "--num-images", type=int, default=4, help="1-6 variations (default 4)")
        it.add_argument("--model", default=None, help="default: the model that made the parent sketch")
        it.add_argument("--seed", type=int, default=None, help="default: the parent's seed")
        it.add_argument("--output-dir", default=None, help="where run folders are (default as for generate)")
        it.add_argument("--dry-run", action="store_true", help="show what would be sent and its cost")
        it.add_argument("--json", action="store_true", help="machine-readable output")

    idx = sub.add_parser("index", help="embed a folder of reference images for a style")
    idx.add_argument("directory", type=Path, help="the folder of reference images for the style")
    idx.add_argument("--style", required=True, help="style id the references belong to")
    idx.add_argument("--index-dir", default=None, help="default $SKETCHGEN_INDEX_DIR or ./.sketchgen/index")
    idx.add_argument(
        "--rebuild", action="store_true", help="re-embed everything (e.g. after changing the CLIP model)"
    )
    idx.add_argument("--json", action="store_true", help="machine-readable output")

    weights = sub.add_parser(
        "weights", help="download the CLIP weights for retrieval into the Hugging Face cache (once)"
    )
    weights.add_argument(
        "--local",
        metavar="ID",
        default=None,
        help="instead, download a local diffusion model's weights (e.g. sdxl-scribble; needs sketchgen[local])",
    )
    weights.add_argument("--json", action="store_true", help="machine-readable output")

    styles = sub.add_parser("styles", help="list the styles")
    styles.add_argument("--json", action="store_true", help="machine-readable output")
    models = sub.add_parser(
        "models",
        help="list every model family with its availability, and its models with status and price per image",
    )
    models.add_argument("--json", action="store_true", help="machine-readable output")

    runs = sub.add_parser("runs", help="list past runs, newest first")
    runs.add_argument("--style", default=None, help="only runs of this style id")
    runs.add_argument("--model", default=None, help="only runs of this model (an id or an alias)")
    runs.add_argument(
        "--status",
        default=None,
        choices=["complete", "partial", "failed", "cancelled", "running", "interrupted"],
        help="only runs with this status",
    )
    runs.add_argument("--since", default=None, help="YYYY-MM-DD or ISO time")
    runs.add_argument("--until", default=None, help="YYYY-MM-DD or ISO time")
    runs.add_argument("--search", "-q", default=None, metavar="WORDS", help="words the brief must contain")
    runs.add_argument("--favourites", action="store_true", help="only starred runs")
    runs.add_argument(
        "--sort", default="newest", choices=["newest", "oldest", "cost"], help="order (default newest)"
    )
    runs.add_argument("--limit", type=_whole_number, default=20, help="show at most this many (default 20)")
    runs.add_argument("--offset", type=_whole_number, default=0, help="skip this many matching runs")
    runs.add_argument(
        "--reindex", action="store_true", help="rebuild the run catalog from the run folders, then list"
    )
    runs.add_argument("--output-dir", default=None, help="where run folders are (default as for generate)")
    runs.add_argument("--tree", action="store_true", help="show refinements under the run they came from")
    runs.add_argument("--json", action="store_true", help="machine-readable output")

    from cli.batch import add_batch_parser

    add_batch_parser(sub, _whole_number)

    spend = sub.add_parser("spend", help="sum the cost recorded by past runs")
    spend.add_argument("--since", default=None, metavar="DATE", help="from this UTC day on (YYYY-MM-DD)")
    spend.add_argument(
        "--by", default="day", choices=["day", "model", "style"], help="group by (default day)"
    )
    spend.add_argument("--output-dir", default=None, help="where run folders are (default as for generate)")
    spend.add_argument("--json", action="store_true", help="machine-readable output")

    res = sub.add_parser(
        "resume", help="make the missing or failed sketches of an interrupted, failed or partial run"
    )
    res.add_argument("run_id", metavar="RUN_ID", help="the run's folder name (see `sketchgen runs`)")
    res.add_argument("--output-dir", default=None, help="where run folders are (default as for generate)")
    res.add_argument("--json", action="store_true", help="machine-readable output")

    serve = sub.add_parser("serve", help="start the HTTP service and web page")
    serve.add_argument("--host", default="127.0.0.1", help="address to listen on (default 127.0.0.1)")
    serve.add_argument("--port", type=_whole_number, default=8000, help="port to listen on (default 8000)")

    mcp = sub.add_parser("mcp", help="serve sketchgen's tools to MCP clients (stdio, or --http)")
    mcp.add_argument("--http", action="store_true", help="serve the streamable HTTP transport, not stdio")
    mcp.add_argument(
        "--host", default="127.0.0.1", help="address to listen on, with --http (default 127.0.0.1)"
    )
    mcp.add_argument(
        "--port", type=_whole_number, default=8765, help="port to listen on, with --http (default 8765)"
    )
    mcp.add_argument("--output-dir", default=None, help="where run folders are (default as for generate)")
    return parser


def _print_json(data: Any) -> None:
    print(redact(json.dumps(redact_value(data), indent=2, default=str)))


def _one_line_warning(message, category, filename, lineno, file=None, line=None) -> None:
    """A Python warning (the prompt-trimming one, a library's deprecation) as one clean line,
    without the source path and code line Python prints by default."""
    text = str(message).strip()
    print(f"warning: {text.splitlines()[0] if text else category.__name__}", file=sys.stderr, flush=True)


def _not_also_warned(record: logging.LogRecord) -> bool:
    """Drop a log line the library also raised as a Python warning (``extra={"also_warned": True}``):
    the CLI prints that warning as one line already, and ``-v`` must not say it twice."""
    return not getattr(record, "also_warned", False)


def main(argv: list[str] | None = None) -> int:
    load_env_file()  # ./.env; never overrides the real environment
    if not os.environ.get("SKETCHGEN_DEBUG"):
        warnings.showwarning = _one_line_warning
    args = build_parser().parse_args(argv)
    # The CLI prints what matters (the model choice, retrieval fallbacks, warnings) itself;
    # the library's log lines would say it twice.
    logging.basicConfig(
        level=logging.WARNING if args.verbose else logging.ERROR, format="%(levelname)s %(name)s: %(message)s"
    )
    for handler in logging.getLogger().handlers:
        handler.addFilter(_not_also_warned)
    install_log_redaction()  # the SDK's and httpx's lines too, not only sketchgen's
    from cli import commands

    handler = getattr(commands, f"cmd_{args.command}")
    try:
        return handler(args) or 0
    except SketchgenError as exc:
        print(redact(f"error: {exc}"), file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("interrupted: pending model calls were cancelled; finished sketches are kept", file=sys.stderr)
        return 130
    except BrokenPipeError:
        # The reader went away (`sketchgen runs | head`): stop quietly, as a shell tool does. Point
        # stdout at /dev/null so the interpreter's own flush at exit does not fail a second time.
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        return 141  # 128 + SIGPIPE
    except Exception as exc:  # one line, not a traceback, unless asked for
        redact_exception(exc)
        if os.environ.get("SKETCHGEN_DEBUG"):
            raise
        print(
            redact(f"error: unexpected {type(exc).__name__}: {exc} (set SKETCHGEN_DEBUG=1 for details)"),
            file=sys.stderr,
        )
        return 1


if __name__ == "__main__":
    sys.exit(main())
