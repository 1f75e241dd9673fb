"""StyleRegistry: finds, validates and caches house styles.

Where styles come from, in order (a later source overrides an earlier one by ``id``):

1. the built-in styles shipped in ``style/builtin/*.toml``;
2. user styles: every ``*.toml`` in ``styles_dir`` (constructor argument) or, when that is not given,
   in the folder named by ``$SKETCHGEN_STYLES_DIR``.

The ``id`` field inside the file is authoritative; a file whose stem differs from its ``id`` is
loaded anyway and a warning is logged (``vintage-mascot-v2.toml`` may well mean to override
``vintage-mascot``). Two files in the *same* folder with one ``id`` are an error, because which one
wins would depend on file names.

:func:`load_style_file` raises :class:`generate.errors.StyleError` with one line that names the
file and every bad field, e.g. ``styles/foo.toml: field 'num_images': must be between 3 and 6 (got 9)``.
In the registry a broken *user* file (or two user files sharing an ``id``) is skipped with one
:class:`StyleFileWarning` listing all its problems, so the other styles keep working; asking for
that style by id raises the StyleError. A broken built-in file is a packaging bug and raises.
Loading happens on first use and is cached; :meth:`StyleRegistry.reload` re-reads.
"""

from __future__ import annotations

import difflib
import logging
import os
import threading
import tomllib
import warnings
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from generate.errors import ConfigError, StyleError
from style.models import Style

__all__ = ["StyleRegistry", "StyleFileWarning", "load_style_file", "BUILTIN_STYLES_DIR", "STYLES_DIR_ENV"]

logger = logging.getLogger(__name__)

BUILTIN_STYLES_DIR = Path(__file__).resolve().parent / "builtin"
STYLES_DIR_ENV = "SKETCHGEN_STYLES_DIR"

# Friendlier wording for the pydantic error types a hand-edited style file most often hits.
_ID_HINT = "must be 1-64 lower-case letters, digits or hyphens, starting with a letter or digit"
_PATTERN_HINTS = {
    "id": _ID_HINT,
    "aspect_ratio": "must look like 'W:H', e.g. '1:1', '4:3' or '16:9'",
}


def _display(path: Path) -> str:
    """The path as a user would type it: relative to the working folder when it lies below it."""
    try:
        return str(path.resolve().relative_to(Path.cwd().resolve()))
    except ValueError:
        return str(path)


def _field_name(loc: tuple[Any, ...]) -> str:
    """``('visual_rules', 2)`` -> ``visual_rules[2]``."""
    name = ""
    for part in loc:
        if isinstance(part, int):
            name += f"[{part}]"
        else:
            name += f".{part}" if name else str(part)
    return name or "<file>"


