"""The ``local`` family before any weights load: what it reports, and the one-line errors of a
missing extra, missing weights or an unknown model. These run with or without the extra."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from generate.adapter import families, family_for, get_adapter
from generate.errors import ConfigError
from generate.pipeline import SketchPipeline


@pytest.fixture
def no_weights(tmp_path, monkeypatch):
    """An empty Hugging Face cache and an empty local model folder."""
    monkeypatch.setenv("HF_HOME", str(tmp_path / "hf-home"))
    monkeypatch.delenv("HF_HUB_CACHE", raising=False)
    (tmp_path / "models").mkdir()
    monkeypatch.setenv("SKETCHGEN_LOCAL_MODEL_DIR", str(tmp_path / "models"))


def _local():
    family = family_for("local:sdxl-scribble")
    assert family is not None and family.name == "local"
    return family


def test_without_the_extra_the_family_says_how_to_install_it(monkeypatch, no_weights):
    monkeypatch.setitem(sys.modules, "diffusers", None)  # as if not installed
    availability = _local().availability()
    assert not availability.available and availability.extra_installed is False
    assert availability.reason == "install the extra: pip install 'sketchgen[local]'"
    assert availability.fix == "pip install 'sketchgen[local]'"
    with pytest.raises(ConfigError, match=r"pip install 'sketchgen\[local\]'") as err:
        get_adapter("local:sdxl-scribble")
    assert err.value.field == "model" and "\n" not in str(err.value)


def test_sketchgen_imports_and_lists_the_family_when_diffusers_is_missing():
    code = (
        "import sys; sys.modules['diffusers'] = None\n"
        "from generate.adapter import families\n"
        "import json; print(json.dumps({f.name: f.availability().reason for f in families()}))"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=300, check=True
    )
    reasons = json.loads(out.stdout.strip().splitlines()[-1])
    assert reasons["local"] == "install the extra: pip install 'sketchgen[local]'"


def test_no_weights_fails_at_once_naming_the_weights_command(no_weights):
    pytest.importorskip("diffusers")
    availability = _local().availability()
    assert not availability.available and availability.weights_present is False
    assert "sketchgen weights --local sdxl-scribble" in availability.reason
    assert availability.fix == "sketchgen weights --local sdxl-scribble"
    with pytest.raises(ConfigError) as err:
        get_adapter("local:sdxl-scribble")
    message = str(err.value)
    assert "sketchgen weights --local sdxl-scribble" in message and "SKETCHGEN_LOCAL_MODEL_DIR" in message
    assert "\n" not in message


def test_a_run_without_weights_stops_before_anything_is_written(no_weights, tmp_path):
    pytest.importorskip("diffusers")
    out = tmp_path / "runs"
    with pytest.raises(ConfigError, match="sketchgen weights --local"):
        SketchPipeline(output_dir=out).validate(
            {"brief": "playful golf mascot", "model": "local:sdxl-scribble"}
        )
    assert not out.exists() or not any(out.iterdir())


def test_an_unknown_local_model_names_the_known_ones():
    with pytest.raises(ConfigError, match="unknown local model 'local:nope'; known: local:sdxl-scribble"):
        get_adapter("local:nope")


def test_the_family_lists_its_models_free_and_offline_and_auto_never_picks_it():
    family = _local()
    assert family in families() and family.auto_priority is None
    [entry] = family.models()
    assert entry["id"] == "local:sdxl-scribble" and entry["network"] is False
    assert entry["price_per_image_usd"] == {"1K": 0.0} and "1:1" in entry["aspect_ratios"]
    [row] = family.estimate_costs(image_size="1K", num_references=1, num_images=4)
    assert row["run_usd"] == 0.0 and row["model"] == "local:sdxl-scribble"


def test_the_model_listing_shows_the_local_model_and_why_it_is_unavailable(no_weights):
    from generate.models import list_models

    pytest.importorskip("diffusers")
    [entry] = [m for m in list_models() if m["id"] == "local:sdxl-scribble"]
    assert entry["family"] == "local" and entry["available"] is False
    assert entry["availability"]["weights_present"] is False
    assert "sketchgen weights --local sdxl-scribble" in entry["availability"]["reason"]


def test_the_model_listing_says_available_once_the_weights_are_in_the_model_folder(tmp_path, monkeypatch):
    pytest.importorskip("diffusers")
    folder = tmp_path / "models" / "sdxl-scribble"
    folder.mkdir(parents=True)
    (folder / "model_index.json").write_text(
        '{"unet": ["diffusers", "UNet2DConditionModel"], "controlnet": []}'
    )
    monkeypatch.setenv("SKETCHGEN_LOCAL_MODEL_DIR", str(tmp_path / "models"))
    availability = _local().availability()
    assert availability.available and availability.weights_present is True


def test_the_catalog_names_the_weight_files_diffusers_loads_and_says_what_is_unconfirmed():
    pytest.importorskip("diffusers")
    from diffusers.utils import SAFETENSORS_WEIGHTS_NAME, _add_variant
    from transformers.utils import SAFE_WEIGHTS_NAME

    from generate.adapters.diffusers.catalog import MODELS

    spec = MODELS["sdxl-scribble"]
    assert spec.variant == "fp16"
    for part, weights in (
        ("text_encoder", SAFE_WEIGHTS_NAME),
        ("text_encoder_2", SAFE_WEIGHTS_NAME),
        ("unet", SAFETENSORS_WEIGHTS_NAME),
        ("vae", SAFETENSORS_WEIGHTS_NAME),
    ):
        assert f"{part}/{_add_variant(weights, spec.variant)}" in spec.base_files, part
        assert f"{part}/config.json" in spec.base_files
    # The ControlNet repo has no fp16 variant files: its one weights file is loaded as it is.
    assert spec.controlnet_files == ("config.json", SAFETENSORS_WEIGHTS_NAME)
    [entry] = _local().models()
    assert entry["unconfirmed"] == list(spec.unconfirmed)
    assert any("revision" in item for item in spec.unconfirmed)
