"""A body that is not a JSON object is a 422 naming ``body``, as every other bad input is."""

from __future__ import annotations

import pytest


@pytest.mark.parametrize(
    ("content", "headers", "message"),
    [
        (b"not json", {"content-type": "application/json"}, "body: not valid JSON (at character 0)"),
        (
            b'{"brief": "golf",}',
            {"content-type": "application/json"},
            "body: not valid JSON (at character 17)",
        ),
        (b"\xff\xfe\x00", {"content-type": "application/json"}, "body: not valid JSON"),
        (b"[1, 2]", {"content-type": "application/json"}, "body: must be a JSON object"),
        (b"brief=golf", {"content-type": "text/plain"}, "body: must be a JSON object"),
        (b"", {"content-type": "application/json"}, "body: a JSON object is required"),
    ],
)
@pytest.mark.parametrize("path", ["/generate", "/generate-stream"])
async def test_a_body_that_is_not_a_json_object_is_422_naming_body(client, path, content, headers, message):
    r = await client.post(path, content=content, headers=headers)
    assert r.status_code == 422, r.text
    body = r.json()
    assert body["field"] == "body"
    assert body["message"].startswith(message)


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        (
            "response_modalities",
            ["IMAGE"],
            "response_modalities must be 'text+image' or 'image' (got ['IMAGE'])",
        ),
        ("response_modalities", "bogus", "response_modalities must be 'text+image' or 'image' (got 'bogus')"),
        (
            "person_generation",
            "everyone",
            "person_generation must be 'ALLOW_ALL', 'ALLOW_ADULT' or 'ALLOW_NONE'",
        ),
    ],
)
async def test_a_value_outside_a_fixed_choice_reads_as_a_person_would_write_it(client, field, value, message):
    r = await client.post("/generate", json={"brief": "golf mascot", field: value})
    assert r.status_code == 422, r.text
    body = r.json()
    assert body["field"] == field
    assert body["message"].startswith(message), body["message"]
    assert "Input should" not in body["message"]


@pytest.mark.parametrize("field", ["seed", "num_images", "top_k"])
async def test_true_is_not_taken_as_the_number_1(client, field):
    # pydantic's lax mode reads JSON true as 1: {"seed": true} ran a (paid) run with seed 1.
    r = await client.post("/generate", json={"brief": "golf mascot", "model": "trace", field: True})
    assert r.status_code == 422, r.text
    body = r.json()
    assert body["field"] == field and body["message"] == f"{field} must be a whole number, not true or false"


@pytest.mark.parametrize("field", ["seed", "num_images"])
async def test_a_refinement_does_not_take_true_as_1_either(client, field):
    r = await client.post(
        "/runs/20260101_000000/sketches/0/refine", json={"instruction": "bigger cap", field: True}
    )
    assert r.status_code == 422, r.text
    assert r.json()["field"] == field


async def test_a_negative_seed_is_a_seed_as_gemini_and_the_library_take_it(client):
    # generationConfig.seed is an int32: the HTTP body must not refuse what the library and Gemini take.
    r = await client.post("/generate", json={"brief": "golf mascot", "model": "trace", "seed": -5})
    assert r.status_code == 200, r.text
    run = r.json()
    assert run["status"] == "complete"
    meta = (await client.get(f"/runs/{run['run_id']}")).json()
    assert meta["config"]["seed"] == -5


@pytest.mark.parametrize(
    ("url", "field"),
    [
        ("/runs?since=not-a-date", "since"),  # refused by the library (ConfigError)
        ("/runs?since=2026-01-02&until=2026-01-01", "since"),
        ("/runs?q=%21%21", "q"),
        ("/runs?limit=abc", "limit"),  # refused by FastAPI's own validation
        ("/generate-stream?brief=golf&num_images=9", "num_images"),
    ],
)
async def test_a_bad_query_parameter_is_located_in_the_query(client, url, field):
    r = await client.get(url)
    assert r.status_code == 422, r.text
    body = r.json()
    assert body["field"] == field
    assert body["detail"][0]["loc"] == ["query", field]


async def test_a_bad_body_field_is_still_located_in_the_body(client):
    r = await client.post("/generate", json={"brief": "golf", "style_id": "no-such-style"})
    assert r.status_code == 422, r.text
    assert r.json()["detail"][0]["loc"] == ["body", "style_id"]
