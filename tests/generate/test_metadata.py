"""A refinement's earlier turns survive metadata.json: recorded, then read back by iterate and resume."""

from __future__ import annotations

import json
from pathlib import Path

from generate.adapter import HistoryPart, HistoryTurn
from generate.metadata import history_record, history_turn


def test_a_recorded_turn_reads_back_as_the_same_turn():
    turns = [
        HistoryTurn(
            role="user",
            text="Sketch 1 of 3",
            reference_images=(Path("/refs/a.png"), Path("/refs/b.png")),
            subject_images=(Path("/runs/r1/mine.png"),),
        ),
        HistoryTurn(
            role="model",
            parts=(
                HistoryPart(text="thinking", thought_signature="c2ln"),
                HistoryPart(image=Path("sketch_01.png"), mime_type="image/png", thought_signature="c2ln"),
            ),
        ),
    ]
    # Through JSON, as metadata.json holds them.
    back = [history_turn(json.loads(json.dumps(history_record(t)))) for t in turns]
    assert back == turns


def test_a_user_turn_recorded_without_text_reads_back_with_empty_text():
    assert history_turn({"role": "user", "text": None}) == HistoryTurn(role="user", text="")
