"""`sketchgen batch FILE` end to end on the offline trace model."""

from __future__ import annotations

import json

import pytest

from cli.main import main


def _briefs(tmp_path):
    path = tmp_path / "briefs.csv"
    path.write_text("brief,style_id,num_images,seed\ngolf mascot,vintage-mascot,3,1\ncoffee cup logo,,4,2\n")
    return path


def test_batch_runs_every_row_then_a_second_time_skips_them(tmp_path, capsys):
    path, out = _briefs(tmp_path), tmp_path / "out"
    assert main(["batch", str(path), "--model", "trace", "--output-dir", str(out)]) == 0
    text = capsys.readouterr().out
    assert "batch " in text and "2 rows, 7 sketches to make" in text
    assert "complete: 2 of 2 rows complete" in text
    runs = sorted(p.name for p in out.iterdir() if p.name != "batches")
    assert len(runs) == 2
    for run in runs:
        assert run in text  # the summary table names each row's run

    assert main(["batch", str(path), "--model", "trace", "--output-dir", str(out), "--json"]) == 0
    summary = json.loads(capsys.readouterr().out)
    assert summary["resumed"] is True and summary["status"] == "complete"
    assert sorted(r["run_id"] for r in summary["rows"]) == runs
    assert sorted(p.name for p in out.iterdir() if p.name != "batches") == runs  # no new run


def test_batch_with_bad_rows_lists_each_and_exits_2(tmp_path, capsys):
    path = tmp_path / "briefs.csv"
    path.write_text("brief,style_id,num_images\ngolf mascot,nope,3\ncoffee,vintage-mascot,12\n")
    assert main(["batch", str(path), "--model", "trace", "--output-dir", str(tmp_path / "out")]) == 2
    err = capsys.readouterr().err.splitlines()
    assert err[0] == "error: 2 problems in briefs.csv, nothing was run:"
    assert err[1].strip().startswith("row 2: ") and "nope" in err[1]
    assert err[2].strip() == "row 3: num_images must be between 3 and 6 (got 12)"
    assert not (tmp_path / "out").exists()


def test_batch_max_cost_must_be_more_than_zero(tmp_path, capsys):
    path = _briefs(tmp_path)
    assert (
        main(["batch", str(path), "--model", "trace", "--max-cost", "0", "--output-dir", str(tmp_path)]) == 2
    )
    assert "--max-cost must be more than 0" in capsys.readouterr().err


def test_batch_api_absent_is_one_line_before_any_manifest(tmp_path, capsys, monkeypatch):
    import sys

    monkeypatch.setitem(sys.modules, "generate.batch_api", None)
    path = _briefs(tmp_path)
    code = main(
        ["batch", str(path), "--model", "trace", "--batch-api", "--output-dir", str(tmp_path / "out")]
    )
    assert code == 2
    assert capsys.readouterr().err.strip() == "error: the Gemini Batch API is not available in this build"
    assert not (tmp_path / "out").exists()


def test_batch_api_end_to_end_at_half_price_and_a_rerun_submits_nothing(tmp_path, capsys, monkeypatch):
    from generate.testing import FakeGeminiServer

    path, out = tmp_path / "briefs.csv", tmp_path / "out"
    path.write_text("brief,style_id,num_images\ngolf mascot,vintage-mascot,3\ntennis ball,vintage-mascot,3\n")
    args = ["batch", str(path), "--model", "nano-banana-pro", "--batch-api", "--output-dir", str(out)]
    with FakeGeminiServer() as fake:
        for name, value in fake.env().items():
            monkeypatch.setenv(name, value)
        fake.script_batch("SUCCEEDED")  # done at once: no poll to wait for
        assert main(args) == 0
        text = capsys.readouterr().out
        assert fake.batch_creates == 1 and all(r.batch for r in fake.requests)
        [manifest_path] = (out / "batches").glob("*/manifest.json")
        manifest = json.loads(manifest_path.read_text())
        job = manifest["batch_api"]["job"]
        assert f"Gemini batch job {job} (gemini-3-pro-image): succeeded" in text
        for row in manifest["rows"]:  # each run written is named with its row
            assert f"row {row['row']}: {row['run_id']} complete" in text
        # A new user learns the job's name, when it went in and how long such a job may take.
        submitted = manifest["batch_api"]["submitted_at"]
        assert f"Gemini batch job {job} (gemini-3-pro-image, submitted {submitted})" in text
        assert "within 24 hours" in text and text.count("within 24 hours") == 1
        assert [r["status"] for r in manifest["rows"]] == ["complete", "complete"]
        for row in manifest["rows"]:
            meta = json.loads((out / row["run_id"] / "metadata.json").read_text())
            assert {s["extra"]["batch_job"] for s in meta["sketches"]} == {job}
            standard = sum(float(s["extra"]["standard_cost_usd"]) for s in meta["sketches"])
            assert row["cost_usd"] == pytest.approx(standard / 2, abs=1e-4)
        # `sketchgen spend` counts the batch's runs at what they cost: the batch price.
        assert main(["spend", "--json", "--output-dir", str(out)]) == 0
        spend = json.loads(capsys.readouterr().out)
        assert spend["runs"] == 2 and spend["sketches"] == 6
        assert spend["total_usd"] == pytest.approx(sum(r["cost_usd"] for r in manifest["rows"]), abs=1e-6)

        assert main([*args, "--json"]) == 0
        summary = json.loads(capsys.readouterr().out)
        assert summary["status"] == "complete" and fake.batch_creates == 1
        assert sorted(r["run_id"] for r in summary["rows"]) == sorted(r["run_id"] for r in manifest["rows"])


