"""PromptCompiler: brief + style -> PromptSpec, deterministically (templates, no network).

``prompt_text`` is one user-turn text (no system instruction: ``gemini-2.5-flash-image`` rejects
``systemInstruction``, so every rule lives in the user text), in this order: task, subject, style,
the global sketch rules, the avoid-list, context, output requirements. The per-sketch variation
block is appended later by :func:`prompt.variation.plan_variations`.

Token estimate: ``ceil(characters / 4)``. Google's Gemini docs give "a token is about 4 characters"
for English; prompts here are English prose and bullet lists, so this is close enough to budget by
and needs no tokenizer or network call (``client.models.count_tokens`` would be exact but costs a
request). It over-counts slightly for plain words and under-counts for unusual scripts.

Token budget: default :data:`DEFAULT_TOKEN_BUDGET` = 1200 tokens, overridable by the constructor or
``$SKETCHGEN_PROMPT_TOKEN_BUDGET``. This is a judgement call, not a published limit: Nano Banana Pro
(``gemini-3-pro-image-preview``) accepts far longer input (tens of thousands of tokens), but image
prompts follow a focused paragraph better than pages of text, and every extra rule competes for the
model's attention. Our fixed scaffold (global rules + a built-in style + output block) is about
450-600 tokens, so 1200 leaves roughly 500 words for the brief and context. Over budget, context
notes are dropped from the end first, then the brief is cut at a word boundary; both warn
(:class:`PromptTrimmedWarning` plus a log line) and set ``spec.trimmed``. The rules are never trimmed.
"""

from __future__ import annotations

import logging
import math
import os
import re
import warnings
from collections.abc import Callable, Sequence

from generate.adapter import PromptParts
from generate.errors import ConfigError
from prompt.spec import PromptSpec
from style.models import GLOBAL_NEGATIVE_RULES, GLOBAL_SKETCH_RULES, Style

__all__ = [
    "PromptCompiler",
    "PromptTrimmedWarning",
    "estimate_tokens",
    "asks_for_lettering",
    "DEFAULT_TOKEN_BUDGET",
    "TOKEN_BUDGET_ENV",
    "ONE_SKETCH_RULE",
    "prompt_parts",
]

logger = logging.getLogger(__name__)

# The output rule sheet mode (generate.sheet) swaps for its grid.
ONE_SKETCH_RULE = "a single image containing exactly one sketch: no grids, panels or sheets of variations"
DEFAULT_TOKEN_BUDGET = 1200
MIN_TOKEN_BUDGET = 256
TOKEN_BUDGET_ENV = "SKETCHGEN_PROMPT_TOKEN_BUDGET"
COMPILER_NAME = "template-v1"
# However long the style's rules, the brief keeps at least this much (~50 words) when trimmed.
_MIN_BRIEF_TOKENS = 64

_LETTERING_NOTE = "The brief asks for lettering"  # how the compiler's own context note starts
_TYPOGRAPHY_RULE = GLOBAL_NEGATIVE_RULES[-1]  # "no typography, lettering or logos unless ..."
_LETTERING_RE = re.compile(
    r"\b(text|lettering|lettered|letters?|typography|typographic|typeface|fonts?|wordmarks?|word mark|"
    r"logotypes?|logos?|monograms?|initials|slogans?|taglines?|headlines?|captions?|signage|"
    r"type treatment|hand[- ]lettered|calligraphy)\b"
    r"|\b(that|which) (says|reads)\b|\bwith the (words?|name|text)\b"
    r'|"[^"]+"|“[^”]+”',
    re.IGNORECASE,
)
# Request lead-ins stripped from the subject phrase ("please draw me a ...", "a rough sketch of ...").
_LEAD_IN_RE = re.compile(
    r"^(please\s+)?((can|could|would)\s+you\s+)?(please\s+)?"
    r"((draw|sketch|design|create|make|generate)\s+((me|us)\s+)?"
    r"(?=(an?|the|some|one|two|three|\d+|rough|quick|loose|concept|sketch(es)?)\b))?",
    re.IGNORECASE,
)
_SKETCH_OF_RE = re.compile(
    r"^((an?|one|some|\d+)\s+)?((rough|quick|loose|concept)\s+)*(sketch(es)?|concepts?|drawings?)\s+(of|for)\s+",
    re.IGNORECASE,
)
_QUOTED_RE = re.compile(r'"([^"]+)"|“([^”]+)”')
_WORD_RE = re.compile(r"[a-z0-9]+(?:['’-][a-z0-9]+)*")
_STOPWORDS = frozenset(
    """a about above after again against all am an and any are as at be because been before being
    below between both but by can could did do does doing down during each few for from further had
    has have having he her here hers him his how i if in into is it its itself just me more most my
    no nor not now of off on once only or other our ours out over own same she should so some such
    than that the their theirs them then there these they this those through to too under until up
    us very was we were what when where which while who whom why will with would you your yours
    please want need like make made create draw drawing sketch sketches concept concepts design
    designs idea ideas rough quick one two three four five six some something kind sort really""".split()
)


