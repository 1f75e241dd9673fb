"""The prompt package imports cleanly as a program's first import (generate and prompt import each other)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.parametrize(
    "statement",
    [
        "from prompt.compiler import PromptCompiler",
        "import prompt",
        "from prompt.variation import plan_variations",
        "from generate.errors import ConfigError",
    ],
)
def test_a_fresh_interpreter_can_start_with(statement):
    done = subprocess.run(
        [sys.executable, "-c", statement], capture_output=True, text=True, timeout=120, cwd=ROOT
    )
    assert done.returncode == 0, done.stderr[-1500:]
