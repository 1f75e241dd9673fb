"""Fetching CLIP weights from the Hugging Face hub, once, into the standard HF cache.

Only two commands download: ``sketchgen weights`` (fetch, nothing else) and ``sketchgen index``
(when the weights are missing). Retrieval during a run never does: without weights it falls back
to the lexical ranking at once. What is fetched:

* a pretrained **tag** (the default ``ViT-B-32`` / ``laion2b_s34b_b79k``): the tag's hub repo and
  file as open_clip names them (safetensors first, as open_clip prefers);
* ``hf-hub:org/repo``: the repo's ``open_clip_config.json`` and its weights file.

A checkpoint file or a ``local-dir:`` folder is the user's own: nothing to fetch. Files land where
``huggingface_hub`` puts them (``HF_HOME`` / ``HF_HUB_CACHE``; see :func:`rag.weights.hf_cache_dir`)
and :func:`rag.weights.resolve_weights` then finds them there like any cached tag.

The total size is printed before the transfer, which shows huggingface_hub's own progress bar.
``HF_HUB_OFFLINE=1`` forbids any download (checked here, before any request); an unreachable hub
(no network, a firewall) fails within seconds (one metadata request, no retries) with the command
to run on a machine that can reach it and the folder to copy back. ``HF_ENDPOINT`` names another
hub (a mirror, or the tests' local stand-in).
"""

from __future__ import annotations

import os
import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from rag.weights import EmbedderUnavailableError, hf_cache_dir, resolve_weights

__all__ = ["HubFile", "WeightsFetch", "hub_files_for", "ensure_weights", "METADATA_TIMEOUT_S"]

METADATA_TIMEOUT_S = 5.0  # one HEAD per file; an unreachable hub answers nothing within this
_SAFE_WEIGHTS = "open_clip_model.safetensors"
_BIN_WEIGHTS = "open_clip_pytorch_model.bin"
_TRUE = {"1", "true", "yes", "on"}


@dataclass
class HubFile:
    repo_id: str
    candidates: tuple[str, ...]  # the first one the repo has is fetched
    filename: str | None = None  # chosen once the hub answered
    size: int | None = None
    path: Path | None = None


@dataclass
class WeightsFetch:
    """What :func:`ensure_weights` did: ``downloaded`` False means the weights were already on disk."""

    model: str
    pretrained: str | None
    downloaded: bool
    files: list[HubFile] = field(default_factory=list)
    cache_dir: Path = field(default_factory=hf_cache_dir)

    @property
    def total_bytes(self) -> int:
        return sum(f.size or 0 for f in self.files)

    def to_dict(self) -> dict:
        return {
            "model": self.model,
            "pretrained": self.pretrained,
            "downloaded": self.downloaded,
            "cache_dir": str(self.cache_dir),
            "total_bytes": self.total_bytes,
            "files": [
                {
                    "repo": f.repo_id,
                    "file": f.filename,
                    "bytes": f.size,
                    "path": str(f.path) if f.path else None,
                }
                for f in self.files
            ],
        }


def hub_files_for(model: str, pretrained: str | None) -> list[HubFile]:
    """The hub files that make up ``model`` / ``pretrained``; [] when it is not a hub model.

    Raises ConfigError for an unknown model or tag (open_clip's own names decide).
    """
    if model.startswith("hf-hub:"):
        repo = model[len("hf-hub:") :].strip("/")
        return [HubFile(repo, ("open_clip_config.json",)), HubFile(repo, (_SAFE_WEIGHTS, _BIN_WEIGHTS))]
    if model.startswith("local-dir:") or not pretrained:
        return []
    if os.sep in pretrained or Path(pretrained).expanduser().is_file():
        return []  # a checkpoint file of the user's
    import open_clip

    from generate.errors import ConfigError

    name = model.replace("/", "-")
    if name not in open_clip.list_models():
        raise ConfigError(
            f"unknown open_clip model {model!r} (SKETCHGEN_CLIP_MODEL)", field="SKETCHGEN_CLIP_MODEL"
        )
    cfg = open_clip.get_pretrained_cfg(name, pretrained)
    if not cfg:
        tags = ", ".join(open_clip.list_pretrained_tags_by_model(name)) or "none"
        raise ConfigError(
            f"{pretrained!r} is not a pretrained tag of {name} (tags: {tags})",
            field="SKETCHGEN_CLIP_PRETRAINED",
        )
    hub = (cfg.get("hf_hub") or "").strip()
    if not hub:
        return []  # weights published at a plain URL: not fetched by sketchgen
    parts = hub.split("/")  # "org/repo/" or "org/repo/file.bin"
    repo, filename = "/".join(parts[:2]), "/".join(parts[2:])
    if filename:
        safe = filename[: -len(".bin")] + ".safetensors" if filename.endswith(".bin") else filename
        return [HubFile(repo, tuple(dict.fromkeys((safe, filename))))]
    return [HubFile(repo, (_SAFE_WEIGHTS, _BIN_WEIGHTS))]


