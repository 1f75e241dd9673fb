"""Budget caps: a run's worst-case cost, checked before any call.

What "worst case" counts, for a run of N sketches: the adapter's own ``estimate_cost`` of each of
the N calls as they will be sent (image price + prompt + references + any history, at the
catalog's price), summed. Retries are *not* counted: most errors the generator retries (429, 5xx,
dropped connections, blocked answers) are not billed by the Gemini API ("You will not be charged
for blocked images"; a refused request has no usage). An image-less answer (``NO_IMAGE``,
``IMAGE_OTHER``) still bills its prompt and thinking tokens, well below an image's price; it is not
in the worst case, but the run records it in the sketch's ``cost_usd`` (see
:meth:`generate.run_state.RunState.charge`), so recorded spend and the daily budget count it. The
other case the estimate does not cover is a call that our client timed out while the server went on
and finished it; that is rare and bounded by one extra image per timed-out attempt.

The estimate is computed twice, and the second is never above the first:

* :func:`planned_worst_case` in :meth:`SketchPipeline.validate`, before retrieval, assumes every
  call carries as many references as the model takes (up to ``top_k`` + the designer's own), so
  the HTTP service can answer 422 before anything is written;
* :func:`worst_case_cost` in :class:`ImageGenerator`, over the exact requests, just before the
  first call (the guard for library users who call the generator directly).
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path
from typing import Annotated, Any

from pydantic import AfterValidator, BeforeValidator

from generate.adapter import ImageModelAdapter, ImageRequest
from generate.errors import ConfigError

__all__ = ["BudgetExceeded", "worst_case_cost", "planned_worst_case", "check_cost", "not_a_flag"]


class BudgetExceeded(ConfigError):
    """A run (or a batch row) whose worst-case estimate is over its cap; ``field`` is ``max_cost_usd``."""

    def __init__(self, message: str, *, estimate_usd: float, cap_usd: float) -> None:
        super().__init__(message, field="max_cost_usd")
        self.estimate_usd = estimate_usd
        self.cap_usd = cap_usd


def worst_case_cost(adapter: ImageModelAdapter, requests: Iterable[ImageRequest]) -> float:
    """The sum of ``adapter.estimate_cost`` over the calls of a run (see the module docstring)."""
    return round(sum(adapter.estimate_cost(r) for r in requests), 6)


def planned_worst_case(
    adapter: ImageModelAdapter,
    config: Any,
    *,
    references: int,
    input_images: tuple[Path, ...] = (),
) -> float:
    """Worst case of a run not yet planned: ``config.num_images`` calls (one for a sheet, whatever
    its cell count), each with ``references`` style references (capped at what the model takes
    beside ``input_images``)."""
    cap = max(0, adapter.capabilities.max_reference_images - len(input_images))
    refs = tuple(Path(f"reference_{i}") for i in range(min(references, cap)))
    one = ImageRequest(
        index=0,
        prompt="",
        aspect_ratio=config.aspect_ratio or "1:1",
        image_size=config.image_size,
        layout="",
        exaggeration="",
        reference_images=refs,
        input_images=tuple(input_images),
    )
    calls = 1 if getattr(config, "sheet", None) else config.num_images
    return worst_case_cost(adapter, [one] * calls)


def check_cost(estimate_usd: float, cap_usd: float | None, *, what: str, model: str) -> None:
    """Raise :class:`BudgetExceeded` when ``estimate_usd`` is over ``cap_usd`` (None: no cap)."""
    if cap_usd is None or estimate_usd <= cap_usd:
        return
    raise BudgetExceeded(
        f"{what} with {model} could cost up to ${estimate_usd:.4f}, over max_cost_usd ${cap_usd:.4f}: "
        "raise the cap, or ask for fewer sketches, a smaller size or a cheaper model",
        estimate_usd=estimate_usd,
        cap_usd=cap_usd,
    )


def not_a_flag(value: Any) -> Any:
    """A ``max_cost_usd`` as given, refused when it is ``true``/``false``: pydantic would read a
    JSON ``true`` as a cap of $1 (used as a ``mode="before"`` field validator)."""
    if isinstance(value, bool):
        raise ValueError(f"must be a number of US dollars, not {str(value).lower()}")
    return value


def positive_cap(value: float | None) -> float | None:
    """A ``max_cost_usd`` refused when it is 0 or less: such a cap could never be met."""
    if value is not None and value <= 0:
        raise ValueError(f"must be more than 0 US dollars (got {value:g})")
    return value


CostCap = Annotated[float | None, BeforeValidator(not_a_flag), AfterValidator(positive_cap)]
"""The type of every request model's ``max_cost_usd`` (run, batch, HTTP): a number of US dollars
more than 0, or None; ``true``/``false`` refused. Declare it with ``Field(allow_inf_nan=False)``."""
