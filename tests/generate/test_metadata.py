"""A refinement's earlier turns survive metadata.json: recorded, then read back by iterate and resume."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from generate.adapter import HistoryPart, HistoryTurn
from generate.metadata import history_record, history_turn, recorded_request_options
from generate.types import GenerationConfig


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


@pytest.mark.parametrize(
    "options",
    [
        {"response_modalities": ("IMAGE",)},
        {"google_search": True, "person_generation": "ALLOW_ADULT"},
    ],
)
def test_the_recorded_request_options_give_back_the_same_options(options):
    asked = GenerationConfig(model_name="nano-banana-pro", **options)
    recorded = {  # as metadata.json's "config" holds them
        "response_modalities": list(asked.response_modalities),
        "google_search": asked.google_search,
        "person_generation": asked.person_generation,
    }
    again = GenerationConfig(model_name="nano-banana-pro", **recorded_request_options(recorded))
    assert again.request_options() == asked.request_options()
    # A run recorded before these options existed asks for the defaults.
    assert recorded_request_options({}) == {}