def _short(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


def _describe_error(err: dict[str, Any]) -> str:
    """One pydantic error -> a short, lower-case explanation (no pydantic URLs, no newlines)."""
    kind = err.get("type", "")
    field = str(err["loc"][0]) if err.get("loc") else ""
    ctx = err.get("ctx") or {}
    got = f" (got {_short(err.get('input'))})" if "input" in err and kind != "missing" else ""
    if kind == "missing":
        return "is required but missing"
    if kind == "extra_forbidden":
        known = ", ".join(f for f in Style.model_fields if f != "source")
        return f"is not a known style field (known: {known})"
    if field == "num_images" and kind in ("greater_than_equal", "less_than_equal"):
        # Read the bounds from the model so the message cannot drift from the rule.
        meta = Style.model_fields["num_images"].metadata
        lo = next(m.ge for m in meta if hasattr(m, "ge"))
        hi = next(m.le for m in meta if hasattr(m, "le"))
        return f"must be between {lo} and {hi}{got}"
    if kind == "string_pattern_mismatch" and field in _PATTERN_HINTS:
        return f"{_PATTERN_HINTS[field]}{got}"
    if kind == "string_too_short" and ctx.get("min_length") == 1:
        return f"must not be empty{got}"
    message = str(err.get("msg", "is invalid")).replace("\n", " ")
    if message.startswith("Value error, "):
        message = message[len("Value error, ") :]
    return f"{message[:1].lower()}{message[1:]}{got}"


def _known_layouts() -> set[str] | None:
    # Imported lazily: prompt depends on style, not the other way round.
    try:
        from prompt.variation import LAYOUTS
    except ImportError:  # pragma: no cover - only while the tree is half-built
        return None
    return set(LAYOUTS)


def load_style_file(path: str | os.PathLike[str]) -> Style:
    """Read and validate one style file; relative ``reference_dirs`` become absolute Paths.

    Raises :class:`StyleError` (``field`` set to the offending field where there is one) for an
    unreadable file, a TOML syntax error (with its line and column), or a validation failure.
    """
    path = Path(path)
    shown = _display(path)
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise StyleError(f"{shown}: cannot read style file: {exc.strerror or exc}", field="style") from None
    try:
        data = tomllib.loads(raw.decode("utf-8"))
    except UnicodeDecodeError:
        raise StyleError(f"{shown}: style file is not UTF-8 text", field="style") from None
    except tomllib.TOMLDecodeError as exc:
        # tomllib's message already ends with "(at line L, column C)".
        raise StyleError(f"{shown}: TOML syntax error: {exc}", field="style") from None
    if "source" in data:
        raise StyleError(f"{shown}: field 'source': is set by the registry, remove it", field="source")
    try:
        style = Style.model_validate(data)
    except ValidationError as exc:
        errors = exc.errors(include_url=False)
        first = errors[0]
        problems = "; ".join(
            f"field '{_field_name(tuple(err.get('loc', ())))}': {_describe_error(err)}" for err in errors
        )
        top = str(first["loc"][0]) if first.get("loc") else "style"
        raise StyleError(f"{shown}: {problems}", field=top) from None

    known = _known_layouts()
    if known is not None and style.layouts:
        for i, name in enumerate(style.layouts):
            if name not in known:
                hint = difflib.get_close_matches(name, sorted(known), n=1)
                suggestion = f"; did you mean '{hint[0]}'?" if hint else ""
                raise StyleError(
                    f"{shown}: field 'layouts[{i}]': unknown layout {name!r} "
                    f"(known: {', '.join(sorted(known))}){suggestion}",
                    field="layouts",
                )

    base = path.resolve().parent
    ref_dirs = [(base / p.expanduser()).resolve() for p in style.reference_dirs]
    if style.id != path.stem:
        logger.warning("%s: style id %r differs from the file name; the id wins", shown, style.id)
    return style.model_copy(update={"reference_dirs": ref_dirs, "source": path.resolve()})


class StyleFileWarning(UserWarning):
    """A user style file was skipped; the message names the file and every problem in it."""


def _load_folder(folder: Path, skipped: dict[str, StyleError] | None = None) -> dict[str, Style]:
    """Every style in ``folder``. With ``skipped`` (user folders), a broken file is left out and its
    error recorded there by file stem, instead of stopping the whole registry; without it (the
    built-ins, which ship with the package), the first broken file raises."""
    styles: dict[str, Style] = {}
    duplicates: dict[str, list[Path]] = {}
    for file in sorted(folder.glob("*.toml")):
        try:
            style = load_style_file(file)
        except StyleError as exc:
            if skipped is None:
                raise
            skipped[file.stem] = exc
            continue
        if style.id in styles or style.id in duplicates:
            first = styles.pop(style.id, None)
            duplicates.setdefault(style.id, [first.source] if first is not None else []).append(file)
            continue
        styles[style.id] = style
    for style_id, files in duplicates.items():  # which one wins would depend on file names: neither
        names = ", ".join(_display(f) for f in files)
        error = StyleError(f"{names}: field 'id': {style_id!r} is defined by each of them", field="id")
        if skipped is None:
            raise error
        for file in files:
            skipped[file.stem] = error
        skipped[style_id] = error
    return styles


class StyleRegistry:
    """All styles available to a run: built-ins overridden by user styles with the same ``id``.

    ``styles_dir``: a folder of ``*.toml`` user styles. When None, ``$SKETCHGEN_STYLES_DIR`` is read at
    load time (unset or empty means built-ins only). A configured folder that does not exist is a
    :class:`ConfigError` (``field="styles_dir"``), not silently "no user styles".
    Thread-safe; the first call to :meth:`get_style` / :meth:`list_styles` loads everything.
    """

    def __init__(self, styles_dir: str | os.PathLike[str] | None = None) -> None:
        self._styles_dir = Path(styles_dir).expanduser() if styles_dir is not None else None
        self._styles: dict[str, Style] | None = None
        self._skipped: dict[str, StyleError] = {}
        self._lock = threading.Lock()

    @property
    def user_styles_dir(self) -> Path | None:
        """The user folder that will be (or was) read, or None for built-ins only."""
        if self._styles_dir is not None:
            return self._styles_dir
        env = os.environ.get(STYLES_DIR_ENV, "").strip()
        return Path(env).expanduser() if env else None

    def _load(self) -> dict[str, Style]:
        with self._lock:
            if self._styles is None:
                styles = _load_folder(BUILTIN_STYLES_DIR)
                user_dir = self.user_styles_dir
                if user_dir is not None:
                    if not user_dir.is_dir():
                        origin = "styles_dir" if self._styles_dir is not None else f"${STYLES_DIR_ENV}"
                        raise ConfigError(
                            f"{origin} {str(user_dir)!r} is not a folder of *.toml style files",
                            field="styles_dir",
                        )
                    skipped: dict[str, StyleError] = {}
                    for style_id, style in _load_folder(user_dir, skipped).items():
                        if style_id in styles:
                            logger.info("user style %s overrides the built-in %r", style.source, style_id)
                        styles[style_id] = style
                    for error in dict.fromkeys(skipped.values()):
                        # Logged and warned, as the prompt compiler does for a trimmed prompt; the
                        # CLI prints the warning and drops the log line marked also_warned.
                        logger.warning("style file skipped: %s", error, extra={"also_warned": True})
                        warnings.warn(StyleFileWarning(f"style file skipped: {error}"), stacklevel=4)
                    self._skipped = skipped
                self._styles = dict(sorted(styles.items()))
            return self._styles

    @property
    def skipped(self) -> dict[str, str]:
        """User style files left out because they are broken: file stem -> every problem, one line."""
        self._load()
        return {stem: str(error) for stem, error in self._skipped.items()}

    def reload(self) -> None:
        """Forget the cache; the next lookup re-reads every file (and ``$SKETCHGEN_STYLES_DIR``)."""
        with self._lock:
            self._styles = None
            self._skipped = {}

    def ids(self) -> list[str]:
        """Known style ids, sorted."""
        return list(self._load())

    def get_style(self, style_id: str) -> Style:
        """The style with this id; unknown ids raise ConfigError(field="style_id") listing the known ones."""
        styles = self._load()
        if isinstance(style_id, str) and style_id in styles:
            return styles[style_id]
        if isinstance(style_id, str) and style_id in self._skipped:  # asked for by name: say why not
            raise StyleError(f"style {style_id!r} is unusable: {self._skipped[style_id]}", field="style_id")
        known = list(styles)
        near = difflib.get_close_matches(str(style_id), known, n=1, cutoff=0.5)
        hint = f" Did you mean '{near[0]}'?" if near else ""
        raise ConfigError(
            f"unknown style {style_id!r}; known styles: {', '.join(known)}.{hint}",
            field="style_id",
        )

    def list_styles(self) -> list[Style]:
        """Every style, sorted by id."""
        return list(self._load().values())

    def __contains__(self, style_id: object) -> bool:
        return style_id in self._load()

    def __len__(self) -> int:
        return len(self._load())
