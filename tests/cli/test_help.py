"""Every flag and argument of `sketchgen` and its subcommands says what it is for in --help."""

import argparse

import pytest

from cli.main import build_parser, main


def _subcommands() -> dict[str, argparse.ArgumentParser]:
    parser = build_parser()
    (sub,) = [a for a in parser._actions if isinstance(a, argparse._SubParsersAction)]
    return dict(sub.choices)


def test_every_subcommand_is_listed_with_a_summary(capsys):
    with pytest.raises(SystemExit) as exit_:
        main(["--help"])
    assert exit_.value.code == 0
    out = capsys.readouterr().out
    for name in _subcommands():
        line = next((line for line in out.splitlines() if line.strip().startswith(name + " ")), None)
        assert line is not None and line.split(name, 1)[1].strip(), f"{name} has no summary in --help"


@pytest.mark.parametrize("name", sorted(_subcommands()))
def test_every_flag_has_a_help_text(name):
    parser = _subcommands()[name]
    missing = [
        "/".join(action.option_strings) or action.dest
        for action in parser._actions
        if not isinstance(action, argparse._HelpAction) and not (action.help or "").strip()
    ]
    assert missing == [], f"sketchgen {name}: no help text for {missing}"


def test_output_dir_and_json_read_the_same_everywhere():
    helps = {"--output-dir": set(), "--json": set()}
    for name, parser in _subcommands().items():
        for action in parser._actions:
            if (
                action.option_strings
                and action.option_strings[-1] in helps
                and name not in ("generate", "batch")
            ):
                helps[action.option_strings[-1]].add(action.help)
    assert helps["--output-dir"] == {"where run folders are (default as for generate)"}
    assert helps["--json"] == {"machine-readable output"}
