"""A tiny, randomly initialised SDXL + ControlNet pipeline on disk, for tests of the ``local`` family.

:func:`save_tiny_controlnet_pipeline` writes a folder that ``SKETCHGEN_LOCAL_MODEL_DIR`` can point at
(``<folder>/sdxl-scribble/``): the real diffusers and transformers classes, built from configs with
a few channels, so a 64x64 sketch takes well under a second per step on a CPU. It draws noise, not
sketches: it proves the plumbing (seed, previews, conditioning, cancelling), not the pictures.
Needs the ``local`` extra; nothing is downloaded (the tokenizer's vocabulary is written here).
"""

from __future__ import annotations

import json
import re
from pathlib import Path

__all__ = ["save_tiny_controlnet_pipeline", "tiny_hub_files", "TINY_EDGE"]

TINY_EDGE = 64  # the tiny model's native size in pixels (sample_size 32 x VAE scale 2)


# Words the tiny tokenizer reads as one token each, as CLIP reads most English words; any other
# word falls apart into letters (one token each), so a long unknown brief is long in tokens too.
_BRIEF_WORDS = "a an the of for with and in on playful golf mascot club gopher cheerful friendly"


def _known_words() -> list[str]:
    """Every word of the texts the local family builds (its phrases, avoid-words, built-in styles)."""
    from generate.adapters.diffusers import prompt
    from generate.adapters.diffusers.catalog import MODELS
    from style.registry import StyleRegistry

    texts = [_BRIEF_WORDS, *prompt.KEY_SKETCH_RULES, *prompt.MORE_SKETCH_RULES]
    texts += [p for phrases in prompt.LAYOUT_PHRASES.values() for p in phrases]
    texts += [p for phrases in prompt.EXAGGERATION_PHRASES.values() for p in phrases]
    texts += [spec.negative_prompt for spec in MODELS.values()]
    for style in StyleRegistry().list_styles():
        texts += [style.name, *style.visual_rules, *style.negative_rules]
    return sorted({w for text in texts for w in re.findall(r"[a-z]+", text.lower())})


def _tokenizer(folder: Path):
    """A CLIP tokenizer 77 tokens long like SDXL's, whose small BPE vocabulary (trained here on
    :func:`_known_words`) reads each of those words as one token and anything else letter by letter."""
    from tokenizers import Tokenizer, models, normalizers, pre_tokenizers, trainers
    from transformers import CLIPTokenizer

    alphabet = list("abcdefghijklmnopqrstuvwxyz0123456789,.;:()'-")
    bpe = Tokenizer(models.BPE(end_of_word_suffix="</w>"))
    bpe.normalizer = normalizers.Lowercase()
    bpe.pre_tokenizer = pre_tokenizers.Whitespace()
    trainer = trainers.BpeTrainer(
        vocab_size=100_000,  # room for every word whole
        special_tokens=["<|startoftext|>", "<|endoftext|>"],
        initial_alphabet=alphabet,
        end_of_word_suffix="</w>",
        show_progress=False,
    )
    bpe.train_from_iterator([" ".join(_known_words())], trainer)
    model = json.loads(bpe.to_str())["model"]
    vocab = model["vocab"]
    for ch in alphabet:  # a one-letter word or a letter ending an unknown one
        vocab.setdefault(ch + "</w>", len(vocab))
    merges = [m if isinstance(m, str) else " ".join(m) for m in model["merges"]]
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "vocab.json").write_text(json.dumps(vocab), encoding="utf-8")
    (folder / "merges.txt").write_text("\n".join(["#version: 0.2", *merges]) + "\n", encoding="utf-8")
    return CLIPTokenizer(str(folder / "vocab.json"), str(folder / "merges.txt"), model_max_length=77), len(
        vocab
    )


