"""Test-wide isolation: no test sees a real key, a user's styles, or writes into the repo."""

from __future__ import annotations

import os

import pytest

from generate.testing import FakeOpenAIServer

_ISOLATED = (
    "GEMINI_API_KEY",
    "GOOGLE_API_KEY",
    "GEMINI_MODEL",
    "GEMINI_BASE_URL",
    "GOOGLE_GENAI_USE_VERTEXAI",
    "GOOGLE_CLOUD_PROJECT",
    "GOOGLE_CLOUD_LOCATION",
    "GOOGLE_APPLICATION_CREDENTIALS",
    "GOOGLE_GENAI_API_VERSION",
    "OPENAI_API_KEY",
    "OPENAI_BASE_URL",
    "OPENAI_ORG_ID",
    "OPENAI_PROJECT_ID",
    "SKETCHGEN_OPENAI_QUALITY",
    "SKETCHGEN_STYLES_DIR",
    "SKETCHGEN_CLIP_MODEL",
    "SKETCHGEN_CLIP_PRETRAINED",
    "SKETCHGEN_CLIP_PREPROCESS",
    "SKETCHGEN_CLIP_DEVICE",
    "SKETCHGEN_RETRIEVAL_MIN_SCORE",
    "SKETCHGEN_MAX_CONCURRENCY",
    "SKETCHGEN_TIMEOUT_S",
    "SKETCHGEN_API_TOKEN",
    "SKETCHGEN_MAX_RUNS",
    "SKETCHGEN_MAX_BODY_BYTES",
    "SKETCHGEN_DAILY_BUDGET_USD",
    "SKETCHGEN_RATE_LIMITS",
    "SKETCHGEN_PROMPT_TOKEN_BUDGET",
    "SKETCHGEN_DEBUG",
    "SKETCHGEN_LOCAL_DEVICE",
    "SKETCHGEN_LOCAL_MODEL_DIR",
    "SKETCHGEN_LOCAL_OFFLOAD",
    "SKETCHGEN_LOCAL_STEPS",
    "GOOGLE_GENAI_USE_ENTERPRISE",
    "HF_ENDPOINT",
    "SKETCHGEN_UPLOADS_MAX_MB",
    "SKETCHGEN_UPLOAD_RETENTION_HOURS",
)
# Set by the suite rather than removed (below).
SET_BY_THE_SUITE = ("SKETCHGEN_OUTPUT_DIR", "SKETCHGEN_INDEX_DIR", "HF_HUB_OFFLINE")
# Left as the machine has them: they only say where weights are looked for, the suite never
# fetches any (HF_HUB_OFFLINE), and the tests that read a cache point these at their own folder.
LEFT_AS_IS = ("HF_HOME", "HF_HUB_CACHE")

# Nothing in the suite may reach a hub for weights.
os.environ["HF_HUB_OFFLINE"] = "1"
os.environ["TRANSFORMERS_OFFLINE"] = "1"


@pytest.fixture(autouse=True)
def _isolated_env(monkeypatch, tmp_path):
    for name in _ISOLATED:
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("SKETCHGEN_OUTPUT_DIR", str(tmp_path / "outputs"))
    monkeypatch.setenv("SKETCHGEN_INDEX_DIR", str(tmp_path / "index"))
    # The per-model paces and spent daily quotas are process-wide: none leaks from one test to the next.
    from generate.quota import reset_gates

    reset_gates()
    before = dict(os.environ)
    yield
    reset_gates()
    if os.environ != before:
        # What a test put in the environment by hand (a .env file loaded by an in-process
        # `main()`, os.environ.update(fake.env())) goes with it, as monkeypatch's changes do.
        os.environ.clear()
        os.environ.update(before)


@pytest.fixture
def fake_openai(monkeypatch):
    """A started fake OpenAI Images server, with OPENAI_API_KEY and OPENAI_BASE_URL pointing at it."""
    with FakeOpenAIServer() as fake:
        for name, value in fake.env().items():
            monkeypatch.setenv(name, value)
        yield fake
