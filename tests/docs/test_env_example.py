""".env.example lists every environment variable sketchgen (or an SDK it drives) reads, once, and no other."""

import re

from tests.docs.code_vars import ROOT, SDK_VARS, code_vars

ENV_EXAMPLE = (ROOT / ".env.example").read_text(encoding="utf-8")


def test_env_example_lists_every_variable_the_code_reads_once_and_no_other():
    listed = re.findall(r"^#? ?([A-Z][A-Z0-9_]+)=", ENV_EXAMPLE, flags=re.MULTILINE)
    wanted = code_vars() | SDK_VARS
    assert sorted(v for v in set(listed) if listed.count(v) > 1) == []
    assert sorted(wanted - set(listed)) == [], "missing from .env.example"
    assert sorted(set(listed) - wanted) == [], "in .env.example but read by nothing"