def save_tiny_controlnet_pipeline(root: Path, model_id: str = "sdxl-scribble", *, seed: int = 0) -> Path:
    """Write a tiny ``StableDiffusionXLControlNetPipeline`` to ``root/model_id`` and return that folder."""
    import torch
    from diffusers import (
        AutoencoderKL,
        ControlNetModel,
        EulerDiscreteScheduler,
        StableDiffusionXLControlNetPipeline,
        UNet2DConditionModel,
    )
    from transformers import CLIPTextConfig, CLIPTextModel, CLIPTextModelWithProjection

    torch.manual_seed(seed)
    blocks = {
        "block_out_channels": (32, 64),
        "layers_per_block": 1,
        "in_channels": 4,
        "down_block_types": ("DownBlock2D", "CrossAttnDownBlock2D"),
        "attention_head_dim": (2, 4),
        "use_linear_projection": True,
        "addition_embed_type": "text_time",
        "addition_time_embed_dim": 8,
        "transformer_layers_per_block": (1, 2),
        "projection_class_embeddings_input_dim": 80,  # 6 * 8 time ids + the 32-wide pooled text
        "cross_attention_dim": 64,  # both text encoders' hidden states side by side
    }
    unet = UNet2DConditionModel(
        sample_size=TINY_EDGE // 2,
        out_channels=4,
        up_block_types=("CrossAttnUpBlock2D", "UpBlock2D"),
        **blocks,
    )
    controlnet = ControlNetModel(conditioning_embedding_out_channels=(16, 32), **blocks)
    # A ControlNet starts with zeroed output convolutions (it changes nothing until trained); these
    # are given weights, so that a test can see the control image change the result.
    with torch.no_grad():
        for name, param in controlnet.named_parameters():
            if name.startswith(
                ("controlnet_down_blocks", "controlnet_mid_block", "controlnet_cond_embedding.conv_out")
            ):
                param.normal_(0.0, 0.5)
    vae = AutoencoderKL(
        block_out_channels=(32, 64),
        in_channels=3,
        out_channels=3,
        down_block_types=("DownEncoderBlock2D",) * 2,
        up_block_types=("UpDecoderBlock2D",) * 2,
        latent_channels=4,
    )
    scheduler = EulerDiscreteScheduler(
        beta_start=0.00085,
        beta_end=0.012,
        beta_schedule="scaled_linear",
        steps_offset=1,
        timestep_spacing="leading",
    )
    tokenizer, vocab_size = _tokenizer(root / f".{model_id}-vocab")
    text = CLIPTextConfig(
        bos_token_id=0,
        eos_token_id=1,
        pad_token_id=1,
        hidden_size=32,
        intermediate_size=37,
        num_attention_heads=4,
        num_hidden_layers=2,
        vocab_size=vocab_size,
        projection_dim=32,
    )
    pipe = StableDiffusionXLControlNetPipeline(
        vae=vae,
        text_encoder=CLIPTextModel(text),
        text_encoder_2=CLIPTextModelWithProjection(text),
        tokenizer=tokenizer,
        tokenizer_2=tokenizer,
        unet=unet,
        controlnet=controlnet,
        scheduler=scheduler,
    )
    folder = root / model_id
    pipe.save_pretrained(folder)
    return folder


def tiny_hub_files(pipeline_dir: Path, spec) -> dict[tuple[str, str], bytes]:
    """The files a hub stand-in serves for ``spec`` (a :class:`LocalModelSpec`), made from the tiny
    pipeline at ``pipeline_dir``: ``{(repo, path in repo): bytes}``, laid out as the real repos are
    (the base without its ControlNet, weights named by the spec's variant; the ControlNet apart)."""
    import tempfile

    from diffusers import StableDiffusionXLControlNetPipeline, StableDiffusionXLPipeline

    pipe = StableDiffusionXLControlNetPipeline.from_pretrained(pipeline_dir, local_files_only=True)
    files: dict[tuple[str, str], bytes] = {}
    with tempfile.TemporaryDirectory() as tmp:
        base, controlnet = Path(tmp, "base"), Path(tmp, "controlnet")
        plain = {name: part for name, part in pipe.components.items() if name != "controlnet"}
        StableDiffusionXLPipeline(**plain).save_pretrained(base, variant=spec.variant)
        pipe.controlnet.save_pretrained(controlnet)
        vocab = pipeline_dir.parent / f".{pipeline_dir.name}-vocab"
        for tok in ("tokenizer", "tokenizer_2"):  # the slow tokenizer's files, as the SDXL repo has them
            (base / tok / "tokenizer.json").unlink(missing_ok=True)
            for name in ("vocab.json", "merges.txt"):
                (base / tok / name).write_bytes((vocab / name).read_bytes())
            special = {
                "bos_token": "<|startoftext|>",
                "eos_token": "<|endoftext|>",
                "unk_token": "<|endoftext|>",
            }
            (base / tok / "special_tokens_map.json").write_text(
                json.dumps({**special, "pad_token": "<|endoftext|>"})
            )
        for repo, folder, names in (
            (spec.base_repo, base, spec.base_files),
            (spec.controlnet_repo, controlnet, spec.controlnet_files),
        ):
            for name in names:
                files[(repo, name)] = (folder / name).read_bytes()
    return files