def _offline() -> bool:
    return os.environ.get("HF_HUB_OFFLINE", "").strip().lower() in _TRUE


def _where(files: list[HubFile]) -> str:
    repos = sorted({f.repo_id for f in files})
    cache = hf_cache_dir()
    return ", ".join(str(cache / ("models--" + r.replace("/", "--"))) for r in repos)


def _elsewhere(files: list[HubFile]) -> str:
    return (
        f"run `sketchgen weights` on a machine that can reach the Hugging Face hub, then copy "
        f"{_where(files)} to the same place here (or point HF_HOME at a shared cache)"
    )


def _mb(n: int | None) -> str:
    return f"{n / 1e6:.1f} MB" if n is not None else "size unknown"


def ensure_weights(
    model: str, pretrained: str | None, *, say: Callable[[str], None] | None = None
) -> WeightsFetch:
    """Make sure the CLIP weights are on disk, downloading them once if they can be.

    ``say`` receives the one line printed before a download (default: stderr). Raises
    :class:`EmbedderUnavailableError` when they are missing and cannot be fetched (offline mode,
    an unreachable hub, a model that is not on the hub), naming what to do instead.
    """
    say = say or (lambda text: print(text, file=sys.stderr, flush=True))
    try:
        resolve_weights(model, pretrained)
        return WeightsFetch(model, pretrained, downloaded=False)
    except EmbedderUnavailableError as missing:
        files = hub_files_for(model, pretrained)
        if not files:
            raise missing
    what = model + (f" / {pretrained}" if pretrained and not model.startswith("hf-hub:") else "")
    if _offline():
        raise EmbedderUnavailableError(
            f"no CLIP weights for {what} on disk, and HF_HUB_OFFLINE=1 forbids downloading them: "
            f"unset it, or {_elsewhere(files)}"
        )
    endpoint = os.environ.get("HF_ENDPOINT", "").strip().rstrip("/") or None
    _fetch_metadata(files, endpoint, what)
    say(
        f"downloading CLIP weights {what}: {', '.join(f.filename or '?' for f in files)} "
        f"({_mb(sum(f.size or 0 for f in files))}) from {endpoint or 'https://huggingface.co'} into "
        f"{hf_cache_dir()} (once; later runs read them from there)"
    )
    _download(files, endpoint, what)
    resolve_weights(model, pretrained)  # what was fetched must now load from disk
    return WeightsFetch(model, pretrained, downloaded=True, files=files)


def _fetch_metadata(files: list[HubFile], endpoint: str | None, what: str) -> None:
    import httpx2
    from huggingface_hub import get_hf_file_metadata, hf_hub_url
    from huggingface_hub.errors import EntryNotFoundError, HfHubHTTPError, RepositoryNotFoundError

    for item in files:
        for name in item.candidates:
            url = hf_hub_url(item.repo_id, name, endpoint=endpoint)
            try:
                meta = get_hf_file_metadata(url, timeout=METADATA_TIMEOUT_S, endpoint=endpoint)
            except EntryNotFoundError:
                continue
            except RepositoryNotFoundError:
                raise EmbedderUnavailableError(
                    f"CLIP weights {what}: no repository {item.repo_id!r} on the hub"
                ) from None
            except HfHubHTTPError as exc:
                status = exc.response.status_code if exc.response is not None else "an error"
                if status == 404:  # a hub (or mirror) that does not say X-Error-Code: EntryNotFound
                    continue
                raise EmbedderUnavailableError(
                    f"CLIP weights {what}: the Hugging Face hub answered {status} for {url}; {_elsewhere(files)}"
                ) from None
            except (httpx2.HTTPError, OSError) as exc:
                raise EmbedderUnavailableError(
                    f"no CLIP weights for {what} on disk, and the Hugging Face hub "
                    f"({endpoint or 'https://huggingface.co'}) cannot be reached ({type(exc).__name__}): "
                    f"{_elsewhere(files)}"
                ) from None
            item.filename, item.size = name, meta.size
            break
        else:
            raise EmbedderUnavailableError(
                f"CLIP weights {what}: {item.repo_id} on the hub has none of {', '.join(item.candidates)}"
            )


def _download(files: list[HubFile], endpoint: str | None, what: str) -> None:
    import httpx2
    from huggingface_hub import hf_hub_download

    for item in files:
        try:
            item.path = Path(
                hf_hub_download(
                    item.repo_id,
                    item.filename,
                    cache_dir=str(hf_cache_dir()),
                    endpoint=endpoint,
                    etag_timeout=METADATA_TIMEOUT_S,
                )
            )
        except (httpx2.HTTPError, OSError) as exc:  # the partial file stays as .incomplete and resumes
            raise EmbedderUnavailableError(
                f"downloading CLIP weights {what} stopped ({type(exc).__name__}: {exc}); run the same command "
                f"again to resume, or {_elsewhere(files)}"
            ) from None
