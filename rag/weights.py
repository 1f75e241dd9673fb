"""Where CLIP weights come from: disk only, resolved before torch is even imported when possible.

Loading never downloads: only ``sketchgen weights`` and the first ``sketchgen index`` fetch
weights, through :mod:`rag.download`, into the Hugging Face cache this module then reads. A model
is one of:

* a built-in open_clip name + a pretrained **tag** whose file is already in the Hugging Face or
  open_clip cache (``ViT-B-32`` + ``laion2b_s34b_b79k``, the default);
* a built-in name + a **checkpoint file** (``SKETCHGEN_CLIP_PRETRAINED=/path/model.safetensors``).
  A bare file carries no preprocessing, and open_clip would silently use its defaults (open_clip#1068),
  so the preprocessing comes from, in order: an ``open_clip_config.json`` beside the file, the
  ``SKETCHGEN_CLIP_PREPROCESS`` variable (a tag name whose preprocessing to use, or a JSON object),
  or the model's known tags when they all agree. Otherwise loading is refused with an explanation;
* ``local-dir:/folder`` holding ``open_clip_config.json`` (model + preprocessing) and weights;
* ``hf-hub:org/repo`` only when that repo's snapshot is already in the cache (loaded as a local dir).

:func:`quick_offline_check` answers "can there be any weights at all?" from the file system in
milliseconds, so a machine with no weights and no network fails at once instead of after a minute
of hub retries (open_clip has no offline switch: open_clip#580).
"""

from __future__ import annotations

import hashlib
import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from generate.errors import ConfigError

__all__ = [
    "DEFAULT_MODEL",
    "DEFAULT_PRETRAINED",
    "EmbedderUnavailableError",
    "ResolvedWeights",
    "hf_cache_dir",
    "quick_offline_check",
    "resolve_weights",
    "weights_sha256",
]

DEFAULT_MODEL = "ViT-B-32"
DEFAULT_PRETRAINED = "laion2b_s34b_b79k"
_PREPROCESS_KEYS = ("size", "mean", "std", "interpolation", "resize_mode")
_WEIGHT_NAMES = (
    "open_clip_model.safetensors",
    "open_clip_pytorch_model.safetensors",
    "open_clip_pytorch_model.bin",
    "open_clip_pytorch_model.pth",
    "model.safetensors",
    "pytorch_model.bin",
)
_HINT = (
    "run `sketchgen weights` to download them once (needs the Hugging Face hub), or put weights on disk "
    "and point SKETCHGEN_CLIP_MODEL / SKETCHGEN_CLIP_PRETRAINED at them "
    "(a cached pretrained tag, a checkpoint file, or local-dir:/folder)"
)


class EmbedderUnavailableError(ConfigError):
    """No usable CLIP weights on disk (loading never downloads); retrieval falls back to lexical."""

    field = "SKETCHGEN_CLIP_MODEL"


@dataclass
class ResolvedWeights:
    """What to hand to ``open_clip.create_model_and_transforms``, and how to name it stably."""

    kind: str  # "tag" | "file" | "local-dir" | "random"
    model_name: str  # the name open_clip gets (may be "local-dir:/abs/path")
    display_name: str  # the name in the embedder id (never a machine-specific path)
    checkpoint: Path | None
    weights_id: str  # the tag, "sha256-<12 hex>", or "random-seed<N>"
    preprocess: dict[str, Any] | None = None  # forced preprocessing (None: the model's own config)
    quick_gelu: bool = False
    extra: dict[str, Any] = field(default_factory=dict)  # e.g. the local model_cfg, for the fingerprint


def hf_cache_dir() -> Path:
    """The Hugging Face hub cache, read from the environment *now* (not at huggingface_hub import)."""
    if os.environ.get("HF_HUB_CACHE"):
        return Path(os.environ["HF_HUB_CACHE"]).expanduser()
    if os.environ.get("HF_HOME"):
        return Path(os.environ["HF_HOME"]).expanduser() / "hub"
    xdg = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(xdg) / "huggingface" / "hub"


def _clip_url_cache() -> Path:
    return Path(os.path.expanduser("~/.cache/clip"))


def _no_weights(model: str, pretrained: str | None, why: str) -> EmbedderUnavailableError:
    what = f"{model}" + (f" / {pretrained}" if pretrained else "")
    return EmbedderUnavailableError(f"no CLIP weights for {what}: {why}; {_HINT}")


