"""A fallback chain over HTTP: the `model` field as a comma list or a JSON list."""

from __future__ import annotations

import pytest

from generate.testing import Behavior


@pytest.mark.parametrize("model", ["nano-banana,trace", ["nano-banana", "trace"]])
async def test_a_chain_names_the_model_of_each_sketch(client, fake_gemini, model):
    # A 429 that asks for longer than the retry cap (60 s) is not waited out: the sketch moves on.
    fake_gemini.script(Behavior.rate_limited(retry_delay_s=120), match="Sketch 2 of 3")
    r = await client.post("/generate", json={"brief": "playful golf mascot", "num_images": 3, "model": model})
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["status"] == "complete"
    assert [s["model"] for s in body["sketches"]] == [
        "gemini-nano-banana-2.1",
        "trace",
        "gemini-nano-banana-2.1",
    ]
    moved = body["sketches"][1]["fallbacks"]
    assert [(f["model"], f["error_code"]) for f in moved] == [("gemini-nano-banana-2.1", "rate_limited")]
    assert body["sketches"][0]["fallbacks"] == []


async def test_a_chain_with_an_unknown_element_is_422_before_any_call(client, fake_gemini):
    r = await client.post(
        "/generate", json={"brief": "golf mascot", "model": ["nano-banana", "no-such-model", "trace"]}
    )
    assert r.status_code == 422 and r.json()["field"] == "model"
    assert "no-such-model" in r.json()["message"]
    assert fake_gemini.count == 0
