"""Ctrl-C during `sketchgen generate`: pending model calls are aborted upstream, finished sketches kept."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time

from generate.testing import Behavior, FakeGeminiServer


def test_ctrl_c_aborts_pending_calls_and_records_the_run_cancelled(tmp_path):
    with FakeGeminiServer() as fake:
        fake.script(Behavior.ok(latency=0.05), match="Sketch 1 of 4")
        fake.set_default(Behavior.ok(latency=60))
        env = {k: v for k, v in os.environ.items() if not k.startswith(("GEMINI_", "GOOGLE_"))}
        # faulthandler: if the process ever hangs, SIGABRT below dumps every thread's stack to stderr.
        env.update(fake.env(), PYTHONUNBUFFERED="1", PYTHONFAULTHANDLER="1")
        # The `sketchgen` entry point's code, with Ctrl-C handled as in a terminal: a CI shell may
        # start this test with SIGINT ignored, and a child inherits that.
        launcher = (
            "import signal, sys; signal.signal(signal.SIGINT, signal.default_int_handler); "
            "from cli.main import main; sys.exit(main(sys.argv[1:]))"
        )
        proc = subprocess.Popen(
            [
                sys.executable,
                "-c",
                launcher,
                "generate",
                "playful golf mascot",
                "--model",
                "nano-banana",
                "--output-dir",
                str(tmp_path),
            ],
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        try:
            deadline = time.monotonic() + 60
            for line in proc.stdout:
                if "[1/4]" in line:
                    break
                assert time.monotonic() < deadline, "no sketch finished"
            assert fake.wait_for_requests(4, timeout=10)
            proc.send_signal(signal.SIGINT)
            try:
                code = proc.wait(timeout=60)
            except subprocess.TimeoutExpired:
                proc.send_signal(signal.SIGABRT)
                _, err = proc.communicate(timeout=10)
                raise AssertionError(f"sketchgen did not stop after Ctrl-C; its threads:\n{err}") from None
        finally:
            if proc.poll() is None:
                proc.kill()
        assert code == 130
        assert fake.wait_for(lambda f: f.aborted_count == 3, timeout=10)

    run = next(tmp_path.iterdir())
    meta = json.loads((run / "metadata.json").read_text())
    assert meta["status"] == "cancelled"
    assert [s["status"] for s in meta["sketches"]].count("completed") == 1
    assert [s["status"] for s in meta["sketches"]].count("cancelled") == 3
    done = next(s for s in meta["sketches"] if s["status"] == "completed")
    assert (run / done["file"]).exists()
