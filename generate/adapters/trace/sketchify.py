"""Pure image operations behind the offline ``trace`` model: reference image -> rough pencil sketch.

Everything here is a deterministic function of its inputs (no I/O, no clock, no global random state):
the same reference, size, layout, exaggeration and seed give the same pixels, so the PNG bytes that
:func:`png_bytes` writes are identical too.

The pipeline, at the output resolution (all lengths scale with the image, so 1K and 2K look alike):

1. **Layout** - frame the reference's subject (found against its border colour) for the sketch's layout:
   zoom, crop, pan, rotation, mirror and squeeze (see :data:`LAYOUTS`), with a small seeded jitter.
2. **Warp** - a smooth displacement field (a "caricature" bulge near the top of the subject plus
   low-frequency waves) whose strength grows with the exaggeration level. Layout and warp are one
   ``Image.transform(MESH)`` call.
3. **Lines** - colour-gradient edges of the blurred image, measured in "step height" units so the
   threshold does not depend on resolution (a flat-colour edge between two fills is a line even when
   their luminance is equal), plus a thicker silhouette outline when the reference has a clean
   background, a faint offset construction stroke and a seeded pencil-pressure texture.
4. **Finish** - line weight and contrast from the exaggeration level; paper stays pure white (255).
"""

from __future__ import annotations

import hashlib
import math
from dataclasses import dataclass

import numpy as np
from PIL import Image, ImageDraw, ImageFilter

from generate.png import encode_png

__all__ = [
    "LAYOUTS",
    "EXAGGERATIONS",
    "ASPECT_RATIOS",
    "IMAGE_SIZES",
    "pixel_size",
    "sketchify",
    "png_bytes",
]

# Pixel sizes follow the Nano Banana Pro table (docs/gemini-api-facts.md section 7); 1:4 / 4:1 follow the
# 3.1 Flash scaling. 2K and 4K are exact multiples of 1K.
_SIZES_1K: dict[str, tuple[int, int]] = {
    "1:1": (1024, 1024),
    "2:3": (848, 1264),
    "3:2": (1264, 848),
    "3:4": (896, 1200),
    "4:3": (1200, 896),
    "4:5": (928, 1152),
    "5:4": (1152, 928),
    "9:16": (768, 1376),
    "16:9": (1376, 768),
    "21:9": (1584, 672),
    "1:4": (512, 2048),
    "4:1": (2048, 512),
}
ASPECT_RATIOS: tuple[str, ...] = tuple(_SIZES_1K)
IMAGE_SIZES: tuple[str, ...] = ("1K", "2K", "4K")
_SIZE_FACTOR = {"1K": 1, "2K": 2, "4K": 4}


def pixel_size(aspect_ratio: str, image_size: str) -> tuple[int, int]:
    """(width, height) in pixels for a ratio and size; raises ValueError for unknown values."""
    try:
        w, h = _SIZES_1K[aspect_ratio]
        f = _SIZE_FACTOR[image_size]
    except KeyError as exc:
        raise ValueError(f"unsupported aspect ratio / size: {aspect_ratio!r} {image_size!r}") from exc
    return w * f, h * f


@dataclass(frozen=True)
class Layout:
    """How a layout frames the subject. ``frame_top``/``frame_h``: the part of the subject's box
    (fractions of its height) to fit; ``fill``: how much of the canvas it fills."""

    fill: float = 0.8
    frame_top: float = 0.0
    frame_h: float = 1.0
    rotate: float = 0.0  # degrees, sign picked by the seed
    mirror: float = 0.0  # probability of a horizontal mirror
    squeeze_x: float = 1.0
    squeeze_y: float = 1.0
    pan_x: float = 0.0  # fraction of width, sign picked by the seed
    shear: float = 0.0  # horizontal shear (a cheap turn of the subject), sign follows the mirror
    frame: str | None = None  # "ring": badge frame drawn around the subject
    silhouette: float = 0.0  # grey fill of the silhouette (0 = none)


LAYOUTS: dict[str, Layout] = {
    "centered-hero": Layout(fill=0.8),
    "three-quarter": Layout(fill=0.84, squeeze_x=0.78, rotate=5.0, mirror=0.5, pan_x=0.05, shear=0.22),
    "close-up-bust": Layout(fill=0.95, frame_top=0.0, frame_h=0.55),
    "action-pose": Layout(fill=0.8, rotate=13.0, mirror=0.5, pan_x=0.04),
    "badge-emblem": Layout(fill=0.56, frame="ring"),
    "side-profile": Layout(fill=0.78, squeeze_x=0.74, mirror=1.0),
    "top-down": Layout(fill=0.8, squeeze_y=0.66, rotate=6.0),
    "silhouette-thumbnail": Layout(fill=0.44, silhouette=0.4),
}
_DEFAULT_LAYOUT = LAYOUTS["centered-hero"]


