"""`sketchgen models`: every family with its availability line, then its models and price per image."""

from __future__ import annotations

import json

from cli.main import main
from tests.generate.stub_family import MODEL, READY_VAR, registered


def test_models_lists_each_family_with_its_availability(capsys):
    with registered(priority=None):
        assert main(["models"]) == 0
    out = capsys.readouterr().out
    lines = out.splitlines()
    assert lines[0].startswith("auto -> trace  (auto: no Gemini credentials")
    gemini = next(line for line in lines if line.startswith("gemini "))
    assert "not available (no Gemini credentials" in gemini and "set GEMINI_API_KEY" in gemini
    assert any(line.startswith("trace ") and ": available (offline" in line for line in lines)
    stub = next(line for line in lines if line.startswith("stub "))
    assert stub == f"stub — Stub pencils: not available ({READY_VAR} is not set; set {READY_VAR})"
    row = next(line for line in lines if line.strip().startswith(MODEL))
    assert "1K $0.010, 2K $0.020" in row and row.endswith("pencil-stub")
    # Models sit under their family's line.
    assert lines.index(stub) < lines.index(row)


def test_models_json_carries_family_and_availability(capsys, monkeypatch):
    monkeypatch.setenv(READY_VAR, "yes")
    with registered(priority=0):
        assert main(["models", "--json"]) == 0
    models = {m["id"]: m for m in json.loads(capsys.readouterr().out)}
    assert models["auto"]["resolves_to"] == MODEL
    assert models[MODEL]["family"] == "stub" and models[MODEL]["available"] is True
    assert models[MODEL]["availability"] == {
        "available": True,
        "reason": f"{READY_VAR} is set",
        "credentials": True,
        "extra_installed": None,
        "weights_present": None,
        "fix": "",
    }
    assert models["trace"]["availability"]["available"] is True
