"""The texts a local diffusion sketch sends to SDXL: what matters most first, within 77 tokens.

SDXL reads its prompt through two CLIP text encoders, and each reads 77 tokens (its start and end
tokens included); diffusers cuts the rest of a positive prompt with only a log line and the rest
of a negative one silently. sketchgen's own prompt (:attr:`ImageRequest.prompt`) is a page of
instructions for Gemini, whose end (the sketch's layout and exaggeration) CLIP would never see.
So this family builds its own texts from :class:`~generate.adapter.PromptParts` and the sketch's
variation, as comma-separated phrases in order of importance, one text per encoder:

* ``prompt`` (``text_encoder``, CLIP ViT-L): the subject, the layout, the exaggeration, a refine
  or vary run's instruction, then the key sketch rules and the rest of the layout and
  exaggeration wording;
* ``prompt_2`` (``text_encoder_2``, OpenCLIP ViT-bigG, which also gives SDXL's pooled embedding):
  the subject, the key sketch rules, the instruction, the style and its own rules, the other
  global sketch rules, the brief's context notes;
* ``negative_prompt`` = ``negative_prompt_2``: the model's avoid-words, then the style's own
  avoid-list ("no " dropped: a negative prompt names what to avoid). A rule with an "unless"
  ("no scary characters unless the brief asks for it") is not sent: a negative prompt cannot
  say "unless", and unconditional it would fight the brief that asks for it. "text" is dropped
  from the avoid-words when the brief asks for lettering.

Why this split: the UNet attends to both encoders' tokens side by side, so each text adds 75
tokens of room; the second encoder's pooled embedding also conditions the whole image, which suits
the look (the sketch rules and the style), while the first carries this sketch's own composition.
The subject leads both, so neither encoder describes a picture of something else.

Each text is counted by its own encoder's tokenizer. The leading phrases are *required* (the
subject, and the layout and exaggeration in ``prompt``, the key sketch rules in ``prompt_2``): the
subject gives way to them, cut at a word. The others are kept as the longest run from the front
that fits, so what is dropped is always the least important end. Whatever did not fit is named
in :meth:`SdxlPrompts.warnings`, and the texts are recorded as sent (``prompt_sent``). An edit's
note ("the image given is the subject") is not put in words: that image itself drives the
ControlNet.

Why not longer prompts through chunked embeddings (encoding 75-token windows and concatenating
them, as some UIs do): SDXL's pooled embedding comes from the first window only, the UNet was
trained on one 77-token window, and doing it here means re-implementing diffusers'
``encode_prompt`` for both encoders (clip skip, pooling, the negative side) against an API that
changes between releases. CLIP reads keyword phrases, not instructions, so a short prompt that
puts the sketch's own variation up front serves the picture better than a long one read thinly.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from generate.adapter import ImageRequest, PromptParts

__all__ = [
    "LAYOUT_PHRASES",
    "EXAGGERATION_PHRASES",
    "KEY_SKETCH_RULES",
    "MORE_SKETCH_RULES",
    "SdxlPrompts",
    "build_prompts",
]

Counter = Callable[[str], int]  # tokens of a text, start and end tokens included

# The variation catalogue (prompt.variation.LAYOUTS) in CLIP's terms: the first phrase names it.
LAYOUT_PHRASES: dict[str, tuple[str, ...]] = {
    "centered-hero": ("centred hero pose", "full figure facing front", "white margin all round"),
    "three-quarter": ("three-quarter view", "turned 45 degrees", "showing its volume"),
    "close-up-bust": ("close-up bust", "head and shoulders filling the frame", "expressive face"),
    "action-pose": ("dynamic action pose", "strong line of action", "diagonal composition"),
    "badge-emblem": ("badge emblem composition", "inside a bold circle or shield border", "symmetrical"),
    "side-profile": ("strict side profile view", "crisp readable outline"),
    "top-down": ("overhead top-down view", "high angle", "parts laid out"),
    "exploded-view": ("exploded view", "parts pulled apart along one axis", "faint guide lines"),
    "silhouette-thumbnail": ("small thumbnail study", "bold readable silhouette", "almost no interior lines"),
    "scene-vignette": (
        "vignette with one or two props",
        "simple ground line",
        "fading to white at the edges",
    ),
}
EXAGGERATION_PHRASES: dict[str, tuple[str, ...]] = {
    "subtle": ("subtle exaggeration", "natural proportions"),
    "moderate": ("moderate exaggeration", "pushed proportions", "lively lines"),
    "bold": ("bold caricature", "strongly exaggerated proportions", "energetic attitude"),
}
# The global sketch rules (style.models.GLOBAL_SKETCH_RULES) as CLIP reads them, most telling first.
KEY_SKETCH_RULES = ("grayscale pencil line art", "thick outlines", "clean white background")
MORE_SKETCH_RULES = ("rough concept sketch", "minimal interior detail", "loose linework", "easy to draw over")
_SEP = ", "
# "no scary characters unless the brief asks for it": a negative prompt cannot say "unless", and
# sent as "scary characters" it would fight the very brief that asks for it, so it is not sent.
_CONDITIONAL = re.compile(r"\bunless\b", re.IGNORECASE)


@dataclass(frozen=True)
class SdxlPrompts:
    """The four texts of one SDXL call, their token counts, and what did not fit."""

    prompt: str
    prompt_2: str
    negative_prompt: str
    negative_prompt_2: str
    tokens: dict[str, int] = field(default_factory=dict)  # per text, as its encoder counts them
    left_out: dict[str, list[str]] = field(default_factory=dict)  # per text, the phrases dropped
    subject_cut: tuple[str, ...] = ()  # the texts whose subject (the brief) lost words

    def kwargs(self) -> dict[str, str]:
        """The pipeline's keyword arguments (also what ``prompt_sent`` records)."""
        return {
            "prompt": self.prompt,
            "prompt_2": self.prompt_2,
            "negative_prompt": self.negative_prompt,
            "negative_prompt_2": self.negative_prompt_2,
        }

    def warnings(self, model: str, limit: int) -> list[str]:
        """One line saying what did not fit, if anything (``prompt_sent`` has what was sent)."""
        lost = []
        if self.subject_cut:
            lost.append(f"the brief was cut at a word in {' and '.join(self.subject_cut)}")
        lost += [
            f"left out of {name}: " + "; ".join(_short(p) for p in dropped)
            for name, dropped in self.left_out.items()
            if dropped
        ]
        if not lost:
            return []
        return [f"{model} reads the first {limit} tokens of each text encoder's prompt: " + " | ".join(lost)]


