"""Fixtures for the Gemini tests: no real credentials ever, and a fake Gemini server per test."""

from __future__ import annotations

import pytest

from generate.testing import FakeGeminiServer

_GEMINI_ENV = (
    "GEMINI_API_KEY",
    "GOOGLE_API_KEY",
    "GEMINI_BASE_URL",
    "GEMINI_MODEL",
    "GOOGLE_GENAI_USE_VERTEXAI",
    "GOOGLE_GENAI_USE_ENTERPRISE",
    "GOOGLE_CLOUD_PROJECT",
    "GOOGLE_CLOUD_LOCATION",
    "GOOGLE_APPLICATION_CREDENTIALS",
    "GOOGLE_GENAI_API_VERSION",
    "GOOGLE_GENAI_HTTP_CLIENT",
)


@pytest.fixture(autouse=True)
def _no_gemini_credentials(monkeypatch):
    """No test in tests/generate/ sees a real key or Vertex settings from the developer's shell."""
    for name in _GEMINI_ENV:
        monkeypatch.delenv(name, raising=False)


@pytest.fixture
def fake_gemini():
    """A started :class:`FakeGeminiServer` (no latency); stopped after the test."""
    with FakeGeminiServer() as fake:
        yield fake


@pytest.fixture
def gemini_env(fake_gemini, monkeypatch):
    """The fake server with GEMINI_API_KEY=test-key and GEMINI_BASE_URL pointing at it."""
    for name, value in fake_gemini.env().items():
        monkeypatch.setenv(name, value)
    return fake_gemini


@pytest.fixture
def fake(gemini_env):
    """:func:`gemini_env` by the short name the run tests use (a file that needs latency defines
    its own ``fake``)."""
    return gemini_env
