"""The environment variables sketchgen's code reads, for the README and .env.example checks."""

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
PACKAGES = ("generate", "api", "cli", "rag", "mcp_server", "prompt", "style")
# Read by the SDKs sketchgen drives (google-genai, openai, huggingface_hub), not by name in our code.
SDK_VARS = {"GOOGLE_CLOUD_LOCATION", "OPENAI_ORG_ID", "OPENAI_PROJECT_ID"}
_VAR = re.compile(r"[\"'`]((?:SKETCHGEN|OPENAI|GEMINI|GOOGLE|HF)_[A-Z0-9_]+)[\"'`]")


def code_vars() -> set[str]:
    found = set()
    for package in PACKAGES:
        for path in (ROOT / package).rglob("*.py"):
            if "testing" in path.parts:
                continue  # the fake servers' own names, not settings
            found |= set(_VAR.findall(path.read_text(encoding="utf-8")))
    return found
