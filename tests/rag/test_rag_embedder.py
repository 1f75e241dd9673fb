"""ClipEmbedder: real open_clip loading of a tiny random model, weights only from disk, fast failure."""

from __future__ import annotations

import json
import socket

import numpy as np
import pytest

from generate.errors import ConfigError
from rag import ClipEmbedder, EmbedderUnavailableError, load_embedder_from_env

from .conftest import TINY_CFG, save_tiny_model


def test_vectors_are_normalised_and_id_is_stable(embedder, tiny_model_dir, tmp_path, make_image):
    paths = [make_image(tmp_path / f"{i}.png", i) for i in range(5)]
    vectors, done, failed = embedder.encode_files(paths)
    assert vectors.shape == (5, embedder.dim) and vectors.dtype == np.float32
    assert np.allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-5)
    assert done == paths and failed == []
    text = embedder.encode_text(["a golf mascot", "a coffee cup"])
    assert text.shape == (2, embedder.dim)
    assert np.allclose(np.linalg.norm(text, axis=1), 1.0, atol=1e-5)
    # The same weights loaded again (even from another folder) give the same id and the same vectors.
    copy = tmp_path / "copy"
    copy.mkdir()
    for f in tiny_model_dir.iterdir():
        (copy / f.name).write_bytes(f.read_bytes())
    again = ClipEmbedder(f"local-dir:{copy}", None, device="cpu")
    assert again.id == embedder.id
    assert str(copy) not in again.id  # no machine-specific path in the id
    assert np.allclose(again.encode_files(paths)[0], vectors, atol=1e-5)


def test_batches_match_one_by_one(embedder, tmp_path, make_image):
    paths = [make_image(tmp_path / f"{i}.png", i) for i in range(6)]  # batch_size is 4: two batches
    batched = embedder.encode_files(paths)[0]
    single = np.concatenate([embedder.encode_files([p])[0] for p in paths])
    assert np.allclose(batched, single, atol=1e-5)


def test_undecodable_files_are_reported_not_fatal(embedder, tmp_path, make_image):
    good = make_image(tmp_path / "good.png", 1)
    bad = tmp_path / "bad.png"
    bad.write_bytes(b"\x89PNG not really")
    vectors, done, failed = embedder.encode_files([bad, good])
    assert done == [good] and len(vectors) == 1
    assert failed[0][0] == bad and "image" in failed[0][1]


def test_different_weights_or_preprocessing_change_the_id(embedder, other_embedder, tmp_path):
    assert other_embedder.id != embedder.id
    folder = save_tiny_model(tmp_path / "m", preprocess={"mean": [0.4, 0.4, 0.4], "std": [0.2, 0.2, 0.2]})
    same_weights_other_preprocess = ClipEmbedder(f"local-dir:{folder}", None, device="cpu")
    assert same_weights_other_preprocess.fingerprint["preprocess"]["mean"] == [0.4, 0.4, 0.4]
    assert same_weights_other_preprocess.id != embedder.id


def test_local_dir_without_weights_is_refused(tmp_path):
    folder = save_tiny_model(tmp_path / "empty", weights=False)
    with pytest.raises(EmbedderUnavailableError, match="no weights file"):
        ClipEmbedder(f"local-dir:{folder}", None, device="cpu")


@pytest.fixture
def tiny_builtin(tmp_path_factory):
    """The tiny architecture registered as a built-in open_clip name (it has no pretrained tags)."""
    import open_clip

    folder = tmp_path_factory.mktemp("cfg")
    (folder / "sketchgen-test-tiny.json").write_text(json.dumps(TINY_CFG))
    open_clip.add_model_config(folder)
    return "sketchgen-test-tiny"


def test_bare_weights_file_needs_known_preprocessing(tiny_builtin, tmp_path, monkeypatch):
    weights = save_tiny_model(tmp_path / "w") / "open_clip_model.safetensors"
    (tmp_path / "w" / "open_clip_config.json").unlink()
    # No sidecar config, no tag to borrow from: open_clip would silently use its defaults. Refuse.
    with pytest.raises(ConfigError, match="preprocessing"):
        ClipEmbedder(tiny_builtin, str(weights), device="cpu")
    monkeypatch.setenv(
        "SKETCHGEN_CLIP_PREPROCESS", json.dumps({"mean": [0.3, 0.3, 0.3], "std": [0.2, 0.2, 0.2]})
    )
    loaded = ClipEmbedder(tiny_builtin, str(weights), device="cpu")
    assert loaded.fingerprint["preprocess"]["mean"] == [0.3, 0.3, 0.3]
    assert loaded.model.visual.preprocess_cfg["std"] in ([0.2, 0.2, 0.2], (0.2, 0.2, 0.2))
    monkeypatch.delenv("SKETCHGEN_CLIP_PREPROCESS")
    # A sidecar open_clip_config.json beside the file carries the model's own preprocessing.
    save_tiny_model(
        tmp_path / "w", weights=False, preprocess={"mean": [0.1, 0.2, 0.3], "std": [0.5, 0.5, 0.5]}
    )
    loaded = ClipEmbedder(tiny_builtin, str(weights), device="cpu")
    assert loaded.fingerprint["preprocess"]["mean"] == [0.1, 0.2, 0.3]
    assert loaded.fingerprint["weights"].startswith("sha256-")


def test_env_selects_local_dir(tiny_model_dir, embedder, monkeypatch):
    monkeypatch.setenv("SKETCHGEN_CLIP_MODEL", f"local-dir:{tiny_model_dir}")
    assert load_embedder_from_env(device="cpu").id == embedder.id
    monkeypatch.setenv("SKETCHGEN_CLIP_MODEL", str(tiny_model_dir))  # a bare folder means local-dir
    assert load_embedder_from_env(device="cpu").id == embedder.id


@pytest.fixture
def no_weights_anywhere(tmp_path, monkeypatch):
    """Empty caches, the default model, and a socket layer that records any attempt to connect."""
    for name in (
        "HF_HUB_OFFLINE",
        "TRANSFORMERS_OFFLINE",
        "HF_HUB_CACHE",
        "SKETCHGEN_CLIP_MODEL",
        "SKETCHGEN_CLIP_PRETRAINED",
    ):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    monkeypatch.setenv("HF_HOME", str(tmp_path / "hf"))
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    attempts: list[object] = []

    def refuse(self, address, *args, **kwargs):
        attempts.append(address)
        raise OSError("network disabled in this test")

    monkeypatch.setattr(socket.socket, "connect", refuse)
    monkeypatch.setattr(socket.socket, "connect_ex", refuse)
    monkeypatch.setattr(socket, "getaddrinfo", lambda *a, **k: attempts.append(a) or refuse(None, a))
    return attempts


def test_no_weights_fails_fast_without_touching_the_network(no_weights_anywhere):
    with pytest.raises(EmbedderUnavailableError) as info:
        load_embedder_from_env()
    message = str(info.value)
    assert "ViT-B-32" in message and "laion2b_s34b_b79k" in message and "`sketchgen weights`" in message
    assert "\n" not in message
    # No connection was even attempted, so no minute of hub retries either (a bound on the time
    # taken would fail on a loaded machine importing open_clip for the first time).
    assert no_weights_anywhere == []


def test_missing_checkpoint_file_fails_fast(no_weights_anywhere, tmp_path, monkeypatch):
    monkeypatch.setenv("SKETCHGEN_CLIP_PRETRAINED", str(tmp_path / "nope.safetensors"))
    with pytest.raises(EmbedderUnavailableError, match="does not exist"):
        load_embedder_from_env()
    assert no_weights_anywhere == []
