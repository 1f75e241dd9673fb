"""The JSON endpoints that need no run: health, styles, models, the OpenAPI schema, auth, overload."""

from __future__ import annotations

import httpx
import pytest

from api.main import create_app
from api.state import RunSlots


async def test_healthz_reports_capacity_and_auth(client):
    r = await client.get("/healthz")
    assert r.status_code == 200
    body = r.json()
    assert body["status"] == "ok"
    assert body["runs_in_flight"] == 0
    assert body["max_runs"] == 64
    assert body["auth_required"] is False


async def test_styles_lists_builtins_without_server_paths(client):
    r = await client.get("/styles")
    assert r.status_code == 200
    styles = {s["id"]: s for s in r.json()}
    assert "vintage-mascot" in styles and len(styles) >= 4
    mascot = styles["vintage-mascot"]
    assert 3 <= mascot["num_images"] <= 6
    assert isinstance(mascot["reference_dirs"], int)  # counted, never a server path
    one = await client.get("/styles/vintage-mascot")
    assert one.status_code == 200 and one.json() == mascot


async def test_unknown_style_is_404_naming_known_ones(client):
    r = await client.get("/styles/no-such-style")
    assert r.status_code == 404
    assert "vintage-mascot" in r.json()["message"]


async def test_models_lists_auto_trace_and_gemini(client):
    r = await client.get("/models")
    assert r.status_code == 200
    models = {m["id"]: m for m in r.json()}
    assert {"auto", "trace"} <= set(models)
    assert models["trace"]["network"] is False
    assert models["trace"]["aspect_ratios"]
    assert any(m["network"] for m in models.values())


async def test_openapi_schema_describes_every_endpoint(client):
    schema = (await client.get("/openapi.json")).json()
    paths = schema["paths"]
    for path, method in [
        ("/generate", "post"),
        ("/generate-stream", "post"),
        ("/generate-stream", "get"),
        ("/runs", "get"),
        ("/runs/{run_id}", "get"),
        ("/runs/{run_id}/files/{name}", "get"),
        ("/styles", "get"),
        ("/styles/{style_id}", "get"),
        ("/models", "get"),
        ("/healthz", "get"),
    ]:
        assert method in paths[path], (method, path)
    gen = paths["/generate"]["post"]
    assert gen["requestBody"]["content"]["application/json"]["schema"]["$ref"].endswith("GenerateRequest")
    assert gen["responses"]["200"]["content"]["application/json"]["schema"]["$ref"].endswith(
        "GenerateResponse"
    )
    assert {"422", "429"} <= set(gen["responses"])
    assert "text/event-stream" in paths["/generate-stream"]["get"]["responses"]["200"]["content"]
    query = {p["name"] for p in paths["/generate-stream"]["get"]["parameters"]}
    assert {"brief", "style_id", "num_images", "model", "aspect_ratio", "image_size", "token"} <= query
    for name in (
        "GenerateRequest",
        "GenerateResponse",
        "SketchOut",
        "RunList",
        "RunDetail",
        "StyleOut",
        "ModelOut",
    ):
        assert name in schema["components"]["schemas"]


async def test_page_and_assets_are_served(client):
    page = await client.get("/")
    assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
    assert "/static/app.js" in page.text
    for name in ("app.js", "http.js"):
        assert f"/static/{name}" in page.text
        js = await client.get(f"/static/{name}")
        assert js.status_code == 200 and "javascript" in js.headers["content-type"]
    css = await client.get("/static/style.css")
    assert css.status_code == 200 and css.headers["content-type"].startswith("text/css")
    assert (await client.get("/static/__init__.py")).status_code == 404


@pytest.mark.parametrize(
    "body, field",
    [
        ({"brief": ""}, "brief"),
        ({"brief": "   "}, "brief"),
        ({"brief": "x" * 2001}, "brief"),
        ({"brief": "golf mascot", "num_images": 2}, "num_images"),
        ({"brief": "golf mascot", "num_images": 7}, "num_images"),
        ({"brief": "golf mascot", "aspect_ratio": "wide"}, "aspect_ratio"),
        ({"brief": "golf mascot", "resolution": "huge"}, "resolution"),
        ({"brief": "golf mascot", "colour": "red"}, "colour"),
    ],
)
async def test_schema_errors_are_422_naming_the_field(client, body, field):
    for path in ("/generate", "/generate-stream"):
        r = await client.post(path, json=body)
        assert r.status_code == 422, (path, r.text)
        assert r.json()["field"] == field
        assert field in r.json()["message"]


async def test_query_errors_are_422_naming_the_field(client):
    r = await client.get("/generate-stream", params={"brief": "golf", "num_images": "9"})
    assert r.status_code == 422
    assert r.json()["field"] == "num_images"
    r = await client.get("/generate-stream", params={"style_id": "vintage-mascot"})
    assert r.status_code == 422 and r.json()["field"] == "brief"


# ---- auth ---------------------------------------------------------------------------------------


@pytest.fixture
async def token_client(output_dir):
    app = create_app(output_dir=output_dir, api_token="s3cret-token")
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://sketchgen") as c:
        yield c


