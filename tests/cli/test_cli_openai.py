"""`sketchgen generate --model openai:...` against the fake OpenAI Images server, as a user runs it."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from cli.main import main
from generate.testing import FakeOpenAIServer

SECRET = "sk-proj-FAKE-KEY-FOR-THE-CLI-TEST-0123456789"


def test_generate_with_an_openai_model_writes_the_sketches_and_their_cost(capsys, fake_openai, tmp_path):
    args = ["generate", "playful golf mascot", "--model", "openai:gpt-image-1", "-n", "3", "--json"]
    assert main([*args, "--output-dir", str(tmp_path)]) == 0
    assert fake_openai.count == 3 and {r.model for r in fake_openai.requests} == {"gpt-image-1"}
    summary = json.loads(capsys.readouterr().out)
    assert summary["status"] == "complete" and summary["model"] == "openai:gpt-image-1"
    assert summary["cost_usd"] > 0
    meta = json.loads(Path(summary["metadata_path"]).read_text())
    assert [s["status"] for s in meta["sketches"]] == ["completed"] * 3
    assert all((Path(summary["output_dir"]) / s["file"]).is_file() for s in meta["sketches"])


def test_no_openai_key_is_one_line_and_exit_2(capsys, tmp_path):
    code = main(["generate", "golf mascot", "--model", "openai:gpt-image-1.5", "--output-dir", str(tmp_path)])
    err = capsys.readouterr().err.strip()
    assert code == 2 and len(err.splitlines()) == 1 and "OPENAI_API_KEY" in err


def test_the_entry_point_runs_an_openai_model_and_never_prints_the_key(tmp_path):
    exe = str(Path(sys.executable).with_name("sketchgen"))
    with FakeOpenAIServer() as fake:
        env = {**os.environ, **fake.env(api_key=SECRET), "SKETCHGEN_OUTPUT_DIR": str(tmp_path)}
        proc = subprocess.run(
            [exe, "generate", "playful golf mascot", "--model", "openai:gpt-image-1", "-n", "3"],
            cwd=tmp_path,
            env=env,
            capture_output=True,
            text=True,
            timeout=300,
        )
        assert proc.returncode == 0, proc.stderr
        assert fake.count == 3 and all(r.authorized for r in fake.requests)
    assert "openai:gpt-image-1" in proc.stdout and "shut down" in proc.stdout + proc.stderr
    assert SECRET not in proc.stdout + proc.stderr
    assert len(list(tmp_path.glob("*/sketch_*.png"))) == 3


def test_refining_an_openai_sketch_sends_it_as_the_image_to_edit(capsys, fake_openai, tmp_path):
    args = ["generate", "playful golf mascot", "--model", "openai:gpt-image-1.5", "-n", "3", "--json"]
    assert main([*args, "--output-dir", str(tmp_path)]) == 0
    run_id = json.loads(capsys.readouterr().out)["run_id"]

    assert main(["refine", run_id, "1", "make the cap bigger", "--output-dir", str(tmp_path)]) == 0
    edit = fake_openai.requests[-1]
    assert fake_openai.count == 4 and edit.endpoint == "edits" and edit.model == "gpt-image-1.5"
    assert edit.images[0]["filename"] == "sketch_1.png"  # the parent first, then any references
    assert edit.fields["input_fidelity"] == "high" and "make the cap bigger" in edit.prompt
    assert "Image 1 is the drawing to work from" in edit.prompt
