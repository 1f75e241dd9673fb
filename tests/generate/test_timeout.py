"""The per-call timeout is settable per run (config, env) and validated; the default cap fits a service."""

from __future__ import annotations

import math
import socket
import threading

import pytest

from api.state import DEFAULT_MAX_RUNS
from generate import GenerationConfig
from generate.errors import ConfigError, ErrorCode, ModelCallError
from generate.pipeline import RunRequest, SketchPipeline
from generate.testing import Behavior, FakeGeminiServer
from generate.types import DEFAULT_MAX_CONCURRENCY, DEFAULT_TIMEOUT_S


@pytest.mark.parametrize("bad", [0, -1, "soon", math.inf, math.nan, True, 10_000])
def test_a_bad_timeout_names_the_field(bad):
    with pytest.raises(ConfigError) as info:
        GenerationConfig(timeout_s=bad)
    assert info.value.field == "timeout_s" and "timeout_s" in str(info.value)


def test_the_environment_sets_the_default_timeout(monkeypatch):
    assert GenerationConfig().timeout_s == DEFAULT_TIMEOUT_S
    monkeypatch.setenv("SKETCHGEN_TIMEOUT_S", "42.5")
    assert GenerationConfig().timeout_s == 42.5
    assert GenerationConfig(timeout_s=7).timeout_s == 7  # the run's own setting wins
    monkeypatch.setenv("SKETCHGEN_TIMEOUT_S", "a minute")
    with pytest.raises(ConfigError) as info:
        GenerationConfig()
    assert info.value.field == "timeout_s" and "SKETCHGEN_TIMEOUT_S" in str(info.value)


def test_the_default_cap_lets_the_services_default_runs_all_be_in_flight():
    assert GenerationConfig().max_concurrency == DEFAULT_MAX_CONCURRENCY >= DEFAULT_MAX_RUNS * 4


def test_a_run_timeout_reaches_the_wire_and_a_hung_call_is_retried(monkeypatch, tmp_path):
    with FakeGeminiServer() as fake:
        for key, value in fake.env().items():
            monkeypatch.setenv(key, value)
        fake.script(Behavior.hang(), match="Sketch 2 of 3")
        pipeline = SketchPipeline(output_dir=tmp_path)
        # Long enough that the sketches that do answer never time out on a loaded machine too.
        request = RunRequest(
            brief="playful golf mascot", num_images=3, model="nano-banana", top_k=0, timeout_s=4.5
        )
        result = pipeline.run(request)
        assert result.status == "complete"
        assert (
            result.sketches[1].attempts == 2
            and result.sketches[1].record["retries"][0]["code"] == ErrorCode.TIMEOUT
        )
        assert {r.headers.get("x-server-timeout") for r in fake.requests} == {"5"}  # ceil(4.5 s)
        assert fake.aborted_count == 1


def test_run_request_validates_the_timeout():
    with pytest.raises(ConfigError) as info:
        RunRequest.parse({"brief": "golf", "timeout_s": 0}, labels={"timeout_s": "--timeout"})
    assert (
        info.value.field == "timeout_s" and str(info.value) == "--timeout must be more than 0 seconds (got 0)"
    )


def _unanswered_port() -> tuple[socket.socket, list[socket.socket]]:
    """A port whose accept queue is full: the kernel drops new SYNs, so a connect hangs (a dead host)."""
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(0)
    fillers = []
    for _ in range(8):
        s = socket.socket()
        s.setblocking(False)
        s.connect_ex(listener.getsockname())
        fillers.append(s)
    return listener, fillers


def test_a_connect_that_never_completes_fails_before_the_total_timeout(monkeypatch):
    from generate.adapter import ImageRequest
    from generate.adapters.gemini import http as gemini_http
    from generate.adapters.gemini.adapter import NanoBananaAdapter

    monkeypatch.setattr(gemini_http, "CONNECT_TIMEOUT_S", 0.5)
    listener, fillers = _unanswered_port()
    port = listener.getsockname()[1]
    adapter = NanoBananaAdapter("nano-banana", api_key="test-key", base_url=f"http://127.0.0.1:{port}")
    request = ImageRequest(
        index=0,
        prompt="Sketch 1 of 3",
        aspect_ratio="1:1",
        image_size="1K",
        layout="hero",
        exaggeration="bold",
        timeout_s=600,
    )
    outcome: list[BaseException] = []

    def call():
        try:
            adapter.generate(request)
        except BaseException as exc:  # noqa: BLE001 - handed to the test thread
            outcome.append(exc)

    worker = threading.Thread(target=call, daemon=True)
    worker.start()
    worker.join(60)  # a bound for a transport that ignores the connect cap, not a timing
    try:
        assert not worker.is_alive(), "the connect waited for the 600 s total"
        (err,) = outcome
        assert isinstance(err, ModelCallError) and err.retryable
        assert err.code in (ErrorCode.TIMEOUT, ErrorCode.CONNECTION)
    finally:
        adapter.close()
        for s in (listener, *fillers):
            s.close()