@dataclass(frozen=True)
class Exaggeration:
    weight: float  # line weight multiplier
    darkness: float  # darkest ink (1 = black)
    detail: float  # step height (0..255) at which an interior edge becomes a line
    warp: float  # wave amplitude, fraction of the short side
    bulge: float  # caricature bulge strength


EXAGGERATIONS: dict[str, Exaggeration] = {
    "subtle": Exaggeration(weight=1.0, darkness=0.86, detail=32.0, warp=0.006, bulge=0.12),
    "moderate": Exaggeration(weight=1.4, darkness=0.94, detail=27.0, warp=0.014, bulge=0.3),
    "bold": Exaggeration(weight=1.9, darkness=1.0, detail=22.0, warp=0.024, bulge=0.48),
}
_DEFAULT_EXAGGERATION = EXAGGERATIONS["moderate"]


def _rng(seed: int | None, *parts: object) -> np.random.Generator:
    """A generator seeded by a stable hash (Python's ``hash`` is salted per process)."""
    key = "|".join(str(p) for p in (seed or 0, *parts)).encode()
    return np.random.default_rng(int.from_bytes(hashlib.sha256(key).digest()[:8], "little"))


def _prepare(ref: Image.Image, out_size: tuple[int, int]) -> Image.Image:
    """RGB on white, no larger than needed (speed): alpha is flattened onto paper."""
    img = ref
    if img.mode in ("RGBA", "LA", "PA") or (img.mode == "P" and "transparency" in img.info):
        rgba = img.convert("RGBA")
        img = Image.new("RGB", rgba.size, (255, 255, 255))
        img.paste(rgba, mask=rgba.getchannel("A"))
    img = img.convert("RGB")
    limit = 2 * max(out_size)
    while max(img.size) > 2 * limit:  # cheap halving first, exact resampling never needed here
        img = img.reduce(2)
    return img


def _background(img: Image.Image) -> tuple[tuple[int, int, int], bool]:
    """Border colour and whether the border is clean enough to call it a background."""
    a = np.asarray(img.reduce(4) if min(img.size) >= 64 else img, dtype=np.int16)
    border = np.concatenate([a[0], a[-1], a[:, 0], a[:, -1]])
    med = np.median(border, axis=0)
    clean = float(np.mean(np.abs(border - med).sum(axis=1) < 30)) > 0.9
    return (int(med[0]), int(med[1]), int(med[2])), clean


def _subject_mask(img: Image.Image, bg: tuple[int, int, int]) -> Image.Image:
    """L mask (255 = subject) of pixels that differ clearly from the background colour."""
    a = np.asarray(img, dtype=np.int16)
    dist = np.abs(a - np.asarray(bg, dtype=np.int16)).sum(axis=2)
    return Image.fromarray(((dist > 36) * 255).astype(np.uint8))


