"""`sketchgen generate --model A,B`: a fallback chain from the command line."""

from __future__ import annotations

import json

import pytest

from cli.main import main
from generate.testing import Behavior, FakeGeminiServer, OpenAIBehavior
from generate.testing.fake_openai import FakeOpenAIServer


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


@pytest.mark.parametrize(
    ("behavior", "code", "at_once"),
    [
        (OpenAIBehavior.insufficient_quota(), "quota_exhausted", True),  # no retry can help
        (OpenAIBehavior.rate_limited(retry_after_s=0.01), "rate_limited", False),  # retried first
    ],
)
def test_an_openai_429_falls_back_after_its_retries_or_at_once(
    behavior, code, at_once, tmp_path, monkeypatch, capsys
):
    with FakeOpenAIServer() as fake:
        for k, v in fake.env().items():
            monkeypatch.setenv(k, v)
        fake.set_default(behavior)
        args = ["generate", "playful golf mascot", "-n", "3", "--model", "openai:gpt-image-1.5,trace"]
        assert main([*args, "--output-dir", str(tmp_path), "--json"]) == 0
        out = json.loads(capsys.readouterr().out)
        assert [s["model"] for s in out["sketches"]] == ["trace"] * 3
        assert all(s["fallbacks"][0]["model"] == "openai:gpt-image-1.5" for s in out["sketches"])
        assert all(s["fallbacks"][0]["error_code"] == code for s in out["sketches"])
        assert (fake.count <= 3) if at_once else (fake.count > 3)