class PromptTrimmedWarning(UserWarning):
    """The brief or context did not fit the token budget and was shortened."""


def estimate_tokens(text: str) -> int:
    """Approximate Gemini tokens in ``text``: ceil(characters / 4) (see the module docstring)."""
    return math.ceil(len(text) / 4)


def asks_for_lettering(brief: str) -> bool:
    """True when the brief asks for text, lettering, typography, a logo/wordmark or quoted words."""
    return bool(_LETTERING_RE.search(brief))


def _clean(text: str) -> str:
    """Collapse whitespace and drop control characters."""
    text = "".join(ch if ch.isprintable() or ch.isspace() else " " for ch in text)
    return " ".join(text.split())


def _subject_terms(text: str) -> list[str]:
    seen: dict[str, None] = {}
    for word in _WORD_RE.findall(text.lower()):
        word = re.sub(r"['’]s$", "", word)
        if word not in _STOPWORDS and not word.isdigit() and len(word) > 1:
            seen.setdefault(word, None)
    return list(seen)


def _subject_phrase(intent: str) -> str:
    """Strip a request lead-in ("please draw me a sketch of ...") and trailing punctuation."""
    phrase = _SKETCH_OF_RE.sub("", _LEAD_IN_RE.sub("", intent, count=1).strip(), count=1).strip()
    return phrase.rstrip(" .!?;:,") or intent


def prompt_parts(spec: PromptSpec, style_name: str | None = None, *, instruction: str = "") -> PromptParts:
    """The pieces of ``spec``'s prompt, for a model that builds its own short prompt from them.

    The global sketch and avoid rules are left out (every model knows them; a short-prompt model
    words them its own way); ``style_name`` is the style's display name (default: its id, spaced);
    ``instruction`` is a refine or vary run's "what to change".
    """
    globals_first = tuple(spec.visual_rules[: len(GLOBAL_SKETCH_RULES)]) == GLOBAL_SKETCH_RULES
    style_rules = spec.visual_rules[len(GLOBAL_SKETCH_RULES) :] if globals_first else spec.visual_rules
    return PromptParts(
        subject=_subject_phrase(spec.intent).removesuffix("…").rstrip(" ,;:"),
        subject_terms=tuple(spec.subject_terms),
        style_name=style_name or spec.style_id.replace("-", " "),
        style_rules=tuple(style_rules),
        negatives=tuple(r for r in spec.negative_constraints if r not in GLOBAL_NEGATIVE_RULES),
        # The compiler's lettering note is an instruction for Gemini; ``lettering`` carries it here.
        notes=tuple(n for n in spec.context_notes if not n.startswith(_LETTERING_NOTE)),
        lettering=asks_for_lettering(spec.brief),
        instruction=" ".join(instruction.split()),
    )


def _trim_words(text: str, n_words: int) -> str:
    words = text.split(" ")
    return text if n_words >= len(words) else " ".join(words[:n_words]).rstrip(" ,;:") + " …"