def quick_offline_check(model: str, pretrained: str | None) -> None:
    """Raise :class:`EmbedderUnavailableError` in milliseconds when no weights can possibly exist.

    Only the file system is consulted; open_clip/torch are not imported. Passing this check does not
    promise that loading succeeds — :func:`resolve_weights` does the exact resolution.
    """
    if model.startswith("local-dir:"):
        folder = Path(model[len("local-dir:") :]).expanduser()
        if not (folder / "open_clip_config.json").is_file():
            raise _no_weights(model, None, f"{folder}/open_clip_config.json does not exist")
        return
    if model.startswith("hf-hub:"):
        repo = model[len("hf-hub:") :]
        snap = hf_cache_dir() / ("models--" + repo.replace("/", "--")) / "snapshots"
        if not snap.is_dir():
            raise _no_weights(model, None, f"{repo} is not in the Hugging Face cache ({hf_cache_dir()})")
        return
    if not pretrained:
        raise _no_weights(model, None, "SKETCHGEN_CLIP_PRETRAINED is empty")
    if os.sep in pretrained or pretrained.endswith((".safetensors", ".bin", ".pt", ".pth")):
        if not Path(pretrained).expanduser().is_file():
            raise _no_weights(model, pretrained, "the checkpoint file does not exist")
        return
    # A tag: is there any open_clip weight file in either cache?
    cache = hf_cache_dir()
    if cache.is_dir():
        for repo in cache.glob("models--*"):
            if any((repo / "snapshots").glob("*/open_clip_*")):
                return
    url_cache = _clip_url_cache()
    if url_cache.is_dir() and any(url_cache.iterdir()):
        return
    raise _no_weights(model, pretrained, f"the tag is not in the cache ({cache})")


def weights_sha256(path: Path) -> str:
    """sha256 of a weights file, cached on disk by (path, size, mtime) so it is paid once per file."""
    path = Path(path).resolve()
    st = path.stat()
    key = f"{path}|{st.st_size}|{st.st_mtime_ns}"
    cache_root = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "sketchgen"
    cache_file = cache_root / "weights-sha256.json"
    try:
        cached = json.loads(cache_file.read_text())
    except (OSError, ValueError):
        cached = {}
    if key in cached:
        return cached[key]
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        while block := fh.read(1 << 22):
            digest.update(block)
    value = digest.hexdigest()
    try:  # best effort: a read-only home just means hashing again next time
        cache_root.mkdir(parents=True, exist_ok=True)
        cached[key] = value
        tmp = cache_file.with_suffix(f".{os.getpid()}.tmp")
        tmp.write_text(json.dumps(cached))
        os.replace(tmp, cache_file)
    except OSError:
        pass
    return value


def _pick_checkpoint(folder: Path) -> Path | None:
    for name in _WEIGHT_NAMES:
        if (folder / name).is_file():
            return folder / name
    found = sorted(folder.glob("*.safetensors")) + sorted(folder.glob("*.bin")) + sorted(folder.glob("*.pth"))
    return found[0] if found else None


def _subset(cfg: dict[str, Any]) -> dict[str, Any]:
    return {k: cfg[k] for k in _PREPROCESS_KEYS if k in cfg and cfg[k] is not None}


def _file_preprocess(model: str, file: Path) -> dict[str, Any]:
    import open_clip

    sidecar = file.parent / "open_clip_config.json"
    if sidecar.is_file():
        try:
            cfg = json.loads(sidecar.read_text()).get("preprocess_cfg") or {}
        except ValueError as exc:
            raise ConfigError(
                f"{sidecar} is not valid JSON: {exc}", field="SKETCHGEN_CLIP_PRETRAINED"
            ) from exc
        if cfg:
            return _subset(cfg)
    override = os.environ.get("SKETCHGEN_CLIP_PREPROCESS", "").strip()
    if override.startswith("{"):
        try:
            return _subset(json.loads(override))
        except ValueError as exc:
            raise ConfigError(
                f"SKETCHGEN_CLIP_PREPROCESS is not valid JSON: {exc}", field="SKETCHGEN_CLIP_PREPROCESS"
            ) from exc
    if override:
        tag_cfg = open_clip.get_pretrained_cfg(model, override)
        if not tag_cfg:
            raise ConfigError(
                f"SKETCHGEN_CLIP_PREPROCESS={override!r} is not a tag of {model}",
                field="SKETCHGEN_CLIP_PREPROCESS",
            )
        return _subset(tag_cfg)
    tags = open_clip.list_pretrained_tags_by_model(model)
    cfgs = {json.dumps(_subset(open_clip.get_pretrained_cfg(model, t)), sort_keys=True) for t in tags}
    if len(cfgs) == 1:
        return json.loads(cfgs.pop())
    raise ConfigError(
        f"cannot tell which preprocessing the weights file {file} expects (open_clip would silently use its "
        f"defaults): put an open_clip_config.json with 'preprocess_cfg' beside it, or set "
        f"SKETCHGEN_CLIP_PREPROCESS to the tag it was trained as or to a JSON object",
        field="SKETCHGEN_CLIP_PRETRAINED",
    )


