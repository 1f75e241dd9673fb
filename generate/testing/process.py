"""The fake Gemini server in a process of its own.

Benchmarks use it so that the fake's work (building responses) does not compete with the code under
test for one interpreter's GIL, as a remote server would not; ``python -m generate.testing`` runs
one in a terminal for trying the CLI or the service without a key.
"""

from __future__ import annotations

import argparse
import contextlib
import random
import subprocess
import sys
from collections.abc import Iterator
from typing import Any

from generate.testing.fake_behaviors import Behavior
from generate.testing.fake_gemini import FakeGeminiServer

__all__ = ["fake_gemini_process", "main"]


@contextlib.contextmanager
def fake_gemini_process(
    latency: float = 0.0, *, hang_fraction: float = 0.0, seed: int = 0
) -> Iterator[tuple[str, dict[str, Any]]]:
    """Start ``python -m generate.testing --serve-stdin``; yields (base_url, record).

    ``hang_fraction``: that share of requests, drawn at random (``seed``), never answer (a hung call).
    When the block ends the child is told to stop, and ``record`` gets ``requests`` and ``aborted``
    (how many requests it served, and how many of those the client abandoned).
    """
    hang = ["--hang-fraction", str(hang_fraction), "--seed", str(seed)] if hang_fraction > 0 else []
    proc = subprocess.Popen(
        [sys.executable, "-m", "generate.testing", "--latency", str(latency), *hang, "--serve-stdin"],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    record: dict[str, Any] = {"requests": None, "aborted": None}
    try:
        base_url = proc.stdout.readline().strip()
        if not base_url.startswith("http"):
            raise RuntimeError("the fake Gemini server did not start")
        yield base_url, record
        proc.stdin.close()
        counts = proc.stdout.readline().split()
        if len(counts) == 2:
            record["requests"], record["aborted"] = int(counts[0]), int(counts[1])
        proc.wait(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(timeout=10)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m generate.testing",
        description="Run sketchgen's fake Gemini server on 127.0.0.1 (no key, no network, no cost).",
    )
    parser.add_argument("--latency", type=float, default=1.0, help="seconds before each answer (default 1)")
    parser.add_argument("--port", type=int, default=0, help="default: any free port")
    parser.add_argument(
        "--hang-fraction", type=float, default=0.0, help="share of requests that never answer (default 0)"
    )
    parser.add_argument("--seed", type=int, default=0, help="seed for choosing the hung requests")
    parser.add_argument("--serve-stdin", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if not 0.0 <= args.hang_fraction <= 1.0:
        parser.error("--hang-fraction must be from 0 to 1")
    with FakeGeminiServer(latency=args.latency, port=args.port) as fake:
        if args.hang_fraction > 0:  # the fake picks behaviours under its lock: one draw per request
            draw = random.Random(args.seed).random
            fake.script(match=lambda _request: draw() < args.hang_fraction, then=Behavior.hang())
        if args.serve_stdin:  # driven by fake_gemini_process(): stop when the parent closes stdin
            print(fake.base_url, flush=True)
            sys.stdin.read()
            print(fake.count, fake.aborted_count, flush=True)
            return 0
        print(f"fake Gemini server on {fake.base_url} (latency {args.latency:g} s); Ctrl-C stops it")
        print(f"  export GEMINI_API_KEY=fake-key GEMINI_BASE_URL={fake.base_url}", flush=True)
        try:
            while True:
                fake.wait_for(lambda f: False, timeout=3600)
        except KeyboardInterrupt:
            print(f"served {fake.count} requests")
    return 0
