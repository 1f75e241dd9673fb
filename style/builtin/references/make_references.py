"""Draw sketchgen's example reference library: coloured, shaded, flat-style subjects on white.

Every image in ``style/builtin/references/<style-id>/`` was drawn by this script (with the subject
functions in ``subjects_mascot_product.py`` and ``subjects_editorial_badge.py``) using only Pillow and
numpy. No outside artwork is involved, so the library can ship with the project. Output is
deterministic: re-running the script reproduces the same files (seed per subject, see SEED).

Usage::

    python style/builtin/references/make_references.py            # (re)write every image + caption
    python style/builtin/references/make_references.py --only golf  # just the subjects matching "golf"

Each subject writes ``<stem>.png`` (768 px, palette PNG, a few tens of KB) and ``<stem>.txt`` (a
one-line caption; the lexical retrieval fallback ranks by file name + caption).

Coordinates in the subject functions are in a 1000 x 1000 unit square (y down); the painter draws at
2x supersampling and downsamples, so edges are anti-aliased.
"""

from __future__ import annotations

import argparse
import math
import sys
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw

HERE = Path(__file__).resolve().parent
SIZE = 768
SUPERSAMPLE = 2
SEED = 20240601  # base seed; each subject adds its own position in the catalogue
Color = tuple[int, int, int]
Pt = tuple[float, float]


