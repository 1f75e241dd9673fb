"""`sketchgen generate --sheet`: one call, a grid cut into sketches; bad layouts are one clear line."""

from __future__ import annotations

import json

import pytest

from cli.main import main
from generate.testing import FakeGeminiServer


@pytest.fixture
def fake(monkeypatch):
    with FakeGeminiServer() as server:
        for k, v in server.env().items():
            monkeypatch.setenv(k, v)
        yield server


def test_sheet_2x2_makes_four_sketches_from_one_call(fake, tmp_path, capsys):
    code = main(
        ["generate", "playful golf mascot", "--model", "nano-banana-pro", "--sheet", "2x2", "--json"]
        + ["--output-dir", str(tmp_path)]
    )
    out = json.loads(capsys.readouterr().out)
    assert code == 0 and fake.count == 1
    assert out["status"] == "complete" and len(out["sketches"]) == 4
    (run,) = list(tmp_path.iterdir())
    names = sorted(p.name for p in run.iterdir())
    assert "sheet_01.png" in names and [n for n in names if n.startswith("sketch_")] == [
        f"sketch_{i}.png" for i in range(4)
    ]
    meta = json.loads((run / "metadata.json").read_text())
    assert [rec["sheet"]["cell"] for rec in meta["sketches"]] == [[0, 0], [0, 1], [1, 0], [1, 1]]


@pytest.mark.parametrize(
    ("flags", "message"),
    [
        (["--sheet", "4x4"], "error: sheet must be one of 2x2, 3x2, 2x3, 3x3 (columns x rows), got '4x4'"),
        (["--sheet", "3x3"], "error: sheet 3x3 is not offered by gemini-3-pro-image at image size 1K"),
        (["--sheet", "2x2", "-n", "3"], "error: num_images 3 does not match sheet 2x2 (4 cells)"),
    ],
)
def test_bad_sheets_are_one_clear_line_and_no_call(fake, tmp_path, capsys, flags, message):
    code = main(["generate", "mascot", "--model", "nano-banana-pro", "--output-dir", str(tmp_path), *flags])
    err = capsys.readouterr().err
    assert code != 0 and fake.count == 0
    assert err.strip().splitlines()[-1].startswith(message), err
    assert "Traceback" not in err and not list(tmp_path.iterdir())


def test_n_may_name_the_cell_count_even_above_six(fake, tmp_path, capsys):
    code = main(
        ["generate", "mascot", "--model", "nano-banana-pro", "--sheet", "3x3", "--size", "2K", "-n", "9"]
        + ["--output-dir", str(tmp_path), "--json"]
    )
    out = json.loads(capsys.readouterr().out)
    assert code == 0 and fake.count == 1 and len(out["sketches"]) == 9


def test_the_offline_demo_makes_a_sheet_with_no_key(tmp_path, capsys):
    code = main(
        [
            "generate",
            "playful golf mascot",
            "--model",
            "trace",
            "--sheet",
            "2x2",
            "--output-dir",
            str(tmp_path),
        ]
    )
    assert code == 0
    (run,) = list(tmp_path.iterdir())
    assert (run / "sheet_01.png").is_file() and len(list(run.glob("sketch_*.png"))) == 4


def test_a_sheet_dry_run_shows_the_one_call(fake, tmp_path, capsys):
    code = main(
        ["generate", "mascot", "--model", "nano-banana-pro", "--sheet", "2x2", "--dry-run", "--json"]
        + ["--output-dir", str(tmp_path)]
    )
    plan = json.loads(capsys.readouterr().out)
    assert code == 0 and fake.count == 0
    assert plan["sheet"]["calls"] == 1 and plan["num_images"] == 4


def test_a_sheet_row_is_refused_by_the_batch_api_before_any_call(fake, tmp_path, capsys):
    path = tmp_path / "briefs.csv"
    path.write_text("brief,style_id,sheet\ngolf mascot,vintage-mascot,2x2\n")
    out = tmp_path / "out"
    code = main(["batch", str(path), "--model", "nano-banana-pro", "--batch-api", "--output-dir", str(out)])
    err = capsys.readouterr().err
    assert code == 2 and fake.count == 0
    assert "does not go through the Batch API" in err and "Traceback" not in err