@pytest.mark.parametrize(
    "method, path",
    [
        ("GET", "/styles"),
        ("GET", "/styles/vintage-mascot"),
        ("GET", "/models"),
        ("GET", "/runs"),
        ("GET", "/runs/20250101_120000"),
        ("GET", "/runs/20250101_120000/files/metadata.json"),
        ("POST", "/generate"),
        ("POST", "/generate-stream"),
        ("GET", "/generate-stream?brief=golf"),
    ],
)
async def test_token_is_required_everywhere_but_healthz(token_client, method, path):
    body = {"brief": "golf mascot"} if method == "POST" else None
    r = await token_client.request(method, path, json=body)
    assert r.status_code == 401, r.text
    assert r.headers["www-authenticate"] == "Bearer"
    wrong = await token_client.request(method, path, json=body, headers={"Authorization": "Bearer nope"})
    assert wrong.status_code == 401
    assert "s3cret-token" not in r.text + wrong.text


async def test_token_opens_the_api(token_client, monkeypatch):
    assert (await token_client.get("/healthz")).json()["auth_required"] is True
    ok = await token_client.get("/styles", headers={"Authorization": "Bearer s3cret-token"})
    assert ok.status_code == 200
    # The page shell is open (a browser cannot send a header when it navigates); it holds no data.
    assert (await token_client.get("/")).status_code == 200


async def test_query_token_only_on_the_eventsource_endpoint(token_client):
    # ?token= is refused on ordinary endpoints...
    assert (await token_client.get("/styles?token=s3cret-token")).status_code == 401
    # ...and accepted on GET /generate-stream, where it gets past auth to validation.
    r = await token_client.get(
        "/generate-stream", params={"token": "s3cret-token", "brief": "x", "num_images": 9}
    )
    assert r.status_code == 422 and r.json()["field"] == "num_images"


def test_token_from_environment(monkeypatch, output_dir):
    monkeypatch.setenv("SKETCHGEN_API_TOKEN", "from-env")
    monkeypatch.setenv("SKETCHGEN_MAX_RUNS", "3")
    app = create_app(output_dir=output_dir)
    settings = app.state.sketchgen.settings
    assert settings.api_token == "from-env" and settings.max_runs == 3


# ---- overload -----------------------------------------------------------------------------------


def test_run_slots_refuse_beyond_the_cap():
    from api.state import Overloaded

    slots = RunSlots(2, retry_after_s=7)
    a, b = slots.acquire(), slots.acquire()
    with pytest.raises(Overloaded) as info:
        slots.acquire()
    assert info.value.retry_after_s == 7
    a.release()
    a.release()  # idempotent: a slot is never returned twice
    assert slots.in_flight == 1
    c = slots.acquire()
    b.release()
    c.release()
    assert slots.in_flight == 0


async def test_schema_and_docs_need_the_token_when_one_is_set(output_dir):
    import httpx

    from api.main import create_app

    token = "docs-token-123456"
    app = create_app(output_dir=output_dir, api_token=token)
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://s") as http:
        for path in ("/openapi.json", "/docs", "/redoc"):
            assert (await http.get(path)).status_code == 401, path
            assert (await http.get(path, params={"token": "wrong-one-000"})).status_code == 401, path
        assert (
            await http.get("/openapi.json", headers={"Authorization": f"Bearer {token}"})
        ).status_code == 200
        assert "paths" in (await http.get("/openapi.json", params={"token": token})).json()
        docs = await http.get("/docs", params={"token": token})
        assert docs.status_code == 200 and f"/openapi.json?token={token}" in docs.text
        # The page itself stays open: it asks for the token when the API answers 401.
        assert (await http.get("/")).status_code == 200
        assert (await http.get("/healthz")).status_code == 200


async def test_schema_and_docs_are_open_without_a_token(client):
    assert (await client.get("/openapi.json")).status_code == 200
    docs = await client.get("/docs")
    assert docs.status_code == 200 and "'/openapi.json'" in docs.text


async def test_openapi_declares_the_streams_events(client):
    schema = (await client.get("/openapi.json")).json()
    components = schema["components"]["schemas"]
    names = {
        "run.started",
        "stage",
        "sketch.preview",
        "sketch.retry",
        "sketch.fallback",
        "sketch.completed",
        "sketch.failed",
        "run.completed",
        "error",
    }
    for path, method in [
        ("/generate-stream", "get"),
        ("/generate-stream", "post"),
        ("/runs/{run_id}/resume-stream", "post"),
    ]:
        content = schema["paths"][path][method]["responses"]["200"]["content"]
        assert list(content) == ["text/event-stream"]
        variants = content["text/event-stream"]["itemSchema"]["oneOf"]
        assert {v["properties"]["event"]["const"] for v in variants} == names
        for variant in variants:
            ref = variant["properties"]["data"]["contentSchema"]["$ref"]
            assert ref.rsplit("/", 1)[-1] in components
    assert {"url", "file", "index", "latency_s"} <= set(components["SketchCompletedEvent"]["properties"])
    assert "path" not in components["SketchCompletedEvent"]["properties"]
    assert "run_url" in components["RunStartedEvent"]["properties"]
    assert {"metadata_url", "status"} <= set(components["RunCompletedEvent"]["properties"])