class Painter:
    """Shaded flat shapes on a white canvas, in 1000-unit coordinates."""

    def __init__(self, seed: int = 0, bg: Color = (255, 255, 255)) -> None:
        self.px = SIZE * SUPERSAMPLE
        self.f = self.px / 1000.0
        self.img = Image.new("RGB", (self.px, self.px), bg)
        self.rng = np.random.default_rng(seed)

    # -- geometry helpers -------------------------------------------------------------------------
    def _p(self, pts: Sequence[Pt]) -> list[tuple[float, float]]:
        return [(x * self.f, y * self.f) for x, y in pts]

    @staticmethod
    def ellipse_pts(cx: float, cy: float, rx: float, ry: float, rot: float = 0.0, n: int = 72) -> list[Pt]:
        a = math.radians(rot)
        out = []
        for i in range(n):
            t = 2 * math.pi * i / n
            x, y = rx * math.cos(t), ry * math.sin(t)
            out.append((cx + x * math.cos(a) - y * math.sin(a), cy + x * math.sin(a) + y * math.cos(a)))
        return out

    @staticmethod
    def star_pts(cx: float, cy: float, r_out: float, r_in: float, n: int = 5, rot: float = -90) -> list[Pt]:
        pts = []
        for i in range(2 * n):
            r = r_out if i % 2 == 0 else r_in
            t = math.radians(rot + 180.0 * i / n)
            pts.append((cx + r * math.cos(t), cy + r * math.sin(t)))
        return pts

    # -- filling ----------------------------------------------------------------------------------
    def _fill(self, mask: Image.Image, color: Color, shade: float) -> None:
        box = mask.getbbox()
        if box is None:
            return
        x0, y0, x1, y1 = box
        w, h = x1 - x0, y1 - y0
        if shade:
            yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
            # Light from the upper left: brighter there, darker towards the lower right (a rounded look).
            t = np.sqrt(((xx / max(w, 1)) - 0.3) ** 2 + ((yy / max(h, 1)) - 0.25) ** 2) / 0.95
            factor = (1.0 + 0.35 * shade) - shade * np.clip(t, 0, 1.2)
            rgb = np.clip(np.asarray(color, np.float32)[None, None, :] * factor[..., None], 0, 255)
            patch = Image.fromarray(rgb.astype(np.uint8), "RGB")
        else:
            patch = Image.new("RGB", (w, h), color)
        self.img.paste(patch, (x0, y0), mask.crop(box))

    def _mask(self) -> tuple[Image.Image, ImageDraw.ImageDraw]:
        m = Image.new("L", (self.px, self.px), 0)
        return m, ImageDraw.Draw(m)

    def poly(self, pts: Sequence[Pt], color: Color, shade: float = 0.3) -> None:
        m, d = self._mask()
        d.polygon(self._p(pts), fill=255)
        self._fill(m, color, shade)

    def ellipse(
        self,
        cx: float,
        cy: float,
        rx: float,
        ry: float | None = None,
        color: Color = (0, 0, 0),
        shade=0.3,
        rot=0.0,
    ) -> None:
        self.poly(self.ellipse_pts(cx, cy, rx, rx if ry is None else ry, rot), color, shade)

    def rect(self, x0: float, y0: float, x1: float, y1: float, color: Color, shade=0.3, r: float = 0) -> None:
        m, d = self._mask()
        d.rounded_rectangle(self._p([(x0, y0), (x1, y1)]), radius=r * self.f, fill=255)
        self._fill(m, color, shade)

    def capsule(self, a: Pt, b: Pt, w: float, color: Color, shade: float = 0.25) -> None:
        """A thick segment with round ends (limbs, shafts, handles)."""
        m, d = self._mask()
        (ax, ay), (bx, by) = self._p([a, b])
        r = w * self.f / 2
        d.line([(ax, ay), (bx, by)], fill=255, width=max(1, int(round(2 * r))))
        d.ellipse((ax - r, ay - r, ax + r, ay + r), fill=255)
        d.ellipse((bx - r, by - r, bx + r, by + r), fill=255)
        self._fill(m, color, shade)

    def limb(self, pts: Sequence[Pt], w: float, color: Color, shade: float = 0.25) -> None:
        """A bent limb: consecutive capsules drawn as one shape."""
        m, d = self._mask()
        r = w * self.f / 2
        pp = self._p(pts)
        d.line(pp, fill=255, width=max(1, int(round(2 * r))), joint="curve")
        for x, y in (pp[0], pp[-1]):
            d.ellipse((x - r, y - r, x + r, y + r), fill=255)
        self._fill(m, color, shade)

    def stroke(self, pts: Sequence[Pt], color: Color, w: float = 8) -> None:
        """An unshaded line (mouths, stitches, steam)."""
        d = ImageDraw.Draw(self.img)
        d.line(self._p(pts), fill=color, width=max(1, int(round(w * self.f))), joint="curve")

    def arc(self, box: Sequence[float], start: float, end: float, color: Color, w: float = 8) -> None:
        d = ImageDraw.Draw(self.img)
        x0, y0, x1, y1 = (v * self.f for v in box)
        d.arc((x0, y0, x1, y1), start, end, fill=color, width=max(1, int(round(w * self.f))))

    def chord(self, box: Sequence[float], start: float, end: float, color: Color, shade: float = 0.2) -> None:
        m, d = self._mask()
        d.chord(tuple(v * self.f for v in box), start, end, fill=255)
        self._fill(m, color, shade)

    def ring(self, cx: float, cy: float, r: float, w: float, color: Color) -> None:
        d = ImageDraw.Draw(self.img)
        s = self.f
        d.ellipse(((cx - r) * s, (cy - r) * s, (cx + r) * s, (cy + r) * s), outline=color, width=int(w * s))

    def eye(self, cx: float, cy: float, rx: float, ry: float, look: Pt = (0, 0)) -> None:
        """A cartoon eye: white with a dark rim, dark pupil and a highlight."""
        self.ellipse(cx, cy, rx + 5, ry + 5, (30, 25, 25), shade=0)
        self.ellipse(cx, cy, rx, ry, (250, 250, 245), shade=0.1)
        px, py = cx + look[0] * rx * 0.4, cy + look[1] * ry * 0.4
        self.ellipse(px, py, rx * 0.5, ry * 0.5, (25, 20, 20), shade=0)
        self.ellipse(px - rx * 0.18, py - ry * 0.2, rx * 0.15, ry * 0.15, (255, 255, 255), shade=0)

    def save(self, path: Path) -> None:
        small = self.img.resize((SIZE, SIZE), Image.Resampling.LANCZOS)
        # A 96-colour palette keeps each file small; no dithering, so flat fills stay flat.
        pal = small.quantize(colors=96, method=Image.Quantize.MEDIANCUT, dither=Image.Dither.NONE)
        pal.save(path, format="PNG", optimize=True)


Subject = tuple[str, str, str, Callable[[Painter], None]]  # (style id, stem, caption, draw function)


def catalogue() -> list[Subject]:
    sys.path.insert(0, str(HERE))
    import subjects_editorial_badge as eb  # noqa: PLC0415 - sibling script modules
    import subjects_mascot_product as mp  # noqa: PLC0415

    return [*mp.SUBJECTS, *eb.SUBJECTS]


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--only", default="", help="draw only subjects whose stem contains this text")
    ap.add_argument("--out", type=Path, default=HERE, help="root folder (default: next to this script)")
    args = ap.parse_args(argv)
    for i, (style_id, stem, caption, draw) in enumerate(catalogue()):
        if args.only and args.only not in stem:
            continue
        folder = args.out / style_id
        folder.mkdir(parents=True, exist_ok=True)
        painter = Painter(seed=SEED + i)
        draw(painter)
        painter.save(folder / f"{stem}.png")
        (folder / f"{stem}.txt").write_text(caption.strip() + "\n", encoding="utf-8")
        print(f"{style_id}/{stem}.png")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
