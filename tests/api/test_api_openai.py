"""The service with an OpenAI model: a run over HTTP, and a shape the model lacks refused before any call."""

from __future__ import annotations

from fastapi.testclient import TestClient

from api.main import create_app


def _body(**overrides):
    return {
        "brief": "playful golf mascot",
        "style_id": "vintage-mascot",
        "num_images": 3,
        "model": "openai:gpt-image-1.5",
        **overrides,
    }


def test_post_generate_with_an_openai_model(fake_openai):
    with TestClient(create_app()) as client:
        answer = client.post("/generate", json=_body(aspect_ratio="3:2"))
    assert answer.status_code == 200, answer.text
    run = answer.json()
    assert run["status"] == "complete" and run["model"] == "openai:gpt-image-1.5" and run["cost_usd"] > 0
    assert {r.size for r in fake_openai.requests} == {"1536x1024"} and fake_openai.count == 3


def test_an_aspect_ratio_the_model_lacks_is_a_422_naming_the_field(fake_openai):
    with TestClient(create_app()) as client:
        answer = client.post("/generate", json=_body(aspect_ratio="16:9"))
    assert answer.status_code == 422 and answer.json()["field"] == "aspect_ratio"
    assert "1:1, 3:2, 2:3" in answer.json()["message"] and fake_openai.count == 0
