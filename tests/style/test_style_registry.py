"""StyleRegistry: built-ins, user overrides, and one-line errors for broken style files."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest

from generate.errors import ConfigError, StyleError
from style import BUILTIN_STYLES_DIR, Style, StyleRegistry, load_style_file
from style.registry import StyleFileWarning

BUILTIN_IDS = {"vintage-mascot", "product-concept", "editorial-spot", "badge-emblem"}

GOOD = """
id = "{id}"
name = "{name}"
description = "A test style."
visual_rules = ["chunky shapes"]
negative_rules = ["no clutter"]
reference_dirs = ["refs/{id}"]
num_images = 5
"""


@pytest.fixture(autouse=True)
def _no_user_styles(monkeypatch):
    monkeypatch.delenv("SKETCHGEN_STYLES_DIR", raising=False)


def write(folder: Path, stem: str, text: str) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{stem}.toml"
    path.write_text(text, encoding="utf-8")
    return path


def test_builtin_styles_load_and_validate():
    registry = StyleRegistry()
    styles = registry.list_styles()
    assert BUILTIN_IDS <= {s.id for s in styles}
    assert [s.id for s in styles] == sorted(s.id for s in styles)
    for style in styles:
        assert isinstance(style, Style)
        assert style.source == BUILTIN_STYLES_DIR / f"{style.id}.toml"
        assert len(style.visual_rules) >= 5 and len(style.negative_rules) >= 3 and style.keywords
        assert style.reference_dirs == [BUILTIN_STYLES_DIR / "references" / style.id]
        assert all(p.is_absolute() for p in style.reference_dirs)
        assert 3 <= style.num_images <= 6


def test_get_style_returns_vintage_mascot():
    style = StyleRegistry().get_style("vintage-mascot")
    assert style.name == "Vintage Mascot"
    assert any("head" in rule for rule in style.visual_rules)


def test_badge_style_favours_badge_layout():
    style = StyleRegistry().get_style("badge-emblem")
    assert style.layouts and style.layouts[0] == "badge-emblem"
    assert style.do_not_use  # the example exclusion list


def test_unknown_style_lists_known_ids_and_suggests():
    with pytest.raises(ConfigError) as info:
        StyleRegistry().get_style("vintage-mascott")
    err = info.value
    assert err.field == "style_id"
    for style_id in BUILTIN_IDS:
        assert style_id in str(err)
    assert "Did you mean 'vintage-mascot'?" in str(err)
    assert "\n" not in str(err)


def test_user_style_overrides_builtin_by_id_via_env(tmp_path, monkeypatch):
    user = tmp_path / "styles"
    write(user, "vintage-mascot", GOOD.format(id="vintage-mascot", name="Our Mascot"))
    write(user, "house", GOOD.format(id="house", name="House"))
    monkeypatch.setenv("SKETCHGEN_STYLES_DIR", str(user))
    registry = StyleRegistry()
    style = registry.get_style("vintage-mascot")
    assert style.name == "Our Mascot"
    assert style.source == (user / "vintage-mascot.toml").resolve()
    # Relative reference folders resolve against the style file's own folder.
    assert style.reference_dirs == [(user / "refs" / "vintage-mascot").resolve()]
    assert {s.id for s in registry.list_styles()} == BUILTIN_IDS | {"house"}


def test_styles_dir_argument_and_reload(tmp_path):
    user = tmp_path / "mine"
    write(user, "house", GOOD.format(id="house", name="House v1"))
    registry = StyleRegistry(styles_dir=user)
    assert registry.get_style("house").name == "House v1"
    write(user, "house", GOOD.format(id="house", name="House v2"))
    assert registry.get_style("house").name == "House v1"  # cached
    registry.reload()
    assert registry.get_style("house").name == "House v2"
    assert "house" in registry and len(registry) == len(BUILTIN_IDS) + 1


def test_missing_styles_dir_is_a_config_error(tmp_path, monkeypatch):
    monkeypatch.setenv("SKETCHGEN_STYLES_DIR", str(tmp_path / "nope"))
    with pytest.raises(ConfigError) as info:
        StyleRegistry().list_styles()
    assert info.value.field == "styles_dir" and "SKETCHGEN_STYLES_DIR" in str(info.value)


def test_id_differing_from_stem_is_allowed_with_a_warning(tmp_path, caplog):
    write(tmp_path, "vintage-mascot-v2", GOOD.format(id="vintage-mascot", name="V2"))
    with caplog.at_level(logging.WARNING, logger="style.registry"):
        assert StyleRegistry(tmp_path).get_style("vintage-mascot").name == "V2"
    assert "differs from the file name" in caplog.text


def test_duplicate_id_in_one_folder_skips_both_with_a_warning(tmp_path):
    write(tmp_path, "a", GOOD.format(id="same", name="A"))
    write(tmp_path, "b", GOOD.format(id="same", name="B"))
    registry = StyleRegistry(tmp_path)
    with pytest.warns(StyleFileWarning, match=r"a\.toml, .*b\.toml: field 'id': 'same' is defined by each"):
        ids = registry.ids()
    assert "same" not in ids and "vintage-mascot" in ids
    with pytest.raises(StyleError, match="defined by each"):
        registry.get_style("same")


def test_broken_user_style_is_skipped_with_one_warning_listing_every_problem(tmp_path, capsys):
    broken = GOOD.format(id="broken", name="B").replace("num_images = 5", "num_images = 9")
    write(tmp_path, "broken", broken + 'colour = "red"\naspect_ratio = "square"\n')
    write(tmp_path, "fine", GOOD.format(id="fine", name="Fine"))
    registry = StyleRegistry(tmp_path)
    with pytest.warns(StyleFileWarning) as caught:
        styles = {s.id for s in registry.list_styles()}
    assert len(caught) == 1
    message = str(caught[0].message)
    assert "broken.toml" in message and "\n" not in message
    for problem in ("field 'num_images': must be between 3 and 6", "field 'colour'", "field 'aspect_ratio'"):
        assert problem in message
    # The built-ins and the good user style keep working.
    assert {"fine", "vintage-mascot", "badge-emblem"} <= styles and "broken" not in styles
    assert registry.get_style("vintage-mascot").id == "vintage-mascot"
    # Asking for the broken one by name says why it is unusable.
    with pytest.raises(StyleError, match="style 'broken' is unusable: .*num_images") as info:
        registry.get_style("broken")
    assert info.value.field == "style_id"
    assert set(registry.skipped) == {"broken"}


@pytest.mark.filterwarnings("default::style.registry.StyleFileWarning")  # as outside pytest
def test_cli_lists_the_other_styles_and_warns_once(tmp_path, monkeypatch, capsys):
    from cli.main import main

    write(tmp_path, "broken", 'id = "broken"\nname = oops\n')
    monkeypatch.setenv("SKETCHGEN_STYLES_DIR", str(tmp_path))
    assert main(["styles"]) == 0
    captured = capsys.readouterr()
    assert "vintage-mascot" in captured.out
    lines = [line for line in captured.err.splitlines() if line.strip()]
    assert (
        len(lines) == 1 and lines[0].startswith("warning: style file skipped: ") and "broken.toml" in lines[0]
    )


@pytest.mark.parametrize(
    ("text", "field", "pattern"),
    [
        (
            GOOD.replace("num_images = 5", "num_images = 9"),
            "num_images",
            r"field 'num_images': must be between 3 and 6 \(got 9\)",
        ),
        (
            GOOD.replace("num_images = 5", "num_images = 2"),
            "num_images",
            r"field 'num_images': must be between 3 and 6",
        ),
        (
            GOOD.replace('["chunky shapes"]', '"chunky shapes"'),
            "visual_rules",
            r"field 'visual_rules': .*list",
        ),
        (GOOD.replace('["chunky shapes"]', '["chunky", 3]'), "visual_rules", r"field 'visual_rules\[1\]': "),
        (GOOD.replace('name = "{name}"\n', ""), "name", r"field 'name': is required but missing"),
        (GOOD + 'colour = "red"\n', "colour", r"field 'colour': is not a known style field"),
        (GOOD.replace('id = "{id}"', 'id = "Bad Id"'), "id", r"field 'id': must be 1-64 lower-case"),
        (GOOD + 'aspect_ratio = "square"\n', "aspect_ratio", r"field 'aspect_ratio': must look like 'W:H'"),
        (GOOD + 'exaggeration = ["wild"]\n', "exaggeration", r"field 'exaggeration\[0\]': "),
        (
            GOOD + 'layouts = ["centred-hero"]\n',
            "layouts",
            r"field 'layouts\[0\]': unknown layout .*did you mean 'centered-hero'",
        ),
        (
            GOOD.replace('["no clutter"]', '["  "]'),
            "negative_rules",
            r"field 'negative_rules': entries must not be blank",
        ),
    ],
)
def test_broken_style_names_file_and_field(tmp_path, text, field, pattern):
    path = write(tmp_path, "broken", text.replace("{id}", "broken").replace("{name}", "Broken"))
    with pytest.raises(StyleError, match=pattern) as info:
        load_style_file(path)
    message = str(info.value)
    assert message.startswith(f"{path}: field '")
    assert info.value.field == field
    assert "\n" not in message and "pydantic" not in message and "errors.pydantic.dev" not in message


def test_toml_syntax_error_names_file_and_line(tmp_path):
    path = write(tmp_path, "syntax", 'id = "syntax"\nname = "x"\ndescription = oops\n')
    with pytest.raises(StyleError) as info:
        load_style_file(path)
    message = str(info.value)
    assert "syntax.toml" in message and "TOML syntax error" in message and "line 3" in message
    assert "\n" not in message


def test_relative_path_is_shown_relative_to_cwd(tmp_path, monkeypatch):
    write(
        tmp_path / "styles",
        "foo",
        GOOD.format(id="foo", name="Foo").replace("num_images = 5", "num_images = 7"),
    )
    monkeypatch.chdir(tmp_path)
    with pytest.raises(StyleError) as info:
        load_style_file(tmp_path / "styles" / "foo.toml")
    assert str(info.value).startswith("styles/foo.toml: field 'num_images': must be between 3 and 6")


def test_source_may_not_be_set_in_the_file(tmp_path):
    path = write(tmp_path, "src", GOOD.format(id="src", name="S") + 'source = "/etc/passwd"\n')
    with pytest.raises(StyleError, match="field 'source'"):
        load_style_file(path)
