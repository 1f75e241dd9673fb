"""The adapter seam: standard library only, chosen by name, third parties register like built-ins."""

from __future__ import annotations

import ast
import sys
from pathlib import Path

import pytest

import generate.adapter as adapter_module
from generate import GenerationConfig, ImageGenerator
from generate.adapter import (
    AdapterCapabilities,
    ImageModelAdapter,
    ModelImage,
    adapter_names,
    get_adapter,
    register_adapter,
)
from generate.errors import ConfigError
from prompt.compiler import PromptCompiler
from style.registry import StyleRegistry


def _imports(path: Path) -> set[str]:
    names = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            names |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module:
            names.add(node.module)
    return names


def test_interface_module_imports_only_the_standard_library():
    """adapter.py and the sketchgen modules it imports (errors; fallback, for model chains) use
    nothing outside the stdlib."""
    root = Path(adapter_module.__file__).parent.parent
    to_check, seen = [Path(adapter_module.__file__)], set()
    while to_check:
        path = to_check.pop()
        seen.add(path)
        for name in _imports(path):
            top = name.split(".")[0]
            if top == "generate":
                module_path = root / (name.replace(".", "/") + ".py")
                if module_path not in seen:
                    to_check.append(module_path)
            else:
                assert top in sys.stdlib_module_names or top == "__future__", (path.name, name)
    assert {p.name for p in seen} == {"adapter.py", "errors.py", "fallback.py"}


def test_builtins_are_chosen_by_name():
    assert {"auto", "trace", "nano-banana", "nano-banana-pro"} <= set(adapter_names())
    assert get_adapter("trace").name == "trace"


def test_unknown_model_suggests_the_nearest_name():
    with pytest.raises(ConfigError) as exc:
        get_adapter("nano-bananna-pro")
    assert exc.value.field == "model" and "nano-banana-pro" in str(exc.value)


class Stamp(ImageModelAdapter):
    """A third-party adapter: one solid grey image, as a user's own model might return."""

    name = "stamp"
    capabilities = AdapterCapabilities(max_reference_images=0, aspect_ratios=("1:1",), image_sizes=("1K",))

    def generate(self, request):
        import io

        from PIL import Image

        buf = io.BytesIO()
        Image.new("L", (256, 256), 200).save(buf, "PNG")
        return ModelImage(data=buf.getvalue(), mime_type="image/png", model="stamp-v1")


def test_a_third_party_adapter_registers_and_runs_like_a_builtin(tmp_path):
    register_adapter("stamp", lambda name, **options: Stamp())
    assert "stamp" in adapter_names()
    style = StyleRegistry().get_style("vintage-mascot")
    spec = PromptCompiler().compile("playful golf mascot", style)
    result = ImageGenerator().generate(
        prompt_spec=spec,
        style=style,
        config=GenerationConfig(num_images=3, model_name="stamp", output_dir=tmp_path),
    )
    assert result.status == "complete" and result.model == "stamp"
    assert [s.record["model"] for s in result.sketches] == ["stamp-v1"] * 3