def _fill_holes(mask: np.ndarray) -> np.ndarray:
    """Add enclosed background-coloured regions (a white label, white eyes) to a boolean subject mask.

    Works on a ~160 px copy: "outside" grows from the border through background pixels until it stops;
    background that it never reached is a hole. Cheap (a few ms) and only as exact as a fill needs.
    """
    h, w = mask.shape
    f = max(1, max(w, h) // 160)
    small = np.asarray(Image.fromarray(mask.astype(np.uint8) * 255).reduce(f)) > 40
    bg = ~small
    outside = np.zeros_like(bg)
    outside[0], outside[-1], outside[:, 0], outside[:, -1] = bg[0], bg[-1], bg[:, 0], bg[:, -1]
    while True:
        grown = outside.copy()
        grown[1:] |= outside[:-1]
        grown[:-1] |= outside[1:]
        grown[:, 1:] |= outside[:, :-1]
        grown[:, :-1] |= outside[:, 1:]
        grown &= bg
        if np.array_equal(grown, outside):
            break
        outside = grown
    holes = bg & ~outside
    if not holes.any():
        return mask
    big = Image.fromarray(holes.astype(np.uint8) * 255).resize((w, h), Image.Resampling.BILINEAR)
    return mask | (np.asarray(big) > 127)


def _subject_box(img: Image.Image, bg: tuple[int, int, int], clean: bool) -> tuple[float, ...]:
    """Robust bounding box of the subject (1st..99th percentile of subject pixels), or the image."""
    w, h = img.size
    if not clean:
        return 0.0, 0.0, float(w), float(h)
    small = img.reduce(4) if min(img.size) >= 64 else img
    f = w / small.size[0]
    ys, xs = np.nonzero(np.asarray(_subject_mask(small, bg)))
    if len(xs) < 20:
        return 0.0, 0.0, float(w), float(h)
    x0, x1 = np.percentile(xs, [0.5, 99.5]) * f
    y0, y1 = np.percentile(ys, [0.5, 99.5]) * f
    return float(x0), float(y0), float(x1 + f), float(y1 + f)


def _mesh(
    src_box: tuple[float, ...],
    out_size: tuple[int, int],
    layout: Layout,
    ex: Exaggeration,
    rng: np.random.Generator,
) -> list:
    """Mesh data mapping output quads to source quads: layout (affine) composed with a smooth warp."""
    W, H = out_size
    x0, y0, x1, y1 = src_box
    bw, bh = max(x1 - x0, 1.0), max(y1 - y0, 1.0)
    fy0 = y0 + layout.frame_top * bh
    fh = layout.frame_h * bh
    cx, cy = (x0 + x1) / 2, fy0 + fh / 2
    sx, sy = layout.squeeze_x, layout.squeeze_y
    jitter = 1 + rng.uniform(-0.04, 0.04)
    theta = math.radians(layout.rotate * rng.choice([-1.0, 1.0]) + rng.uniform(-2.5, 2.5))
    mirror = -1.0 if rng.random() < layout.mirror else 1.0
    # forward: o = scale * R(theta) @ shear @ diag(sx*mirror, sy) @ (s - c) + o_c; we need its inverse.
    rot = np.array([[math.cos(theta), -math.sin(theta)], [math.sin(theta), math.cos(theta)]])
    shear = np.array([[1.0, layout.shear * mirror], [0.0, 1.0]])
    lin = rot @ shear @ np.diag([sx * mirror, sy])
    # Scale so the framed box, once rotated/sheared/squeezed, fills `fill` of the canvas.
    corners = np.array([[-bw, -fh], [bw, -fh], [bw, fh], [-bw, fh]]) / 2 @ lin.T
    extent = np.maximum(corners.max(0) - corners.min(0), 1e-6)
    scale = layout.fill * min(W / extent[0], H / extent[1]) * jitter
    fwd = scale * lin
    inv = np.linalg.inv(fwd)
    short = min(W, H)
    pan = np.array([layout.pan_x * W * rng.choice([-1.0, 1.0]), 0.0]) + rng.uniform(-0.03, 0.03, 2) * short
    oc = np.array([W / 2, H / 2]) + pan

    n = 24
    gx, gy = np.meshgrid(np.linspace(0, W, n + 1), np.linspace(0, H, n + 1))
    pts = np.stack([gx, gy], axis=-1)
    # Caricature bulge: sampling closer to p magnifies what is around p (the head of most subjects).
    p = oc + np.array([0.0, -0.22 * fh * scale * sy]) + rng.uniform(-0.05, 0.05, 2) * short
    r = 0.3 * short
    d = pts - p
    fall = np.exp(-(d**2).sum(-1) / (2 * r * r))[..., None]
    pts = pts - ex.bulge * 0.6 * d * fall
    # Low-frequency waves: a hand-drawn wobble that grows with exaggeration.
    amp = ex.warp * short
    for axis in (0, 1):
        k = rng.uniform(1.0, 2.2, 2) * 2 * math.pi / short
        ph = rng.uniform(0, 2 * math.pi, 2)
        pts[..., axis] += amp * np.sin(k[0] * gx + ph[0]) * np.cos(k[1] * gy + ph[1])
    src = (pts - oc) @ inv.T + np.array([cx, cy])

    data = []
    for j in range(n):
        for i in range(n):
            box = (int(gx[j, i]), int(gy[j, i]), int(gx[j + 1, i + 1]), int(gy[j + 1, i + 1]))
            nw, sw, se, ne = src[j, i], src[j + 1, i], src[j + 1, i + 1], src[j, i + 1]
            data.append((box, (*nw, *sw, *se, *ne)))
    return data


def _blur(a: np.ndarray, radius: float) -> np.ndarray:
    """Gaussian blur of a 0..1 float array via Pillow's fast 8-bit filter (precision is plenty)."""
    img = Image.fromarray(np.clip(a * 255.0 + 0.5, 0, 255).astype(np.uint8))
    return np.asarray(img.filter(ImageFilter.GaussianBlur(radius)), dtype=np.float32) / 255.0


def _smoothstep(x: np.ndarray, lo: float, hi: float) -> np.ndarray:
    t = np.clip((x - lo) / (hi - lo), 0.0, 1.0)
    return t * t * (3 - 2 * t)


def _edge_lines(img: Image.Image, k: float, ex: Exaggeration) -> np.ndarray:
    """Interior/exterior lines (0..1) from colour gradients, in resolution-independent step units."""
    sigma = 1.5 * k
    a = np.asarray(img.filter(ImageFilter.GaussianBlur(sigma)), dtype=np.float32)
    gx = np.zeros(a.shape[:2], np.float32)
    gy = np.zeros(a.shape[:2], np.float32)
    for c in range(3):
        ch = a[..., c]
        dx = np.zeros_like(ch)
        dy = np.zeros_like(ch)
        dx[:, 1:-1] = (ch[:, 2:] - ch[:, :-2]) * 0.5
        dy[1:-1] = (ch[2:] - ch[:-2]) * 0.5
        gx += dx * dx
        gy += dy * dy
    # A step of height h blurred with sigma peaks at h / (sigma * sqrt(2 pi)) per pixel.
    step = np.sqrt((gx + gy) / 3.0) * sigma * math.sqrt(2 * math.pi)
    return _smoothstep(step, ex.detail * 0.5, ex.detail * 1.3)


def sketchify(
    ref: Image.Image,
    size: tuple[int, int],
    *,
    layout: str = "centered-hero",
    exaggeration: str = "moderate",
    seed: int | None = 0,
    index: int = 0,
) -> Image.Image:
    """Render ``ref`` as a rough grayscale pencil sketch of ``size`` (mode "L", paper = 255).

    Unknown ``layout``/``exaggeration`` names fall back to "centered-hero"/"moderate" (still seeded).
    """
    W, H = size
    lay = LAYOUTS.get(layout, _DEFAULT_LAYOUT)
    ex = EXAGGERATIONS.get(exaggeration, _DEFAULT_EXAGGERATION)
    rng = _rng(seed, index, layout, exaggeration)
    k = math.sqrt(W * H) / 1024.0  # every length below is in "1K pixels"

    src = _prepare(ref, size)
    bg, clean = _background(src)
    box = _subject_box(src, bg, clean)
    mesh = _mesh(box, size, lay, ex, rng)
    warped = src.transform(size, Image.Transform.MESH, mesh, Image.Resampling.BILINEAR, fillcolor=bg)

    ink = _edge_lines(warped, k, ex)
    if clean:
        mask = _fill_holes(np.asarray(_subject_mask(warped, bg)) > 0).astype(np.float32)
        mb = _blur(mask, 3.0 * k * ex.weight)
        outline = np.clip((0.5 - np.abs(mb - 0.5)) * 3.8, 0.0, 1.0)
        ink = np.maximum(ink, outline)
        if lay.silhouette:
            ink = np.maximum(ink, _blur(mask, 1.0 * k) * lay.silhouette)
    # Faint construction stroke: the same lines, offset a little, as a quick under-drawing.
    dx, dy = (int(round(v * k)) for v in rng.uniform(-5, 5, 2))
    ink = np.maximum(ink, np.roll(ink, (dy, dx), axis=(0, 1)) * 0.22)
    # Line weight: blur + gain widens every line with soft pencil edges.
    ink = np.clip(_blur(ink, 0.9 * k * ex.weight) * 1.9, 0.0, 1.0)
    if lay.frame == "ring":
        ink = np.maximum(ink, _ring_frame(size, k, ex, rng))
    # Pencil pressure: low-frequency variation along strokes plus fine grain; paper stays white.
    lo = rng.random((8, 8)).astype(np.float32)
    pressure = np.asarray(
        Image.fromarray((lo * 255).astype(np.uint8)).resize((W, H), Image.Resampling.BICUBIC), np.float32
    )
    grain = rng.random((H, W), dtype=np.float32)
    ink = ink * (0.78 + 0.22 * pressure / 255.0) * (0.9 + 0.1 * grain)
    ink[ink < 0.04] = 0.0
    out = 255.0 - ink * ex.darkness * 255.0
    return Image.fromarray(np.clip(out + 0.5, 0, 255).astype(np.uint8), mode="L")


def _ring_frame(size: tuple[int, int], k: float, ex: Exaggeration, rng: np.random.Generator) -> np.ndarray:
    """A double ring around the centre: the badge/emblem composition."""
    W, H = size
    img = Image.new("L", size, 0)
    draw = ImageDraw.Draw(img)
    r = 0.44 * min(W, H) * (1 + rng.uniform(-0.03, 0.03))
    cx, cy = W / 2, H / 2
    w1 = max(2, int(7 * k * ex.weight))
    draw.ellipse((cx - r, cy - r, cx + r, cy + r), outline=255, width=w1)
    r2 = r * 0.9
    draw.ellipse((cx - r2, cy - r2, cx + r2, cy + r2), outline=170, width=max(1, w1 // 2))
    return _blur(np.asarray(img, np.float32) / 255.0, 0.8 * k)


def png_bytes(img: Image.Image) -> bytes:
    """Encode as PNG with no metadata chunks, so equal pixels give equal bytes."""
    return encode_png(img if img.mode in ("L", "RGB") else img.convert("L"))
