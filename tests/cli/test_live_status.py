"""`sketchgen generate` shows live in-flight status on a terminal, and only there."""

from __future__ import annotations

import json
import os
import pty
import subprocess
import sys
from pathlib import Path

from generate.testing import Behavior, FakeGeminiServer


def _run_on_a_terminal(args, *, cwd, env, stdout_pipe=False):
    """Run the entry point with stderr (and stdout unless ``stdout_pipe``) on a pseudo-terminal."""
    master, slave = pty.openpty()
    proc = subprocess.Popen(
        [str(Path(sys.executable).with_name("sketchgen")), *args],
        cwd=cwd,
        env=env,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE if stdout_pipe else slave,
        stderr=slave,
    )
    os.close(slave)
    seen = b""
    while True:
        try:
            chunk = os.read(master, 65536)
        except OSError:  # EIO: the child closed the terminal
            break
        if not chunk:
            break
        seen += chunk
    stdout = proc.stdout.read().decode() if stdout_pipe else ""
    proc.wait(timeout=120)
    os.close(master)
    return proc.returncode, seen.decode(errors="replace"), stdout


def _env(fake):
    env = {k: v for k, v in os.environ.items() if not k.startswith(("GEMINI_", "GOOGLE_"))}
    return {**env, **fake.env()}


def test_status_shows_calls_in_flight_and_retries_waiting(tmp_path):
    with FakeGeminiServer(latency=0.3) as fake:
        fake.script(Behavior.rate_limited(retry_delay_s=1.0), match="Sketch 2 of 3", then=Behavior.ok())
        code, terminal, _ = _run_on_a_terminal(
            ["generate", "golf mascot", "-n", "3", "--model", "nano-banana"], cwd=tmp_path, env=_env(fake)
        )
    assert code == 0, terminal
    assert "sketching 0/3 done, 3 calls in flight" in terminal  # before the first sketch
    assert "1 retry waiting" in terminal
    assert "complete: 3 of 3" in terminal


def test_json_stdout_stays_clean_while_the_terminal_shows_status(tmp_path):
    with FakeGeminiServer(latency=0.3) as fake:
        code, terminal, stdout = _run_on_a_terminal(
            ["generate", "golf mascot", "-n", "3", "--model", "nano-banana", "--json"],
            cwd=tmp_path,
            env=_env(fake),
            stdout_pipe=True,
        )
    assert code == 0, terminal
    assert json.loads(stdout)["status"] == "complete"
    assert "calls in flight" in terminal and "calls in flight" not in stdout


def test_no_status_when_not_a_terminal(tmp_path):
    with FakeGeminiServer(latency=0.1) as fake:
        proc = subprocess.run(
            [
                str(Path(sys.executable).with_name("sketchgen")),
                "generate",
                "golf mascot",
                "-n",
                "3",
                "--model",
                "nano-banana",
            ],
            cwd=tmp_path,
            env=_env(fake),
            capture_output=True,
            text=True,
            timeout=120,
        )
    assert proc.returncode == 0, proc.stderr
    assert "in flight" not in proc.stdout + proc.stderr and "\r" not in proc.stdout + proc.stderr
