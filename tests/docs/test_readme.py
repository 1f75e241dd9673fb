"""README.md describes the code as it is: every variable the code reads, every CLI
flag, every HTTP endpoint, and the layout's folders (a merge that adds one must document it)."""

import argparse
import re

import pytest

from cli.main import build_parser
from tests.docs.code_vars import ROOT, SDK_VARS, code_vars

README = (ROOT / "README.md").read_text(encoding="utf-8")


def _section(title: str) -> str:
    start = README.index(f"\n## {title}\n")
    end = README.find("\n## ", start + 1)
    return README[start : end if end != -1 else None]


def test_configuration_table_names_every_variable_once():
    rows = [line for line in _section("Configuration").splitlines() if line.startswith("| `")]
    named = [v for row in rows for v in re.findall(r"`([A-Z][A-Z0-9_]+)`", row.split(" | ")[0])]
    assert sorted(v for v in set(named) if named.count(v) > 1) == []
    assert sorted((code_vars() | SDK_VARS) - set(named)) == [], "missing from the Configuration table"


def _subcommands() -> dict[str, argparse.ArgumentParser]:
    (sub,) = [a for a in build_parser()._actions if isinstance(a, argparse._SubParsersAction)]
    return dict(sub.choices)


@pytest.mark.parametrize("name", sorted(_subcommands()))
def test_cli_section_shows_every_flag_of_every_command(name):
    block = _section("CLI").split("```text", 1)[1].split("```", 1)[0]
    usage = block[block.index(f"sketchgen {name} ") :]
    usage = usage[: usage.find("\nsketchgen ", 1) if "\nsketchgen " in usage[1:] else None]
    if name == "weights":  # two lines, one per form
        usage = "\n".join(line for line in block.splitlines() if line.startswith("sketchgen weights"))
    flags = [
        action.option_strings
        for action in _subcommands()[name]._actions
        if action.option_strings and not isinstance(action, argparse._HelpAction)
    ]
    missing = [
        opts[-1]
        for opts in flags
        if not any(re.search(rf"(?<![\w-]){re.escape(o)}(?![\w-])", usage) for o in opts)
    ]
    assert missing == [], f"README's CLI section lacks sketchgen {name} {missing}"


def test_endpoint_tables_name_every_route():
    from api.main import create_app

    documented = re.findall(r"`(GET|POST|PUT|DELETE) (/[^`?\s]*)", README)
    documented_paths = {(method, path.replace("{id}", "{style_id}")) for method, path in documented}
    for row in re.findall(r"^\| `[^|]*\|", README, flags=re.MULTILINE):  # `POST /a`, `.../b` rows
        methods_paths = re.findall(r"`(?:(GET|POST|PUT|DELETE) )?(/[^`?\s]*|\.\.\./[^`\s]*)", row)
        base, method = "", ""
        for m, path in methods_paths:
            method = m or method
            if path.startswith("..."):
                path = base.rsplit("/", 1)[0] + path[3:]
            base = path
            documented_paths.add((method, path))
    routes = {
        (method.upper(), path) for path, ops in create_app().openapi()["paths"].items() for method in ops
    }
    assert sorted(routes - documented_paths) == []


def test_layout_names_real_folders():
    layout = _section("Layout")
    for path in re.findall(r"`((?:[a-z_]+/)+)`", layout):
        base = "generate/adapters/" if (ROOT / "generate/adapters" / path).is_dir() else ""
        assert (ROOT / base / path).is_dir() or (ROOT / path).is_dir(), path
    for family in (ROOT / "generate/adapters").iterdir():
        if family.is_dir() and (family / "__init__.py").exists():
            assert f"`{family.name}/`" in layout, f"Layout does not name generate/adapters/{family.name}/"
