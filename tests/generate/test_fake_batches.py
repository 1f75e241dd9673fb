"""The fake server's Batch and Files APIs, driven by the real google-genai client."""

from __future__ import annotations

import json

import pytest
from google import genai
from google.genai import errors, types

from generate.testing import Behavior, FakeGeminiServer

MODEL = "gemini-3-pro-image"


@pytest.fixture()
def client(fake: FakeGeminiServer) -> genai.Client:
    return genai.Client(
        api_key="test-key", http_options=types.HttpOptions(base_url=fake.base_url, api_version="v1beta")
    )


def _requests(n: int) -> list[types.InlinedRequest]:
    config = types.GenerateContentConfig(
        response_modalities=["TEXT", "IMAGE"],
        image_config=types.ImageConfig(aspect_ratio="1:1", image_size="1K"),
    )
    return [
        types.InlinedRequest(
            contents=[types.Content(role="user", parts=[types.Part(text=f"Sketch {i}")])],
            config=config,
            metadata={"key": f"k{i}"},
        )
        for i in range(n)
    ]


def _run_to_end(client: genai.Client, name: str) -> types.BatchJob:
    for _ in range(10):
        job = client.batches.get(name=name)
        if job.done:
            return job
    raise AssertionError(f"{name} never finished")


def test_inline_job_goes_pending_running_succeeded_and_answers_each_request(fake, client):
    fake.script(Behavior.server_error(), match="Sketch 1")
    job = client.batches.create(model=MODEL, src=_requests(3), config={"display_name": "t"})
    assert job.state == types.JobState.JOB_STATE_PENDING and job.display_name == "t"
    assert client.batches.get(name=job.name).state == types.JobState.JOB_STATE_RUNNING
    job = client.batches.get(name=job.name)
    assert job.state == types.JobState.JOB_STATE_SUCCEEDED
    answers = job.dest.inlined_responses
    assert [a.metadata for a in answers] == [{"key": "k0"}, {"key": "k1"}, {"key": "k2"}]
    assert answers[1].error is not None and answers[1].error.code == 14  # gRPC UNAVAILABLE
    assert answers[1].response is None
    for a in (answers[0], answers[2]):
        images = [p for p in a.response.candidates[0].content.parts if p.inline_data]
        assert images and images[-1].inline_data.data.startswith(b"\x89PNG")
    batch = [r for r in fake.requests if r.batch == job.name]
    assert [r.prompt for r in batch] == ["Sketch 0", "Sketch 1", "Sketch 2"]
    assert {r.image_size for r in batch} == {"1K"} and fake.batch_creates == 1


def test_file_job_uploads_jsonl_and_results_come_back_as_a_downloadable_file(fake, client, tmp_path):
    src = tmp_path / "in.jsonl"
    line = {"key": "a", "request": {"contents": [{"role": "user", "parts": [{"text": "Sketch 0"}]}]}}
    src.write_text(json.dumps(line) + "\n")
    uploaded = client.files.upload(file=src, config={"display_name": "in", "mime_type": "jsonl"})
    assert uploaded.name.startswith("files/") and uploaded.size_bytes == src.stat().st_size
    job = _run_to_end(client, client.batches.create(model=MODEL, src=uploaded.name).name)
    assert job.state == types.JobState.JOB_STATE_SUCCEEDED and job.dest.file_name
    rows = [json.loads(x) for x in client.files.download(file=job.dest.file_name).decode().splitlines()]
    assert rows[0]["key"] == "a" and rows[0]["response"]["candidates"]


@pytest.mark.parametrize("final", ["EXPIRED", "FAILED"])
def test_scripted_states_end_without_responses(fake, client, final):
    fake.script_batch("PENDING", final)
    job = _run_to_end(client, client.batches.create(model=MODEL, src=_requests(1)).name)
    assert job.state.name == f"JOB_STATE_{final}"
    assert job.dest is None or not job.dest.inlined_responses


def test_cancel_and_list(fake, client):
    job = client.batches.create(model=MODEL, src=_requests(1))
    client.batches.cancel(name=job.name)
    assert client.batches.get(name=job.name).state == types.JobState.JOB_STATE_CANCELLED
    assert job.name in [j.name for j in client.batches.list()]
    assert fake.batches.cancels == 1
    client.batches.delete(name=job.name)
    with pytest.raises(errors.ClientError) as info:
        client.batches.get(name=job.name)
    assert info.value.code == 404


def test_inline_requests_over_the_limit_are_refused(fake, client):
    fake.batches.inline_limit_bytes = 200
    with pytest.raises(errors.ClientError) as info:
        client.batches.create(model=MODEL, src=_requests(3))
    assert info.value.code == 400 and "exceeds the limit" in info.value.message
    assert fake.batch_creates == 0


def test_unknown_model_is_404(client):
    with pytest.raises(errors.ClientError) as info:
        client.batches.create(model="gemini-9-image", src=_requests(1))
    assert info.value.code == 404
