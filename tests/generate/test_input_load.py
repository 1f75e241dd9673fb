"""What a call sends as input besides its prompt and style references, as cost estimates count it."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

from generate.adapter import HistoryPart, HistoryTurn, ImageRequest, get_adapter, input_load


def _history() -> tuple[HistoryTurn, ...]:
    return (
        HistoryTurn(role="user", text="Sketch 1 of 3", reference_images=(Path("a.png"), Path("b.png"))),
        HistoryTurn(role="model", parts=(HistoryPart(text="ok"), HistoryPart(image=Path("sketch_01.png")))),
    )


def test_the_images_to_edit_and_every_earlier_turn_count():
    assert input_load((), ()) == (0, 0)
    assert input_load((Path("mine.png"),), ()) == (1, 0)
    # Two references and the model's image; "Sketch 1 of 3" and "ok".
    assert input_load((), _history()) == (3, 15)


def test_a_gemini_estimate_counts_the_history_it_sends():
    adapter = get_adapter("nano-banana-pro", dry_run=True)
    request = ImageRequest(
        index=0, prompt="bigger cap", aspect_ratio="1:1", image_size="1K", layout="hero", exaggeration="bold"
    )
    with_history = replace(request, history=_history())
    assert adapter.estimate_cost(with_history) > adapter.estimate_cost(request)
    adapter.close()
