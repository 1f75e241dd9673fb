"""Pydantic validation errors as a person would write them: ``-n must be between 3 and 6``.

pydantic's own texts ("Input should be less than or equal to 6", "Value error, ...") name neither
the option nor the allowed range. :func:`human_message` rewrites the common error types using the
error's context and, where given, the field's declared bounds; anything else keeps pydantic's text
after the label. Used by ``RunRequest.parse`` (CLI and library) and the HTTP service's 422 bodies.
"""

from __future__ import annotations

from typing import Any

__all__ = ["human_message", "field_bounds"]

_TYPES = {
    "string_type": "text",
    "list_type": "a list",
    "tuple_type": "a pair of numbers",
    "float_type": "a number",
    "float_parsing": "a number",
    "dict_type": "an object",
}


def field_bounds(model: Any, field: str) -> tuple[Any, Any]:
    """The (lower, upper) inclusive bounds a pydantic model declares for ``field`` (None if absent)."""
    info = getattr(model, "model_fields", {}).get(field)
    low = high = None
    for meta in getattr(info, "metadata", ()):
        low = getattr(meta, "ge", low)
        high = getattr(meta, "le", high)
    return low, high


def _range(label: str, low: Any, high: Any) -> str | None:
    if low is not None and high is not None:
        return f"{label} must be between {low} and {high}"
    if low is not None:
        return f"{label} must be at least {low}"
    if high is not None:
        return f"{label} must be at most {high}"
    return None


def human_message(err: dict[str, Any], label: str, bounds: tuple[Any, Any] = (None, None)) -> str:
    """One line for one pydantic error dict (``exc.errors()[i]``), naming ``label``."""
    kind = str(err.get("type", ""))
    ctx = err.get("ctx") or {}
    given = err.get("input")
    low, high = bounds
    if kind in ("greater_than", "less_than"):  # exclusive bounds: "at least"/"at most" would be wrong
        word, bound = ("more than", ctx.get("gt")) if kind == "greater_than" else ("less than", ctx.get("lt"))
        if bound is not None:
            text = (
                f"{label} must be {word} {bound:g}"
                if isinstance(bound, float)
                else f"{label} must be {word} {bound}"
            )
            return f"{text} (got {given})" if given is not None else text
    if kind in ("greater_than_equal", "less_than_equal", "greater_than", "less_than"):
        low = ctx.get("ge", low) if low is None or kind == "greater_than_equal" else low
        high = ctx.get("le", high) if high is None or kind == "less_than_equal" else high
        text = _range(label, low, high)
        if text:
            return f"{text} (got {given})" if given is not None else text
    if kind in ("int_parsing", "int_type", "int_from_float"):
        within = f" between {low} and {high}" if low is not None and high is not None else ""
        return f"{label} must be a whole number{within}"
    if kind in ("bool_parsing", "bool_type"):
        return f"{label} must be true or false"
    if kind == "string_too_long":
        return f"{label} must be at most {ctx.get('max_length')} characters (got {len(str(given))})"
    if kind == "string_too_short":
        least = ctx.get("min_length")
        return f"{label} must not be empty" if least == 1 else f"{label} must be at least {least} characters"
    if kind == "string_pattern_mismatch":
        return f"{label} has the wrong form ({given!r})"
    if kind == "literal_error":  # one of a fixed set: name them ("'a', 'b' or 'c'", as pydantic's ctx has)
        return f"{label} must be {ctx.get('expected', 'one of the allowed values')} (got {given!r})"
    if kind == "missing":
        return f"{label} is required"
    if kind == "extra_forbidden":
        return f"unknown field {label}"
    if kind in _TYPES:
        return f"{label} must be {_TYPES[kind]}"
    if kind == "value_error":
        message = str(ctx.get("error") or err.get("msg", "")).removeprefix("Value error, ")
        if message.startswith("must "):  # validators say what is wrong; the label says where
            return f"{label} {message}"
        return message if label.strip("-").lower() in message.lower() else f"{label}: {message}"
    return f"{label}: {err.get('msg', 'invalid')}"
