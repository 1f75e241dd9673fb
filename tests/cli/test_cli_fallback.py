"""`sketchgen generate --model A,B`: a fallback chain from the command line."""

from __future__ import annotations

import json

from cli.main import main
from generate.testing import Behavior, FakeGeminiServer


def test_a_chain_on_the_command_line_falls_back_per_sketch(tmp_path, monkeypatch, capsys):
    with FakeGeminiServer() as fake:
        for k, v in fake.env().items():
            monkeypatch.setenv(k, v)
        # A daily quota: the first answer says so; no sketch calls Gemini again, all go to trace.
        fake.set_default(Behavior.rate_limited(retry_delay_s=1, per_day=True))
        args = ["generate", "playful golf mascot", "-n", "3", "--model", "nano-banana-pro,trace"]
        code = main([*args, "--output-dir", str(tmp_path), "--json"])
        assert code == 0, capsys.readouterr().err
        out = json.loads(capsys.readouterr().out)
        assert {s["model"] for s in out["sketches"]} == {"trace"}
        assert all(s["fallbacks"][0]["error_code"] == "quota_exhausted" for s in out["sketches"])
        assert fake.count <= 3  # at most the calls already in flight when the first answer came

    assert main(["generate", "mascot", "--model", "trace,no-such-model", "--output-dir", str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert "no-such-model" in err and len(err.strip().splitlines()) == 1
