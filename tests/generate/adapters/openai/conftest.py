"""Fixtures for the OpenAI adapter tests: a fake OpenAI Images server per test, driven by the real SDK."""

from __future__ import annotations

import pytest

from generate.testing import FakeOpenAIServer


@pytest.fixture
def fake_openai(monkeypatch):
    """A started :class:`FakeOpenAIServer`, with OPENAI_API_KEY and OPENAI_BASE_URL pointing at it."""
    with FakeOpenAIServer() as fake:
        for name, value in fake.env().items():
            monkeypatch.setenv(name, value)
        yield fake