def resolve_weights(model: str, pretrained: str | None, *, random_seed: int | None = None) -> ResolvedWeights:
    """Find the weights on disk. Raises :class:`EmbedderUnavailableError` or :class:`ConfigError`.

    ``random_seed`` (benchmarks and tests only) builds the architecture with random weights.
    """
    if random_seed is not None:
        return ResolvedWeights("random", model, model, None, f"random-seed{random_seed}")
    quick_offline_check(model, pretrained)
    if model.startswith("hf-hub:"):
        repo = model[len("hf-hub:") :]
        snaps = sorted((hf_cache_dir() / ("models--" + repo.replace("/", "--")) / "snapshots").iterdir())
        snaps = [s for s in snaps if (s / "open_clip_config.json").is_file()]
        if not snaps:
            raise _no_weights(model, None, "the cached snapshot has no open_clip_config.json")
        model = f"local-dir:{snaps[-1]}"
    if model.startswith("local-dir:"):
        folder = Path(model[len("local-dir:") :]).expanduser().resolve()
        ckpt = _pick_checkpoint(folder)
        if ckpt is None:  # open_clip would carry on with *random* weights; refuse instead
            raise _no_weights(f"local-dir:{folder}", None, "the folder holds no weights file")
        model_cfg = json.loads((folder / "open_clip_config.json").read_text()).get("model_cfg")
        sha = weights_sha256(ckpt)
        return ResolvedWeights(
            "local-dir",
            f"local-dir:{folder}",
            "local-dir",
            ckpt,
            f"sha256-{sha[:12]}",
            extra={"model_cfg": model_cfg},
        )
    import open_clip

    name = model.replace("/", "-")
    if name not in open_clip.list_models():
        raise ConfigError(
            f"unknown open_clip model {model!r} (SKETCHGEN_CLIP_MODEL)", field="SKETCHGEN_CLIP_MODEL"
        )
    assert pretrained  # quick_offline_check refused an empty one
    file = Path(pretrained).expanduser()
    if file.is_file():
        sha = weights_sha256(file)
        return ResolvedWeights(
            "file", name, name, file.resolve(), f"sha256-{sha[:12]}", _file_preprocess(name, file)
        )
    tag_cfg = open_clip.get_pretrained_cfg(name, pretrained)
    if not tag_cfg:
        raise ConfigError(
            f"{pretrained!r} is neither a file nor a pretrained tag of {name} "
            f"(tags: {', '.join(open_clip.list_pretrained_tags_by_model(name)) or 'none'})",
            field="SKETCHGEN_CLIP_PRETRAINED",
        )
    ckpt = _cached_tag_file(tag_cfg)
    if ckpt is None:
        raise _no_weights(name, pretrained, f"the tag's file is not in the cache ({hf_cache_dir()})")
    # Passing the file (not the tag) keeps open_clip off the network; the tag's preprocessing and
    # QuickGELU setting are then given explicitly so nothing falls back to defaults.
    return ResolvedWeights(
        "tag", name, name, ckpt, pretrained, _subset(tag_cfg), bool(tag_cfg.get("quick_gelu", False))
    )


def _cached_tag_file(tag_cfg: dict[str, Any]) -> Path | None:
    if tag_cfg.get("file"):
        return Path(tag_cfg["file"]) if Path(tag_cfg["file"]).is_file() else None
    hub = tag_cfg.get("hf_hub") or ""
    if hub:
        from huggingface_hub import try_to_load_from_cache

        repo, filename = os.path.split(hub)
        names = [filename] if filename else []
        names += ["open_clip_model.safetensors", "open_clip_pytorch_model.bin"]
        names += [n[: -len(".bin")] + ".safetensors" for n in names if n.endswith(".bin")]
        for fname in dict.fromkeys(names):
            hit = try_to_load_from_cache(repo, fname, cache_dir=str(hf_cache_dir()))
            if isinstance(hit, str) and os.path.isfile(hit):
                return Path(hit)
    url = tag_cfg.get("url") or ""
    if url:
        target = _clip_url_cache() / os.path.basename(url)
        if target.is_file():
            return target
    return None
