""".env.example lists every environment variable sketchgen (or an SDK it drives) reads, once, and no other."""

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
ENV_EXAMPLE = (ROOT / ".env.example").read_text(encoding="utf-8")
PACKAGES = ("generate", "api", "cli", "rag", "mcp_server", "prompt", "style")
# Read by the SDKs sketchgen drives (google-genai, openai, huggingface_hub), not by name in our code.
SDK_VARS = {"GOOGLE_CLOUD_LOCATION", "OPENAI_ORG_ID", "OPENAI_PROJECT_ID"}
_VAR = re.compile(r"[\"'`]((?:SKETCHGEN|OPENAI|GEMINI|GOOGLE|HF)_[A-Z0-9_]+)[\"'`]")


def _code_vars() -> set[str]:
    found = set()
    for package in PACKAGES:
        for path in (ROOT / package).rglob("*.py"):
            if "testing" in path.parts:
                continue  # the fake servers' own names, not settings
            found |= set(_VAR.findall(path.read_text(encoding="utf-8")))
    return found


def test_env_example_lists_every_variable_the_code_reads_once_and_no_other():
    listed = re.findall(r"^#? ?([A-Z][A-Z0-9_]+)=", ENV_EXAMPLE, flags=re.MULTILINE)
    wanted = _code_vars() | SDK_VARS
    assert sorted(v for v in set(listed) if listed.count(v) > 1) == []
    assert sorted(wanted - set(listed)) == [], "missing from .env.example"
    assert sorted(set(listed) - wanted) == [], "in .env.example but read by nothing"
