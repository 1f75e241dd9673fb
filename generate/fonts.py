"""Text that draws in any script: a primary font plus fallbacks, chosen character by character.

Pillow's built-in font (Aileron) has about a hundred glyphs: an accented, Thai, Chinese, Japanese or
Korean brief in a contact-sheet title came out as a row of identical boxes. :class:`FallbackFont`
keeps the built-in font for what it covers and takes each other character from the first installed
font that has it (read from the font's own character map with fontTools), in this order:

* DejaVu Sans (Latin, Greek, Cyrillic, symbols) — Debian ``fonts-dejavu-core``;
* Noto Sans CJK, WenQuanYi Micro Hei, Droid Sans Fallback (Chinese, Japanese, Korean) — Debian
  ``fonts-noto-cjk``, ``fonts-wqy-microhei`` (what ``.ci/run`` installs), ``fonts-droid-fallback``;
* Noto Sans Thai, Loma, Garuda (Thai) — ``fonts-noto-core``, ``fonts-tlwg-loma-ttf`` (installed by
  ``.ci/run``), ``fonts-tlwg-garuda-ttf``.

Fonts are looked up by file name under the usual font folders (``/usr/share/fonts``,
``/usr/local/share/fonts``, ``~/.local/share/fonts``, ``~/.fonts``). A combining mark (a Thai vowel or
tone mark, an accent) stays in the font of the character it sits on, so it is shaped with it. A
character no installed font has is drawn by the primary font (as its box), and one warning names
the packages to install.
"""

from __future__ import annotations

import functools
import io
import logging
import os
import threading
import unicodedata
from pathlib import Path

from PIL import ImageDraw, ImageFont

__all__ = ["FallbackFont", "FALLBACK_FONT_FILES", "font_dirs"]

log = logging.getLogger("sketchgen.generate")

FALLBACK_FONT_FILES = (
    "DejaVuSans.ttf",
    "NotoSansCJK-Regular.ttc",
    "wqy-microhei.ttc",
    "DroidSansFallbackFull.ttf",
    "NotoSansThai-Regular.ttf",
    "Loma.ttf",
    "Garuda.ttf",
)
_WARNED: set[str] = set()
_LOCK = threading.Lock()


def font_dirs() -> list[Path]:
    """The folders searched for fallback fonts, in order."""
    home = Path.home()
    dirs = [
        Path("/usr/share/fonts"),
        Path("/usr/local/share/fonts"),
        home / ".local/share/fonts",
        home / ".fonts",
    ]
    return [d for d in dirs if d.is_dir()]


@functools.lru_cache(maxsize=1)
def _fallback_paths() -> tuple[Path, ...]:
    """The installed fallback fonts, in :data:`FALLBACK_FONT_FILES` order (one walk, cached)."""
    found: dict[str, Path] = {}
    wanted = set(FALLBACK_FONT_FILES)
    for root in font_dirs():
        for folder, _, files in os.walk(root):
            for name in wanted.intersection(files):
                found.setdefault(name, Path(folder) / name)
    return tuple(found[name] for name in FALLBACK_FONT_FILES if name in found)


@functools.lru_cache(maxsize=16)
def _coverage(source: str | bytes) -> frozenset[int]:
    """The code points a font file (path, or the font's bytes) has glyphs for."""
    from fontTools.ttLib import TTFont

    try:
        font = TTFont(io.BytesIO(source) if isinstance(source, bytes) else source, fontNumber=0, lazy=True)
        return frozenset(font.getBestCmap() or {})
    except Exception as exc:  # noqa: BLE001 - a broken font file is skipped, never fatal
        log.warning("font %s skipped: %s", source if isinstance(source, str) else "(built-in)", exc)
        return frozenset()


class FallbackFont:
    """A font of ``size`` pixels that draws each character with the first font that has it."""

    def __init__(self, size: int) -> None:
        self.size = size
        self.primary = ImageFont.load_default(size=size)
        primary_bytes = getattr(self.primary, "font_bytes", None)
        self._fonts: list[tuple[ImageFont.FreeTypeFont, frozenset[int]]] = [
            (self.primary, _coverage(primary_bytes) if primary_bytes else frozenset(range(32, 127)))
        ]
        self._paths = list(_fallback_paths())  # opened on first need: most text is ASCII

    def _font_for(self, char: str) -> ImageFont.FreeTypeFont | None:
        code = ord(char)
        for font, covered in self._fonts:
            if code in covered:
                return font
        while self._paths:  # open the next fallback only when a character needs it
            path = self._paths.pop(0)
            covered = _coverage(str(path))
            if not covered:
                continue
            font = ImageFont.truetype(str(path), self.size)
            self._fonts.append((font, covered))
            if code in covered:
                return font
        return None

    def runs(self, text: str) -> list[tuple[str, ImageFont.FreeTypeFont]]:
        """``text`` split into (piece, font) runs; a combining mark stays with its base character."""
        out: list[tuple[str, ImageFont.FreeTypeFont]] = []
        missing: list[str] = []
        for char in text:
            if out and (unicodedata.combining(char) or unicodedata.category(char) in ("Mn", "Me", "Cf")):
                out[-1] = (out[-1][0] + char, out[-1][1])
                continue
            font = self._font_for(char) if not char.isspace() else (out[-1][1] if out else self.primary)
            if font is None:
                missing.append(char)
                font = self.primary
            if out and out[-1][1] is font:
                out[-1] = (out[-1][0] + char, font)
            else:
                out.append((char, font))
        if missing:
            _warn_missing(missing)
        return out

    def length(self, draw: ImageDraw.ImageDraw, text: str) -> float:
        """Width of ``text`` in pixels, as :meth:`draw_text` draws it."""
        return sum(draw.textlength(piece, font=font) for piece, font in self.runs(text))

    def draw_text(self, draw: ImageDraw.ImageDraw, xy: tuple[float, float], text: str, fill) -> None:
        """Draw ``text`` with its top-left at ``xy``; every run sits on the primary font's baseline."""
        x, y = xy
        baseline = y + self.primary.getmetrics()[0]
        for piece, font in self.runs(text):
            draw.text((x, baseline), piece, fill=fill, font=font, anchor="ls")
            x += draw.textlength(piece, font=font)


def _warn_missing(chars: list[str]) -> None:
    sample = "".join(dict.fromkeys(chars))[:8]
    with _LOCK:
        if sample in _WARNED:
            return
        _WARNED.add(sample)
    log.warning(
        "no installed font draws %r; install fonts-wqy-microhei (Chinese, Japanese, Korean) or "
        "fonts-tlwg-loma-ttf (Thai) so they are not drawn as boxes",
        sample,
    )