def _fit_brief(brief: str, fits: Callable[[str], bool]) -> str:
    """The longest word-prefix of ``brief`` (marked with " …") for which ``fits`` holds.

    Never shorter than about ``_MIN_BRIEF_TOKENS`` (the prompt may then exceed the budget, which the
    caller logs): a prompt without its subject is worse than a long one. A single giant "word" is cut
    by characters, since it has no word boundary to cut at.
    """
    words = brief.split(" ")
    lo, hi = 0, len(words)  # bisection for the largest word count that fits
    while lo < hi:
        mid = (lo + hi + 1) // 2
        if fits(_trim_words(brief, mid)):
            lo = mid
        else:
            hi = mid - 1
    best = _trim_words(brief, lo) if lo else ""
    limit = _MIN_BRIEF_TOKENS * 4
    if len(best) >= min(limit, len(brief)):
        return best
    if len(brief) <= limit:
        return brief
    head = brief[:limit]
    head = head.rsplit(" ", 1)[0] if " " in head else head
    return head.rstrip(" ,;:") + " …"


def _context_notes(context: str | Sequence[str] | None) -> list[str]:
    if context is None:
        return []
    items = [context] if isinstance(context, str) else context
    notes = []
    for item in items:
        if not isinstance(item, str):
            raise ConfigError(
                f"context must be text or a list of texts (got {type(item).__name__})", field="context"
            )
        if cleaned := _clean(item):
            notes.append(cleaned)
    return notes


def _budget_from_env() -> int | None:
    raw = os.environ.get(TOKEN_BUDGET_ENV, "").strip()
    if not raw:
        return None
    try:
        return int(raw)
    except ValueError:
        raise ConfigError(
            f"${TOKEN_BUDGET_ENV} must be a whole number (got {raw!r})", field="token_budget"
        ) from None


