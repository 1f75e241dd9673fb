"""The `sketchgen` command as a user runs it: the demo path, dry runs, bad input, listings."""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from cli.main import main
from generate.testing import FakeGeminiServer

REPO = Path(__file__).resolve().parents[2]


def _sketchgen(*args, cwd, env=None):
    """Run the installed entry point in a fresh process, as a user would."""
    exe = Path(sys.executable).with_name("sketchgen")
    full_env = {k: v for k, v in os.environ.items() if not k.startswith(("GEMINI_", "GOOGLE_"))}
    full_env.pop("SKETCHGEN_OUTPUT_DIR", None)
    full_env.update(env or {})
    return subprocess.run(
        [str(exe), *args], cwd=cwd, env=full_env, capture_output=True, text=True, timeout=300
    )


def test_demo_command_in_a_clean_directory(tmp_path):
    """The README's main job: no key, no network, 4 sketches + contact sheet + metadata in ./generated_outputs."""
    proc = _sketchgen("generate", "playful golf mascot", "--style", "vintage-mascot", cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert "trace" in proc.stdout and "GEMINI_API_KEY" in proc.stdout  # which model, why, how to switch
    runs = list((tmp_path / "generated_outputs").iterdir())
    assert len(runs) == 1
    run = runs[0]
    assert str(run) in proc.stdout
    assert sorted(p.name for p in run.iterdir()) == [
        "contact_sheet.png",
        "metadata.json",
        "sketch_0.png",
        "sketch_1.png",
        "sketch_2.png",
        "sketch_3.png",
    ]
    meta = json.loads((run / "metadata.json").read_text())
    assert meta["status"] == "complete" and meta["config"]["model_name"] == "trace"
    assert meta["model"]["requested"] == "auto" and "no Gemini credentials" in meta["model"]["reason"]
    assert meta["retrieval"]["method"] in ("lexical", "clip") and len(meta["reference_images"]) == 3
    for i in range(4):
        with Image.open(run / f"sketch_{i}.png") as img:
            assert img.mode == "L"


def _pixels(path):
    # Area-averaged to 64x64: a drawing moved by a few pixels looks nearly the same, a different
    # composition does not.
    with Image.open(path) as img:
        return np.asarray(img.convert("L").resize((64, 64), Image.Resampling.BOX), dtype=np.float32)


def test_sketches_of_a_run_differ_and_a_seed_reproduces_them(tmp_path):
    out = tmp_path / "out"
    args = [
        "generate",
        "playful golf mascot",
        "--style",
        "vintage-mascot",
        "--model",
        "trace",
        "--seed",
        "42",
        "--output-dir",
        str(out),
        "--json",
    ]
    assert main(args) == 0
    assert main(args) == 0
    first, second = sorted(out.iterdir())
    files = [f"sketch_{i}.png" for i in range(4)]
    digest = lambda p: hashlib.sha256(p.read_bytes()).hexdigest()  # noqa: E731
    assert [digest(first / f) for f in files] == [digest(second / f) for f in files]
    # Visibly different: mean absolute difference (0-255) between every pair of the run's sketches,
    # on area-averaged 64x64 copies. Measured for vintage-mascot, seeds 1-3, 6 sketches: the closest
    # pair scored 16.8-24.5, while the same sketch shifted by 3 px scores at most 4.3. A threshold of 8
    # sits at about twice that noise and half the closest real pair.
    imgs = [_pixels(first / f) for f in files]
    diffs = [np.abs(a - b).mean() for i, a in enumerate(imgs) for b in imgs[i + 1 :]]
    assert min(diffs) > 8, diffs


def test_dry_run_calls_no_model(tmp_path, monkeypatch, capsys):
    with FakeGeminiServer() as fake:
        for k, v in fake.env().items():
            monkeypatch.setenv(k, v)
        code = main(
            [
                "generate",
                "playful golf mascot",
                "--style",
                "vintage-mascot",
                "--model",
                "nano-banana-pro",
                "--dry-run",
                "--output-dir",
                str(tmp_path),
            ]
        )
        assert fake.count == 0
    out = capsys.readouterr().out
    assert code == 0
    assert out.count("Sketch 1 of 4") == 1 and "Sketch 4 of 4" in out
    assert "references" in out and "estimated cost" in out and "gemini-3-pro-image" in out
    assert not list(tmp_path.iterdir())  # no run folder either


def test_dry_run_json_lists_cost_per_model(capsys):
    assert main(["generate", "playful golf mascot", "--model", "trace", "--dry-run", "--json"]) == 0
    plan = json.loads(capsys.readouterr().out)
    assert len(plan["sketches"]) == 4 and plan["model"] == "trace"
    costs = {c["model"]: c for c in plan["estimated_cost"]}
    assert costs["trace"]["run_usd"] == 0 and costs["gemini-3-pro-image"]["per_image_usd"] > 0.1


@pytest.mark.parametrize(
    ("args", "needle"),
    [
        (["generate", "mascot", "--style", "vintage-mascott"], "vintage-mascot"),
        (["generate", "mascot", "-n", "7"], "-n"),
        (["generate", "mascot", "--model", "trace", "--aspect", "7:3"], "1:1"),
        (["generate", "mascot", "--model", "trace", "--size", "8K"], "2K"),
        (["generate", "mascot", "--model", "nano-banan"], "nano-banana"),
        (["generate", "mascot", "--model", "nano-banana"], "GEMINI_API_KEY"),
        (["generate", "   "], "brief"),
        (["generate", "mascot", "--model", "trace", "--google-search"], "Google Search"),
        (
            ["generate", "mascot", "--model", "trace", "--person-generation", "ALLOW_NONE"],
            "person_generation",
        ),
        (
            ["generate", "mascot", "--model", "trace", "--google-search", "--response-modalities", "image"],
            "google_search",
        ),
        (["generate", "mascot", "--model", "trace", "--timeout", "0"], "--timeout"),
        (["generate", "mascot", "--model", "trace", "--timeout", "soon"], "--timeout"),
    ],
)
def test_bad_input_is_one_line_and_exit_2(args, needle, capsys, tmp_path):
    code = main([*args, "--output-dir", str(tmp_path)])
    err = capsys.readouterr().err.strip()
    assert code == 2
    assert err.startswith("error: ") and "\n" not in err and "Traceback" not in err
    assert needle in err
    assert not list(tmp_path.iterdir())


def test_request_option_flags_reach_gemini(tmp_path, monkeypatch):
    with FakeGeminiServer() as fake:
        for k, v in fake.env().items():
            monkeypatch.setenv(k, v)
        code = main(
            [
                "generate",
                "playful golf mascot",
                "-n",
                "3",
                "--model",
                "nano-banana-pro",
                "--seed",
                "5",
                "--google-search",
                "--output-dir",
                str(tmp_path),
            ]
        )
        assert code == 0
        assert [(r.seed, r.google_search, r.response_modalities) for r in fake.requests] == [
            (5, True, ["TEXT", "IMAGE"])
        ] * 3
        fake.reset()
        assert (
            main(
                [
                    "generate",
                    "mascot",
                    "-n",
                    "3",
                    "--model",
                    "nano-banana-pro",
                    "--response-modalities",
                    "image",
                    "--output-dir",
                    str(tmp_path),
                ]
            )
            == 0
        )
        assert [r.response_modalities for r in fake.requests] == [["IMAGE"]] * 3
        fake.reset()
        code = main(
            [
                "generate",
                "mascot",
                "--model",
                "nano-banana-pro",
                "--person-generation",
                "ALLOW_ADULT",
                "--output-dir",
                str(tmp_path),
            ]
        )
        assert code == 2 and fake.count == 0  # Vertex AI only: refused before any call


def test_missing_credentials_error_also_names_the_offline_model(capsys):
    assert main(["generate", "mascot", "--model", "nano-banana-pro"]) == 2
    assert "trace" in capsys.readouterr().err


def test_styles_models_and_runs_listings(capsys, tmp_path):
    assert main(["styles"]) == 0
    out = capsys.readouterr().out
    for sid in ("vintage-mascot", "product-concept", "editorial-spot", "badge-emblem"):
        assert sid in out
    assert main(["models"]) == 0
    out = capsys.readouterr().out
    assert "gemini-3-pro-image" in out and "$0.134" in out and "shutdown" in out and "trace" in out
    assert main(["models", "--json"]) == 0
    models = {m["id"]: m for m in json.loads(capsys.readouterr().out)}
    assert models["auto"]["resolves_to"] == "trace"

    assert (
        main(
            [
                "generate",
                "golf bag",
                "--style",
                "product-concept",
                "--model",
                "trace",
                "-n",
                "3",
                "--output-dir",
                str(tmp_path),
                "--json",
            ]
        )
        == 0
    )
    run = json.loads(capsys.readouterr().out)
    assert run["status"] == "complete" and len(run["sketches"]) == 3
    assert main(["runs", "--output-dir", str(tmp_path), "--json"]) == 0
    runs = json.loads(capsys.readouterr().out)
    assert [r["run_id"] for r in runs] == [run["run_id"]]
    assert main(["runs", "--output-dir", str(tmp_path), "--style", "badge-emblem"]) == 0
    assert "no runs yet" in capsys.readouterr().out


def test_timeout_flag_and_env_reach_each_call(capsys, tmp_path, monkeypatch):
    from generate.testing import Behavior

    with FakeGeminiServer() as fake:
        for key, value in fake.env().items():
            monkeypatch.setenv(key, value)
        monkeypatch.setenv("SKETCHGEN_TIMEOUT_S", "not a number")
        args = ["generate", "mascot", "-n", "3", "--model", "nano-banana", "--top-k", "0"]
        assert main([*args, "--output-dir", str(tmp_path)]) == 2  # the env var is checked too
        assert "SKETCHGEN_TIMEOUT_S" in capsys.readouterr().err
        monkeypatch.setenv("SKETCHGEN_TIMEOUT_S", "30")
        fake.script(Behavior.hang(), match="Sketch 2 of 3")
        # 4.5 s: the sketches that answer stay clear of it on a loaded machine (attempts 1, 2, 1).
        code = main([*args, "--timeout", "4.5", "--output-dir", str(tmp_path), "--json"])
        assert code == 0, capsys.readouterr().err
        out = json.loads(capsys.readouterr().out)
        assert out["status"] == "complete"
        assert [s["attempts"] for s in out["sketches"]] == [1, 2, 1]  # --json says which were retried
        meta = json.loads(Path(out["metadata_path"]).read_text())
        assert meta["sketches"][1]["attempts"] == 2 and meta["sketches"][1]["retries"][0]["code"] == "timeout"
        assert {r.headers.get("x-server-timeout") for r in fake.requests} == {"5"}  # the flag wins


def test_runs_listing_skips_run_folders_and_metadata_symlinked_from_outside(capsys, tmp_path):
    from generate.runs import atomic_write_json

    root, outside = tmp_path / "outputs", tmp_path / "outside"
    (outside / "20250106_000000").mkdir(parents=True)
    meta = {"run_id": "20250106_000000", "status": "complete", "prompt_spec": {"brief": "OUTSIDE"}}
    atomic_write_json(outside / "20250106_000000" / "metadata.json", meta)
    root.mkdir()
    (root / "20250106_000000").symlink_to(outside / "20250106_000000", target_is_directory=True)
    (root / "20250107_000000").mkdir()
    (root / "20250107_000000" / "metadata.json").symlink_to(outside / "20250106_000000" / "metadata.json")
    assert main(["runs", "--output-dir", str(root), "--json"]) == 0
    assert json.loads(capsys.readouterr().out) == []
    assert main(["runs", "--output-dir", str(root)]) == 0
    out = capsys.readouterr().out
    assert "OUTSIDE" not in out and "no runs yet" in out


def test_a_reader_that_goes_away_ends_the_command_quietly(tmp_path):
    # `sketchgen generate ... --dry-run | head -1`: the pipe closes while the CLI still prints.
    read_end, write_end = os.pipe()
    os.close(read_end)
    exe = Path(sys.executable).with_name("sketchgen")
    env = {k: v for k, v in os.environ.items() if not k.startswith(("GEMINI_", "GOOGLE_"))}
    try:
        proc = subprocess.run(
            [str(exe), "generate", "golf mascot", "--model", "trace", "-n", "6", "--dry-run"],
            cwd=tmp_path,
            env=env,
            stdout=write_end,
            stderr=subprocess.PIPE,
            text=True,
            timeout=120,
        )
    finally:
        os.close(write_end)
    assert proc.returncode == 141, proc.stderr
    assert proc.stderr == ""


def test_runs_search_and_reindex_from_the_folders(tmp_path):
    """A folder of runs and no catalog: `runs --reindex` builds it and `runs --search` finds by brief."""
    from generate.run_catalog import CATALOG_NAME
    from tests.api.test_runs_files import make_run

    out = tmp_path / "outputs"
    make_run(out, "20250105_090000", brief="stern owl crest")
    make_run(out, "20250106_090000", brief="playful golf mascot")
    proc = _sketchgen("runs", "--reindex", "--output-dir", str(out), "--json", cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert "catalog rebuilt from 2 run folder(s)" in proc.stderr
    assert [r["run_id"] for r in json.loads(proc.stdout)] == ["20250106_090000", "20250105_090000"]
    assert (out / CATALOG_NAME).is_file()
    proc = _sketchgen("runs", "--search", "owl", "--output-dir", str(out), "--json", cwd=tmp_path)
    assert [r["run_id"] for r in json.loads(proc.stdout)] == ["20250105_090000"]
    proc = _sketchgen("runs", "--search", "*", "--output-dir", str(out), cwd=tmp_path)
    assert proc.returncode == 2 and "--search needs at least one word" in proc.stderr


def test_a_failed_sketch_line_says_what_it_was_billed(tmp_path, monkeypatch, capsys):
    from generate.testing import Behavior

    with FakeGeminiServer() as fake:
        for k, v in fake.env().items():
            monkeypatch.setenv(k, v)
        # Pro thinks on every call: an answer without an image still bills its prompt and thinking.
        fake.script(Behavior.no_image(), match="Sketch 2 of 3", then=Behavior.no_image())
        fake.script(Behavior.image_safety(), match="Sketch 3 of 3", then=Behavior.image_safety())
        args = ["generate", "golf mascot", "-n", "3", "--model", "nano-banana-pro"]
        main([*args, "--output-dir", str(tmp_path)])
    out = capsys.readouterr()
    lines = [line for line in (out.out + out.err).splitlines() if "FAILED" in line]
    (billed,) = [line for line in lines if "sketch 1 FAILED" in line]
    (blocked,) = [line for line in lines if "sketch 2 FAILED" in line]
    assert "(billed $0." in billed and "billed" not in blocked
