"""The variation plan: what makes each sketch of a run deliberately different.

:func:`plan_variations` is a pure function of ``(spec, n, seed, style)``. Each sketch gets

* a distinct **layout** (composition / viewpoint) from :data:`LAYOUTS`, and
* an **exaggeration** level (``subtle`` / ``moderate`` / ``bold``) from :data:`EXAGGERATION_LEVELS`,

and the exact prompt for it: ``spec.prompt_text`` followed by a variation block that always
contains the literal text ``Sketch {index+1} of {n}`` (tests and the fake Gemini server match on it).

Choice rules (documented because they are visible in every run's metadata):

* Layout pool: ``style.layouts`` when the style sets it, else :data:`DEFAULT_LAYOUT_ORDER` (the six
  compositions of the design). When the pool is shorter than ``n`` it is topped up from the rest of the
  catalogue in catalogue order, so layouts stay distinct. ``seed=None`` takes the pool in order; an
  integer seed shuffles the pool with ``random.Random(seed)`` before taking ``n``.
* Exaggeration: with ``style.exaggeration`` set, sketch ``i`` gets ``style.exaggeration[i % len]`` (it is
  a cycle, as in the style file). Otherwise the levels are spread evenly from subtle to bold across the
  run (n=4: subtle, moderate, moderate, bold); a seed shuffles that spread.
"""

from __future__ import annotations

import random

from generate.errors import ConfigError
from prompt.spec import PromptSpec, SketchVariation
from style.models import Style

__all__ = [
    "LAYOUTS",
    "DEFAULT_LAYOUT_ORDER",
    "EXAGGERATION_LEVELS",
    "MIN_SKETCHES",
    "MAX_SKETCHES",
    "plan_variations",
    "variation_block",
]

MIN_SKETCHES = 3
MAX_SKETCHES = 6

# Written as instructions the image model can follow for a character *or* an object.
LAYOUTS: dict[str, str] = {
    "centered-hero": (
        "Centred hero composition: the whole subject, front-facing and upright in a confident pose, "
        "centred with generous white margin on every side."
    ),
    "three-quarter": (
        "Three-quarter view: the subject turned about 45 degrees so both the front and one side read, "
        "showing its volume and construction."
    ),
    "close-up-bust": (
        "Close-up: crop to the head and shoulders (or the single most characterful part of an object) "
        "so it fills most of the frame; focus on expression and key features."
    ),
    "action-pose": (
        "Action pose: the subject caught mid-movement with a strong, clear line of action and a "
        "dynamic diagonal composition."
    ),
    "badge-emblem": (
        "Badge / emblem composition: the subject sits inside a simple bold border (circle, shield or "
        "rounded rectangle), compact and symmetrical, readable at small sizes."
    ),
    "side-profile": (
        "Side profile: a strict side-on view with a crisp, readable outline, facing left or right."
    ),
    "top-down": (
        "Overhead view: seen from directly above or from a high angle, showing the footprint, layout "
        "and how the parts are arranged."
    ),
    "exploded-view": (
        "Exploded view: the main parts pulled slightly apart along one axis, with faint guide lines, "
        "to show how the subject is built."
    ),
    "silhouette-thumbnail": (
        "Thumbnail study: a small, quick sketch driven by a bold, instantly readable outer silhouette, "
        "with almost no interior lines."
    ),
    "scene-vignette": (
        "Vignette: the subject with one or two simple props and a ground line that hint at a setting, "
        "fading out to white at the edges."
    ),
}

DEFAULT_LAYOUT_ORDER: tuple[str, ...] = (
    "centered-hero",
    "three-quarter",
    "close-up-bust",
    "action-pose",
    "badge-emblem",
    "side-profile",
)

EXAGGERATION_LEVELS: dict[str, str] = {
    "subtle": (
        "Subtle exaggeration: keep proportions close to natural and restrained; clarity over attitude."
    ),
    "moderate": (
        "Moderate exaggeration: push the defining proportions and features a little further than "
        "life, with a clear attitude and lively lines."
    ),
    "bold": (
        "Bold exaggeration: strongly caricatured shapes and proportions, a dramatic pose or angle and "
        "an energetic, playful attitude."
    ),
}
_LEVEL_ORDER = ("subtle", "moderate", "bold")


