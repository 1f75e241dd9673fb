"""Vertex AI without Application Default Credentials: one clear error before any call, everywhere."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import httpx
import pytest

from generate.adapter import get_adapter
from generate.adapters.gemini.adapter import NanoBananaAdapter
from generate.errors import ConfigError, CredentialsError
from generate.testing import FakeGeminiServer

ADC = '{"type": "authorized_user", "client_id": "c", "client_secret": "s", "refresh_token": "r"}'


@pytest.fixture
def vertex_without_adc(monkeypatch, tmp_path):
    """Vertex AI switched on with a project, an empty HOME and no GOOGLE_APPLICATION_CREDENTIALS."""
    home = tmp_path / "home"
    home.mkdir()
    monkeypatch.setenv("HOME", str(home))
    monkeypatch.delenv("CLOUDSDK_CONFIG", raising=False)
    monkeypatch.setenv("GOOGLE_GENAI_USE_VERTEXAI", "true")
    monkeypatch.setenv("GOOGLE_CLOUD_PROJECT", "my-project")
    monkeypatch.setenv("GOOGLE_CLOUD_LOCATION", "global")
    return home


def test_library_raises_a_credentials_error_naming_adc(vertex_without_adc):
    with pytest.raises(CredentialsError) as info:
        NanoBananaAdapter("nano-banana")
    message = str(info.value)
    assert isinstance(info.value, ConfigError) and info.value.field == "model"
    assert "Application Default Credentials" in message and "gcloud auth application-default login" in message
    assert "\n" not in message


def test_an_unusable_credentials_file_is_named(vertex_without_adc, monkeypatch, tmp_path):
    bad = tmp_path / "key.json"
    bad.write_text("{not json")
    monkeypatch.setenv("GOOGLE_APPLICATION_CREDENTIALS", str(bad))
    with pytest.raises(CredentialsError, match="GOOGLE_APPLICATION_CREDENTIALS") as info:
        get_adapter("nano-banana-pro")
    assert str(bad) in str(info.value)


def test_with_adc_the_adapter_builds(vertex_without_adc, monkeypatch, tmp_path):
    adc = tmp_path / "adc.json"
    adc.write_text(ADC)
    monkeypatch.setenv("GOOGLE_APPLICATION_CREDENTIALS", str(adc))
    adapter = get_adapter("nano-banana")
    assert isinstance(adapter, NanoBananaAdapter)
    adapter.close()


def test_auto_says_why_it_does_not_use_vertex(vertex_without_adc):
    adapter = get_adapter("auto")
    assert adapter.name == "trace" and "Application Default Credentials" in adapter.selection_reason


def test_cli_prints_one_line_and_exits_2_before_any_call(vertex_without_adc, tmp_path):
    with FakeGeminiServer() as fake:
        env = {k: v for k, v in os.environ.items() if k != "GOOGLE_APPLICATION_CREDENTIALS"}
        env["GEMINI_BASE_URL"] = fake.base_url
        exe = Path(sys.executable).with_name("sketchgen")
        proc = subprocess.run(
            [str(exe), "generate", "playful golf mascot", "--model", "nano-banana"],
            cwd=tmp_path,
            env=env,
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert fake.count == 0
    assert proc.returncode == 2, proc.stderr
    lines = proc.stderr.strip().splitlines()
    assert (
        len(lines) == 1 and lines[0].startswith("error: ") and "Application Default Credentials" in lines[0]
    )
    assert "Traceback" not in proc.stderr + proc.stdout


async def test_service_answers_4xx_naming_the_problem(vertex_without_adc, tmp_path):
    from api.main import create_app

    app = create_app(output_dir=tmp_path / "out")
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app), base_url="http://sketchgen"
    ) as client:
        response = await client.post("/generate", json={"brief": "golf mascot", "model": "nano-banana"})
    assert 400 <= response.status_code < 500
    body = response.json()
    assert body["field"] == "model" and "Application Default Credentials" in body["message"]


@pytest.mark.parametrize("runtime_var", ["K_SERVICE", "CLOUD_RUN_JOB", "FUNCTION_TARGET", "GAE_SERVICE"])
def test_on_a_google_serverless_runtime_the_metadata_server_is_trusted(
    vertex_without_adc, monkeypatch, runtime_var
):
    # Cloud Run & co. have no ADC file and no GCE SMBIOS name: their credentials come from the
    # metadata server, which the no-network check cannot reach. Refusing there would refuse every run.
    monkeypatch.setenv(runtime_var, "sketchgen")
    adapter = get_adapter("nano-banana")
    assert isinstance(adapter, NanoBananaAdapter)
    adapter.close()