def test_ctrl_c_says_how_to_resume_the_batch(tmp_path, capsys, monkeypatch):
    import generate.batch_run

    async def interrupted(batch, **_):
        batch.close()
        raise KeyboardInterrupt  # as Ctrl-C reaches asyncio.run mid-batch

    monkeypatch.setattr(generate.batch_run, "arun_prepared", interrupted)
    path = _briefs(tmp_path)
    assert main(["batch", str(path), "--model", "trace", "--output-dir", str(tmp_path / "out")]) == 130
    err = capsys.readouterr().err
    assert "interrupted: batch " in err and "run the same command again to resume it" in err


def _wait_for_job(manifest_glob, proc, timeout_s=120.0):
    """The job the child process recorded, once it has polled it at least once (no fixed sleep)."""
    import time

    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        for path in manifest_glob():
            try:
                entry = json.loads(path.read_text()).get("batch_api") or {}
            except ValueError:  # the manifest is written atomically: this would be a defect
                raise AssertionError(f"{path} is not valid JSON mid-run") from None
            if entry.get("job") and entry.get("state") == "RUNNING":
                return entry["job"]
        assert proc.poll() is None, proc.communicate()
        time.sleep(0.1)
    raise AssertionError("the child never recorded a polled job")


@pytest.mark.parametrize("how", ["SIGINT", "SIGKILL"])
def test_batch_api_killed_mid_poll_resumes_the_recorded_job_without_submitting_again(
    tmp_path, capsys, monkeypatch, how
):
    import os
    import signal
    import subprocess
    import sys
    from pathlib import Path

    from generate.testing import FakeGeminiServer

    path, out = tmp_path / "briefs.csv", tmp_path / "out"
    path.write_text("brief,style_id,num_images\ngolf mascot,vintage-mascot,3\n")
    args = ["batch", str(path), "--model", "nano-banana-pro", "--batch-api", "--output-dir", str(out)]
    exe = Path(sys.executable).with_name("sketchgen")
    with FakeGeminiServer() as fake:
        env = {k: v for k, v in os.environ.items() if not k.startswith(("GEMINI_", "GOOGLE_"))}
        env.update(fake.env())
        fake.script_batch("PENDING", "RUNNING", "RUNNING", "RUNNING", "SUCCEEDED")
        proc = subprocess.Popen(
            [str(exe), *args],
            env=env,
            stdin=subprocess.DEVNULL,  # no terminal: Ctrl-C must not ask, only say how to resume
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        try:
            job = _wait_for_job(lambda: (out / "batches").glob("*/manifest.json"), proc)
            proc.send_signal(getattr(signal, how))
            stdout, stderr = proc.communicate(timeout=60)
        finally:
            if proc.poll() is None:
                proc.kill()
        assert proc.returncode != 0
        if how == "SIGINT":
            assert "--batch-api" in stderr and job in stderr and "resume" in stderr
            assert "Traceback" not in stderr and "pending model calls" not in stderr
            assert f"stopped waiting for batch job {job}; it goes on at Google" in stderr
        assert fake.batches.cancels == 0 and fake.batch_creates == 1

        for name, value in fake.env().items():
            monkeypatch.setenv(name, value)
        fake.batches.jobs[job].states[:] = ["SUCCEEDED"]  # done by the time the user comes back
        assert main(args) == 0
        assert fake.batch_creates == 1  # resumed the recorded job, never a second submit
        [manifest_path] = (out / "batches").glob("*/manifest.json")
        manifest = json.loads(manifest_path.read_text())
        assert manifest["batch_api"]["job"] == job
        assert [r["status"] for r in manifest["rows"]] == ["complete"]


@pytest.mark.parametrize(
    ("flags", "named", "field"), [(["-n", "9"], "-n", "num_images"), (["--top-k", "99"], "--top-k", "top_k")]
)
def test_a_bad_default_is_named_by_its_flag(tmp_path, capsys, flags, named, field):
    out = tmp_path / "out"
    assert main(["batch", str(_briefs(tmp_path)), "--model", "trace", *flags, "--output-dir", str(out)]) == 2
    err = capsys.readouterr().err
    assert f"{named} must" in err and field not in err, err
    assert not (out / "batches").exists()
