"""`sketchgen refine` / `vary` / `generate --image --ref` / `runs --tree`, offline with trace."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from cli.main import main
from generate.testing import FakeGeminiServer

REFS = Path(__file__).resolve().parents[2] / "style" / "builtin" / "references"


def _json_run(capsys, *args) -> dict:
    code = main([*args, "--json"])
    out = capsys.readouterr().out
    assert code == 0, out
    return json.loads(out)


def test_refine_vary_and_the_tree_offline(capsys, tmp_path):
    out = ["--output-dir", str(tmp_path)]
    first = _json_run(capsys, "generate", "playful golf mascot", "--model", "trace", "-n", "3", *out)
    child = _json_run(capsys, "refine", first["run_id"], "1", "make the cap bigger", "-n", "2", *out)
    assert child["status"] == "complete" and len(child["sketches"]) == 2
    assert any("ignores the instruction" in w for w in child["warnings"])
    grandchild = _json_run(capsys, "vary", child["run_id"], "0", "-n", "3", *out)
    meta = json.loads(Path(grandchild["metadata_path"]).read_text())
    assert meta["parent"]["run_id"] == child["run_id"] and meta["parent"]["kind"] == "vary"

    assert main(["runs", "--tree", *out]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].startswith(first["run_id"])
    assert lines[1].strip().startswith(f"└ {child['run_id']}") and "make the cap bigger" in lines[1]
    assert lines[2].startswith("    └ " + grandchild["run_id"])
    tree = _json_run(capsys, "runs", "--tree", *out)
    assert tree[0]["children"][0]["children"][0]["run_id"] == grandchild["run_id"]


def test_refine_dry_run_with_gemini_shows_the_path_and_calls_nothing(capsys, tmp_path, monkeypatch):
    with FakeGeminiServer() as fake:
        for k, v in fake.env().items():
            monkeypatch.setenv(k, v)
        out = ["--output-dir", str(tmp_path)]
        first = _json_run(capsys, "generate", "golf mascot", "--model", "nano-banana-pro", "-n", "3", *out)
        before = fake.count
        assert main(["refine", first["run_id"], "0", "bigger cap", "--dry-run", *out]) == 0
        text = capsys.readouterr().out
        assert fake.count == before and len(list(tmp_path.iterdir())) == 1
    assert text.startswith("dry run: 1 sketch, style ")
    assert "refine of sketch 0 of run" in text and "sent as multi-turn" in text
    assert "REVISION of the sketch above: bigger cap" in text and "estimated cost" in text


def test_generate_with_image_and_refs(capsys, tmp_path):
    image, *refs = sorted(REFS.glob("badge-emblem/*.png"))[:3]
    run = _json_run(
        capsys,
        "generate",
        "clean version of my sketch",
        "--model",
        "trace",
        "--image",
        str(image),
        "--ref",
        str(refs[0]),
        "--ref",
        str(refs[1]),
        "--output-dir",
        str(tmp_path),
    )
    meta = json.loads(Path(run["metadata_path"]).read_text())
    assert meta["iteration"]["kind"] == "edit" and meta["iteration"]["input_images"] == [str(image.resolve())]
    assert meta["reference_images"][:2] == [str(p.resolve()) for p in refs]
    assert all(s["extra"]["reference"] == str(image.resolve()) for s in meta["sketches"])  # traced the image


@pytest.mark.parametrize(
    ("args", "needle"),
    [
        (["refine", "20990101_000000", "0", "bigger cap"], "no run '20990101_000000'"),
        (["refine", "RUN", "9", "bigger cap"], "no sketch 9"),
        (["refine", "RUN", "0", "  "], "instruction must not be empty"),
        (["refine", "RUN", "0", "bigger", "-n", "0"], "-n"),
        (["vary", "RUN", "0", "-n", "7"], "-n"),
        (["generate", "mascot", "--model", "trace", "--image", "README.md"], "not a PNG, JPEG or WebP"),
        (["generate", "mascot", "--model", "trace", "--ref", "missing.png"], "cannot read missing.png"),
    ],
)
def test_bad_iteration_input_is_one_line_and_exit_2(args, needle, capsys, tmp_path, monkeypatch):
    monkeypatch.chdir(Path(__file__).resolve().parents[2])
    out = tmp_path / "out"
    first = _json_run(
        capsys, "generate", "golf mascot", "--model", "trace", "-n", "3", "--output-dir", str(out)
    )
    before = sorted(p.name for p in out.iterdir())
    args = [first["run_id"] if a == "RUN" else a for a in args]
    code = main([*args, "--output-dir", str(out)])
    err = capsys.readouterr().err.strip()
    assert code == 2 and err.startswith("error: ") and "\n" not in err
    assert needle in err
    assert sorted(p.name for p in out.iterdir()) == before
