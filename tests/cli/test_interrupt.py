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
            assert fake.wait_for_requests(4)
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
        assert fake.wait_for(lambda f: f.aborted_count == 3)

    run = next(tmp_path.iterdir())
    meta = json.loads((run / "metadata.json").read_text())
    assert meta["status"] == "cancelled"
    assert [s["status"] for s in meta["sketches"]].count("completed") == 1
    assert [s["status"] for s in meta["sketches"]].count("cancelled") == 3
    done = next(s for s in meta["sketches"] if s["status"] == "completed")
    assert (run / done["file"]).exists()


def _start_cli_run(fake, tmp_path) -> subprocess.Popen:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("GEMINI_", "GOOGLE_"))}
    env.update(fake.env(), PYTHONUNBUFFERED="1")
    return subprocess.Popen(
        [sys.executable, "-m", "cli.main", "generate", "playful golf mascot", "--model", "nano-banana"]
        + ["--output-dir", str(tmp_path)],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def _assert_no_bad_files(run) -> None:
    from PIL import Image

    json.loads((run / "metadata.json").read_text())
    for png in run.glob("*.png"):
        with Image.open(png) as img:
            img.load()
    assert not [p.name for p in run.iterdir() if p.name.endswith(".tmp")]


def _api_statuses(root, run_id) -> tuple[str, str]:
    """(status in GET /runs, status in GET /runs/{run_id}) from the service over this folder."""
    import asyncio

    import httpx

    from api.main import create_app

    async def ask():
        transport = httpx.ASGITransport(app=create_app(output_dir=root))
        async with httpx.AsyncClient(transport=transport, base_url="http://s") as http:
            listed = (await http.get("/runs")).json()["runs"][0]["status"]
            return listed, (await http.get(f"/runs/{run_id}")).json()["status"]

    return asyncio.run(ask())


def test_a_killed_run_is_interrupted_everywhere_and_resumes_into_its_folder(tmp_path, monkeypatch, capsys):
    from cli.main import main

    with FakeGeminiServer() as fake:
        fake.script(Behavior.ok(latency=0.05), match="Sketch 1 of 4")
        fake.set_default(Behavior.ok(latency=60))
        proc = _start_cli_run(fake, tmp_path)
        try:
            deadline = time.monotonic() + 60
            for line in proc.stdout:
                if "[1/4]" in line:
                    break
                assert time.monotonic() < deadline, "no sketch finished"
            assert fake.wait_for_requests(4)
            run = next(tmp_path.iterdir())
            # While the process lives, its run is running (another process reads it)...
            assert main(["runs", "--output-dir", str(tmp_path), "--json"]) == 0
            assert json.loads(capsys.readouterr().out)[0]["status"] == "running"
            assert main(["resume", run.name, "--output-dir", str(tmp_path)]) == 2
            assert "still running" in capsys.readouterr().err
            proc.send_signal(signal.SIGKILL)
            proc.wait(timeout=30)
        finally:
            if proc.poll() is None:
                proc.kill()
            proc.stdout.close()
            proc.stderr.close()

        # ... and once it is killed, it is interrupted in every listing, though the file says running.
        _assert_no_bad_files(run)
        assert json.loads((run / "metadata.json").read_text())["status"] == "running"
        assert main(["runs", "--output-dir", str(tmp_path), "--json"]) == 0
        assert json.loads(capsys.readouterr().out)[0]["status"] == "interrupted"
        assert main(["runs", "--output-dir", str(tmp_path), "--status", "interrupted"]) == 0
        assert run.name in capsys.readouterr().out
        assert _api_statuses(tmp_path, run.name) == ("interrupted", "interrupted")

        # Resume: only the three missing sketches are made, with their recorded prompts, in place.
        before = json.loads((run / "metadata.json").read_text())
        done = next(s for s in before["sketches"] if s["status"] == "completed")
        first_png = (run / done["file"]).read_bytes()
        fake.set_default(Behavior.ok(latency=0.05))
        for name, value in fake.env().items():
            monkeypatch.setenv(name, value)
        asked = fake.count
        assert main(["resume", run.name, "--output-dir", str(tmp_path), "--json"]) == 0
        result = json.loads(capsys.readouterr().out)
        assert result["status"] == "complete" and result["run_id"] == run.name
        assert fake.count - asked == 3
        missing = [s for s in before["sketches"] if s["status"] != "completed"]
        # Each new call is one of the missing sketches (the wire turn holds the recorded prompt's words).
        marks = sorted(f"Sketch {s['index'] + 1} of 4" for s in missing)
        assert all(
            m in s["prompt"] for m, s in zip(marks, sorted(missing, key=lambda s: s["index"]), strict=True)
        )
        assert sorted(m for r in fake.requests[asked:] for m in marks if m in r.prompt) == marks

    meta = json.loads((run / "metadata.json").read_text())
    assert meta["status"] == "complete" and meta["timestamp"] == before["timestamp"]
    assert [s["status"] for s in meta["sketches"]] == ["completed"] * 4
    assert [s["prompt"] for s in meta["sketches"]] == [s["prompt"] for s in before["sketches"]]
    assert len(meta["resumes"]) == 1
    attempt = meta["resumes"][0]
    assert attempt["sketches"] == [s["index"] for s in missing]
    assert attempt["previous_status"] == "interrupted" and attempt["status"] == "complete"
    assert (run / done["file"]).read_bytes() == first_png  # the finished sketch was not redone
    assert sorted(p.name for p in run.iterdir()) == [
        "contact_sheet.png",
        "metadata.json",
        "sketch_0.png",
        "sketch_1.png",
        "sketch_2.png",
        "sketch_3.png",
    ]
    _assert_no_bad_files(run)
    # A complete run has nothing to resume: one line, exit 2.
    assert main(["resume", run.name, "--output-dir", str(tmp_path)]) == 2
    assert "complete" in capsys.readouterr().err