class PromptCompiler:
    """Compile a brief for a style. Stateless apart from the token budget; safe to share."""

    name = COMPILER_NAME

    def __init__(self, token_budget: int | None = None) -> None:
        budget = token_budget if token_budget is not None else _budget_from_env()
        budget = DEFAULT_TOKEN_BUDGET if budget is None else budget
        if isinstance(budget, bool) or not isinstance(budget, int) or budget < MIN_TOKEN_BUDGET:
            raise ConfigError(
                f"token_budget must be a whole number of at least {MIN_TOKEN_BUDGET} (got {budget!r})",
                field="token_budget",
            )
        self.token_budget = budget

    def compile(self, brief: str, style: Style, *, context: str | Sequence[str] | None = None) -> PromptSpec:
        """Turn ``brief`` into a :class:`PromptSpec` for ``style``. Same inputs, same spec.

        Raises ConfigError(field="brief") for an empty brief, (field="context") for a non-text note.
        Warns with :class:`PromptTrimmedWarning` when anything had to be trimmed to fit the budget.
        """
        if not isinstance(brief, str) or not _clean(brief):
            raise ConfigError(
                "the brief is empty: describe what to sketch, e.g. 'playful golf mascot'", field="brief"
            )
        if not isinstance(style, Style):
            raise ConfigError("style must be a Style (use StyleRegistry().get_style(id))", field="style_id")
        full_brief = _clean(brief)
        notes = _context_notes(context)
        lettering = asks_for_lettering(full_brief)
        negatives = list(GLOBAL_NEGATIVE_RULES) + list(style.negative_rules)
        if lettering:
            # The brief wins over "no typography": drop that rule and any style rule against lettering.
            negatives = [r for r in negatives if r == _TYPOGRAPHY_RULE or not _LETTERING_RE.search(r)]
            negatives.remove(_TYPOGRAPHY_RULE)
            note = (
                f"{_LETTERING_NOTE}, so the 'no typography' rule is lifted: draw only the "
                "requested lettering, as rough hand-drawn letterforms."
            )
            quoted = [a or b for a, b in _QUOTED_RE.findall(full_brief)]
            if quoted:
                note += " Spell it exactly: " + "; ".join(f'"{q.strip()}"' for q in quoted) + "."
            notes.append(note)
        visual_rules = list(GLOBAL_SKETCH_RULES) + list(style.visual_rules)

        def build(intent: str, kept_notes: list[str]) -> tuple[str, str]:
            refined = self._refined_intent(intent, style)
            terms = _subject_terms(intent)
            return refined, self._render(
                refined, terms, style, visual_rules, negatives, kept_notes, lettering
            )

        # 1. Fit the budget: drop context notes from the end, then cut the brief by words.
        intent, kept = full_brief, list(notes)
        trimmed_what: list[str] = []
        refined, text = build(intent, kept)
        while estimate_tokens(text) > self.token_budget and len(kept) > (1 if lettering else 0):
            # The lettering note (always last) explains a dropped rule, so it stays.
            kept.pop(-2 if lettering else -1)
            refined, text = build(intent, kept)
            trimmed_what = ["context notes"]
        if estimate_tokens(text) > self.token_budget:
            intent = _fit_brief(
                full_brief, lambda cut: estimate_tokens(build(cut, kept)[1]) <= self.token_budget
            )
            refined, text = build(intent, kept)
            if intent != full_brief:
                trimmed_what.append("brief")
        trimmed = bool(trimmed_what)
        estimate = estimate_tokens(text)
        if trimmed:
            message = (
                f"prompt over the {self.token_budget}-token budget: trimmed the {' and '.join(trimmed_what)} "
                f"(brief kept {len(intent)} of {len(full_brief)} characters; now ~{estimate} tokens)"
            )
            logger.warning(message, extra={"also_warned": True})  # the CLI shows the warning only
            warnings.warn(PromptTrimmedWarning(message), stacklevel=2)
        if estimate > self.token_budget:
            logger.warning(
                "style %r alone needs ~%d tokens, over the %d budget", style.id, estimate, self.token_budget
            )

        return PromptSpec(
            brief=brief,
            intent=intent,
            refined_intent=refined,
            subject_terms=_subject_terms(intent),
            style_id=style.id,
            visual_rules=visual_rules,
            negative_constraints=negatives,
            context_notes=kept,
            compiler=self.name,
            token_estimate=estimate,
            token_budget=self.token_budget,
            trimmed=trimmed,
            prompt_text=text,
        )

    @staticmethod
    def _refined_intent(intent: str, style: Style) -> str:
        return (
            f"Draw one rough concept sketch of: {_subject_phrase(intent)}, in the {style.name} house style. "
            "Treat it as a quick, loose starting point that a designer will draw over, not finished art."
        )

    @staticmethod
    def _render(
        refined: str,
        terms: list[str],
        style: Style,
        visual_rules: list[str],
        negatives: list[str],
        notes: list[str],
        lettering: bool,
    ) -> str:
        def bullets(items: Sequence[str]) -> str:
            return "\n".join(f"- {item}" for item in items)

        style_rules = visual_rules[len(GLOBAL_SKETCH_RULES) :]
        sections = [f"TASK\n{refined}"]
        if terms:
            sections.append(f"SUBJECT (key terms)\n{', '.join(terms)}")
        style_block = f"STYLE: {style.name}\n{style.description}"
        if style_rules:
            style_block += "\n" + bullets(style_rules)
        sections.append(style_block)
        sections.append("SKETCH RULES (always)\n" + bullets(GLOBAL_SKETCH_RULES))
        sections.append("AVOID\n" + bullets(negatives))
        if notes:
            sections.append("CONTEXT\n" + bullets(notes))
        extras = (
            "only the lettering the brief asks for; no captions, labels, signatures or watermarks"
            if lettering
            else "no captions, labels, signatures or watermarks"
        )
        sections.append(
            "OUTPUT\n"
            + bullets(
                [
                    ONE_SKETCH_RULE,
                    "plain, clean white background with nothing else on the page",
                    "grayscale only: dark pencil or ink lines on white, light gray tone at most",
                    extras,
                ]
            )
        )
        return "\n\n".join(sections)
