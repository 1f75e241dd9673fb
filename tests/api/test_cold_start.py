"""A freshly started service answers its first concurrent requests with the full model registry."""

from __future__ import annotations

import textwrap

from tests.generate.cold import run_cold

# Sixteen first requests at once against a cold app (validation runs in worker threads, so they
# look the model up concurrently). The image size is one no model offers: every answer must be the
# 422 naming image_size that a resolved model gives, never "unknown model 'auto'".
_REQUESTS = textwrap.dedent(
    """
    import asyncio, json, tempfile
    import httpx
    from api.main import create_app

    async def main():
        app = create_app(output_dir=tempfile.mkdtemp())
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://sketchgen") as client:
            body = {"brief": "playful golf mascot", "model": "auto", "image_size": "9K"}
            answers = await asyncio.gather(*(client.post("/generate", json=body) for _ in range(16)))
        return [[a.status_code, a.json()["field"]] for a in answers]

    print(json.dumps(asyncio.run(main())))
    """
)


def test_concurrent_first_requests_resolve_the_model():
    answers = run_cold(_REQUESTS)
    assert answers == [[422, "image_size"]] * 16, answers