def _check_n(n: object, most: int = MAX_SKETCHES) -> int:
    if isinstance(n, bool) or not isinstance(n, int) or not MIN_SKETCHES <= n <= most:
        raise ConfigError(
            f"num_images must be a whole number from {MIN_SKETCHES} to {most} (got {n!r})",
            field="num_images",
        )
    return n


def _layout_pool(style: Style | None) -> list[str]:
    wanted = list(style.layouts) if style is not None and style.layouts else list(DEFAULT_LAYOUT_ORDER)
    pool: list[str] = []
    for name in wanted:
        if name not in LAYOUTS:
            raise ConfigError(
                f"style {style.id if style else '?'}: unknown layout {name!r} (known: {', '.join(LAYOUTS)})",
                field="layouts",
            )
        if name not in pool:  # a repeated name would break "distinct layouts"
            pool.append(name)
    return pool


def _choose_layouts(pool: list[str], n: int, rng: random.Random | None) -> list[str]:
    if rng is not None:
        pool = pool[:]
        rng.shuffle(pool)
    # Top up in catalogue order, after any shuffle, so a short style pool keeps its own picks first.
    pool += [name for name in LAYOUTS if name not in pool]
    return pool[:n]


def _choose_exaggeration(style: Style | None, n: int, rng: random.Random | None) -> list[str]:
    if style is not None and style.exaggeration:
        cycle = list(style.exaggeration)
        if rng is not None:
            rng.shuffle(cycle)
        return [cycle[i % len(cycle)] for i in range(n)]
    last = len(_LEVEL_ORDER) - 1
    # Even spread from subtle to bold; round-half-up keeps it symmetric (n=4 -> s, m, m, b).
    levels = [_LEVEL_ORDER[int(i * last / (n - 1) + 0.5)] for i in range(n)]
    if rng is not None:
        rng.shuffle(levels)
    return levels


def variation_block(index: int, n: int, layout: str, exaggeration: str) -> str:
    """The text appended to ``spec.prompt_text`` for sketch ``index`` (0-based) of ``n``."""
    return (
        f"Sketch {index + 1} of {n} — this sketch's variation (each sketch in the set differs):\n"
        f"- Layout ({layout}): {LAYOUTS[layout]}\n"
        f"- Exaggeration ({exaggeration}): {EXAGGERATION_LEVELS[exaggeration]}\n"
        "Still exactly one sketch in the image."
    )


def plan_variations(
    spec: PromptSpec,
    n: int,
    seed: int | None = None,
    *,
    style: Style | None = None,
    most: int = MAX_SKETCHES,
) -> list[SketchVariation]:
    """Plan ``n`` sketches (3-6) for ``spec``: distinct layouts, spread exaggeration, exact prompts.

    ``most`` raises the upper bound (sheet mode plans up to 9 cells; the layout catalogue has 10).

    ``style`` supplies the optional ``layouts`` / ``exaggeration`` overrides; it must be the style the
    spec was compiled for. Same arguments, same plan. Raises ConfigError(field="num_images") for ``n``
    outside 3-6, ConfigError(field="seed") for a non-integer seed.
    """
    n = _check_n(n, min(most, len(LAYOUTS)))
    if seed is not None and (isinstance(seed, bool) or not isinstance(seed, int)):
        raise ConfigError(f"seed must be an integer or None (got {seed!r})", field="seed")
    if style is not None and style.id != spec.style_id:
        raise ConfigError(
            f"the prompt was compiled for style {spec.style_id!r} but style {style.id!r} was given",
            field="style_id",
        )
    # Separate generators so a style's layout override does not change the exaggeration draw.
    layout_rng = random.Random(seed) if seed is not None else None
    level_rng = random.Random(seed + 1) if seed is not None else None
    layouts = _choose_layouts(_layout_pool(style), n, layout_rng)
    levels = _choose_exaggeration(style, n, level_rng)
    plan = []
    for i, (layout, level) in enumerate(zip(layouts, levels, strict=True)):
        block = variation_block(i, n, layout, level)
        plan.append(
            SketchVariation(
                index=i,
                layout=layout,
                layout_description=LAYOUTS[layout],
                exaggeration=level,
                exaggeration_description=EXAGGERATION_LEVELS[level],
                prompt=f"{spec.prompt_text}\n\n{block}",
            )
        )
    return plan
