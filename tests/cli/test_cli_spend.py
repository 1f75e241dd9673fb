"""`sketchgen spend` and `sketchgen generate --max-cost`."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import pytest

from cli.main import main
from generate.testing import FakeGeminiServer
from tests.generate.spend_helpers import recorded_run, resumed


def test_spend_sums_by_model_as_text_and_json(tmp_path, capsys):
    recorded_run(tmp_path, datetime(2026, 3, 1, 12, tzinfo=UTC), 0.5, model="gemini-3-pro-image-preview")
    recorded_run(tmp_path, datetime(2026, 3, 2, 12, tzinfo=UTC), 0.25, model="gemini-2.5-flash-image")
    assert main(["spend", "--by", "model", "--output-dir", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    assert "gemini-3-pro-image-preview" in out and "total: $0.7500 over 2 runs" in out
    assert main(["spend", "--since", "2026-03-02", "--json", "--output-dir", str(tmp_path)]) == 0
    summary = json.loads(capsys.readouterr().out)
    assert summary["total_usd"] == 0.25 and summary["groups"][0]["key"] == "2026-03-02"


def test_spend_by_day_counts_a_resume_on_the_day_it_ran(tmp_path, capsys):
    run_id = recorded_run(tmp_path, datetime(2026, 3, 1, 23, 0, tzinfo=UTC), 0.5)
    resumed(tmp_path, run_id, datetime(2026, 3, 2, 8, 0, tzinfo=UTC), 0.125)
    assert main(["spend", "--json", "--output-dir", str(tmp_path)]) == 0
    summary = json.loads(capsys.readouterr().out)
    assert [(g["key"], g["cost_usd"]) for g in summary["groups"]] == [
        ("2026-03-01", 0.5),
        ("2026-03-02", 0.125),
    ]
    assert summary["total_usd"] == 0.625 and summary["runs"] == 1
    assert main(["spend", "--since", "2026-03-02", "--json", "--output-dir", str(tmp_path)]) == 0
    assert json.loads(capsys.readouterr().out)["total_usd"] == 0.125


def test_spend_bad_date_is_one_line_exit_2(tmp_path, capsys):
    assert main(["spend", "--since", "last week", "--output-dir", str(tmp_path)]) == 2
    assert capsys.readouterr().err.startswith("error: --since must be a date like 2026-01-31")


def test_generate_over_max_cost_is_refused_before_any_call(tmp_path, monkeypatch, capsys):
    with FakeGeminiServer() as fake:
        for k, v in fake.env().items():
            monkeypatch.setenv(k, v)
        code = main(
            [
                "generate",
                "golf mascot",
                "--model",
                "nano-banana-pro",
                "--max-cost",
                "0.1",
                "--output-dir",
                str(tmp_path),
            ]
        )
        assert code == 2 and fake.count == 0
    err = capsys.readouterr().err
    assert "max_cost_usd $0.1000" in err and len(err.strip().splitlines()) == 1


@pytest.mark.parametrize("cap", ["0", "-2", "cheap"])
def test_max_cost_must_be_more_than_zero(cap, capsys, tmp_path):
    assert main(["generate", "golf mascot", "--max-cost", cap, "--output-dir", str(tmp_path)]) == 2
    assert "--max-cost must be" in capsys.readouterr().err
