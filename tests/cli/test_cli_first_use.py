"""The CLI's first-use edges: messages a person would write, dry runs without a key, warnings said
once and cleanly, retired models on request."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from cli.main import main
from generate.testing import FakeGeminiServer


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        (["mascot", "-n", "7"], "error: -n must be between 3 and 6 (got 7)"),
        (["mascot", "-n", "2"], "error: -n must be between 3 and 6 (got 2)"),
        (["mascot", "--top-k", "15"], "error: --top-k must be between 0 and 14 (got 15)"),
        (["mascot", "--resolution", "big"], "error: --resolution must look like 1024x1024"),
        (["   "], "error: the brief must not be empty"),
        (["x" * 2001], "error: the brief must be at most 2000 characters (got 2001)"),
        (["mascot", "-n", "four"], "error: argument -n/--num-images: must be a whole number, not 'four'"),
    ],
)
def test_validation_messages_read_as_a_person_would_write_them(args, expected, capsys, tmp_path):
    code = main(["generate", *args, "--output-dir", str(tmp_path)]) if "four" not in args else None
    if code is None:  # argparse's own errors exit through SystemExit
        with pytest.raises(SystemExit) as info:
            main(["generate", *args])
        code = info.value.code
    err = capsys.readouterr().err.strip()
    assert code == 2
    assert err.startswith(expected) and "\n" not in err, err
    assert "Input should" not in err and "Value error" not in err


def test_dry_run_with_an_explicit_gemini_model_and_no_key(capsys, monkeypatch):
    with FakeGeminiServer() as fake:
        monkeypatch.setenv("GEMINI_BASE_URL", fake.base_url)  # no key: a real run would refuse
        assert (
            main(["generate", "playful golf mascot", "--model", "nano-banana-pro", "-n", "3", "--dry-run"])
            == 0
        )
        out = capsys.readouterr().out
        assert "model gemini-3-pro-image" in out and "--- sketch 2:" in out and "estimated cost:" in out
        assert "GEMINI_API_KEY" in out  # says a real run needs credentials
        (warning,) = [line for line in out.splitlines() if "a real run would stop" in line]
        assert len(warning) <= 110 and "is set" in warning, warning  # what is missing, in one short line
        assert main(["generate", "golf mascot", "--model", "nano-banana", "--dry-run", "--json"]) == 0
        plan = json.loads(capsys.readouterr().out)
        assert plan["model"] == "gemini-nano-banana-2.1" and len(plan["sketches"]) == 4
        assert any("credentials" in w for w in plan["warnings"])
        assert fake.count == 0
    # Without --dry-run the same command still refuses before any call.
    assert main(["generate", "golf mascot", "--model", "nano-banana"]) == 2


def test_deprecation_warning_prints_once(capsys, monkeypatch, tmp_path):
    with FakeGeminiServer(latency=0.0) as fake:
        for name, value in fake.env().items():
            monkeypatch.setenv(name, value)
        code = main(
            [
                "generate",
                "golf mascot",
                "--model",
                "gemini-3.1-flash-image",
                "-n",
                "3",
                "--output-dir",
                str(tmp_path),
            ]
        )
    captured = capsys.readouterr()
    assert code == 0, captured.err
    assert (captured.out + captured.err).count("is deprecated") == 1


def _dry_run(brief: str, *options: str, cwd: Path, env: dict[str, str]) -> subprocess.CompletedProcess:
    """``sketchgen [options] generate BRIEF --model trace --dry-run`` in a fresh process, as a user runs it."""
    exe = str(Path(sys.executable).with_name("sketchgen"))
    return subprocess.run(
        [exe, *options, "generate", brief, "--model", "trace", "--dry-run"],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_prompt_trimming_warning_is_one_clean_line(tmp_path):
    brief = "playful golf mascot" + " with a big hat" * 60
    env = {**os.environ, "SKETCHGEN_PROMPT_TOKEN_BUDGET": "300"}
    env.pop("SKETCHGEN_DEBUG", None)
    proc = _dry_run(brief, cwd=tmp_path, env=env)
    assert proc.returncode == 0, proc.stderr
    lines = [line for line in proc.stderr.splitlines() if line.strip()]
    assert len(lines) == 1, proc.stderr
    assert lines[0].startswith("warning: prompt over the 300-token budget: trimmed the brief")
    assert ".py" not in lines[0] and "PromptTrimmedWarning" not in proc.stderr


def test_allow_retired_runs_a_shut_down_model(capsys, monkeypatch, tmp_path):
    with FakeGeminiServer(latency=0.0) as fake:
        for name, value in fake.env().items():
            monkeypatch.setenv(name, value)
        args = ["generate", "golf mascot", "--model", "gemini-3-pro-image-preview", "-n", "3"]
        assert main([*args, "--output-dir", str(tmp_path)]) == 2
        err = capsys.readouterr().err
        assert "shut down" in err and "--allow-retired" in err and fake.count == 0
        assert main([*args, "--allow-retired", "--output-dir", str(tmp_path)]) == 0
        assert fake.count == 3
        assert {r.model for r in fake.requests} == {"gemini-3-pro-image-preview"}
    out = capsys.readouterr().out
    assert "gemini-3-pro-image-preview" in out and "shut down" in out  # said, not hidden


def test_serve_on_a_busy_port_is_one_line_and_exit_2(tmp_path):
    import socket

    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        proc = subprocess.run(
            [str(Path(sys.executable).with_name("sketchgen")), "serve", "--port", str(port)],
            cwd=tmp_path,
            capture_output=True,
            text=True,
            timeout=60,
        )
    assert proc.returncode == 2, proc.stderr
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: ") and f"port {port}" in lines[0], proc.stderr
    assert "in use" in lines[0] and "--port" in lines[0]


def test_runs_limit_below_one_is_refused(capsys):
    assert main(["runs", "--limit", "0"]) == 2
    assert capsys.readouterr().err.strip() == "error: --limit must be at least 1 (got 0)"


def test_verbose_says_each_library_warning_once(tmp_path):
    """-v shows the library's log lines, but a warning already printed as a Python warning (a
    skipped style file, a trimmed prompt) is not said a second time as a log line."""
    styles = tmp_path / "styles"
    styles.mkdir()
    (styles / "broken.toml").write_text('id = "broken"\nname = 3\n')
    brief = "playful golf mascot" + " with a big hat" * 60
    env = {**os.environ, "SKETCHGEN_PROMPT_TOKEN_BUDGET": "300", "SKETCHGEN_STYLES_DIR": str(styles)}
    env.pop("SKETCHGEN_DEBUG", None)
    proc = _dry_run(brief, "-v", cwd=tmp_path, env=env)
    assert proc.returncode == 0, proc.stderr
    assert proc.stderr.count("style file skipped") == 1, proc.stderr
    assert proc.stderr.count("token budget") == 1, proc.stderr