def _short(phrase: str, most: int = 40) -> str:
    return phrase if len(phrase) <= most else phrase[: most - 1].rstrip() + "…"


def _longest(n: int, fits: Callable[[int], bool]) -> int:
    """The largest ``k`` in 1..n for which ``fits(k)`` holds (``fits`` shrinking with ``k``), else 1."""
    lo, hi = 1, n
    while lo < hi:
        mid = (lo + hi + 1) // 2
        if fits(mid):
            lo = mid
        else:
            hi = mid - 1
    return lo


def _fit(
    subject: str, required: Sequence[str], optional: Sequence[str], count: Counter, limit: int
) -> tuple[str, list[str], bool]:
    """(text, phrases left out, whether the subject lost words): ``subject``, ``required``, then as
    many of ``optional`` from the front as fit in ``limit`` tokens. The subject gives way to the
    required phrases, cut at a word (by characters if its first word alone is too long)."""

    def text(head: str, rest: Sequence[str]) -> str:
        return _SEP.join(p for p in (head, *rest) if p)

    cut = False
    if subject and count(text(subject, required)) > limit:
        words = subject.split()
        subject = " ".join(
            words[: _longest(len(words), lambda k: count(text(" ".join(words[:k]), required)) <= limit)]
        )
        if count(text(subject, required)) > limit:  # one giant "word" (a pasted URL, a hash)
            whole = subject
            subject = whole[: _longest(len(whole), lambda k: count(text(whole[:k], required)) <= limit)]
        subject, cut = subject.rstrip(" ,;:"), True
    head = list(required)
    while head and count(text(subject, head)) > limit:  # the required phrases alone overflow
        head.pop()
    kept = len(optional)
    while kept and count(text(subject, [*head, *optional[:kept]])) > limit:
        kept -= 1
    dropped = list(required[len(head) :]) + list(optional[kept:])
    return text(subject, [*head, *optional[:kept]]), dropped, cut


def _avoid(rule: str) -> str:
    """A "no ..." rule as a negative-prompt phrase ("no busy backgrounds" -> "busy backgrounds")."""
    for lead in ("no ", "avoid ", "never "):
        if rule.lower().startswith(lead):
            return rule[len(lead) :]
    return rule


def build_prompts(
    request: ImageRequest,
    *,
    negative: str,
    count: Counter,
    count_2: Counter,
    limit: int = 77,
    limit_2: int = 77,
) -> SdxlPrompts:
    """The texts for ``request``: from its :class:`PromptParts`, else its ``prompt`` as the subject.

    ``negative`` is the model's comma-separated avoid-words; ``count`` / ``count_2`` count tokens with
    the first / second encoder's tokenizer, ``limit`` / ``limit_2`` are their windows. Pure.
    """
    parts = request.prompt_parts or PromptParts(subject=" ".join(request.prompt.split()))
    layout = LAYOUT_PHRASES.get(request.layout) or (
        (request.layout.replace("-", " "),) if request.layout else ()
    )
    level = EXAGGERATION_PHRASES.get(request.exaggeration) or (
        (f"{request.exaggeration} exaggeration",) if request.exaggeration else ()
    )
    variation = [*layout[:1], *level[:1]]
    asked = [parts.instruction] if parts.instruction else []
    prompt, out_1, cut_1 = _fit(
        parts.subject, variation, [*asked, *KEY_SKETCH_RULES, *layout[1:], *level[1:]], count, limit
    )
    style = [f"{parts.style_name} style"] if parts.style_name else []
    prompt_2, out_2, cut_2 = _fit(
        parts.subject,
        KEY_SKETCH_RULES,
        [*asked, *style, *parts.style_rules, *MORE_SKETCH_RULES, *parts.notes],
        count_2,
        limit_2,
    )
    words = [w for w in negative.split(_SEP) if w and not (parts.lettering and w in ("text", "lettering"))]
    avoid = [*words, *(_avoid(r) for r in parts.negatives if not _CONDITIONAL.search(r))]
    negative_prompt, out_n, _ = _fit("", [], avoid, lambda t: max(count(t), count_2(t)), min(limit, limit_2))
    return SdxlPrompts(
        prompt=prompt,
        prompt_2=prompt_2,
        negative_prompt=negative_prompt,
        negative_prompt_2=negative_prompt,
        tokens={
            "prompt": count(prompt),
            "prompt_2": count_2(prompt_2),
            "negative_prompt": count(negative_prompt),
            "negative_prompt_2": count_2(negative_prompt),
        },
        left_out={"prompt": out_1, "prompt_2": out_2, "negative_prompt": out_n},
        subject_cut=tuple(name for name, cut in (("prompt", cut_1), ("prompt_2", cut_2)) if cut),
    )
