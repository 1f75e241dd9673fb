"""A third-party adapter that leaks the API key in its failures, registered as ``leaky-test``.

Sketch 1 raises an unclassified ``RuntimeError`` quoting the key (an ``internal`` error), sketch 2
fails once with a retryable ModelCallError quoting it, then succeeds; the others succeed, with model
text that quotes it. Importing
this module registers it (also in a subprocess: ``import tests.generate.leaky``).
"""

from __future__ import annotations

import os
import threading

from generate.adapter import AdapterCapabilities, ImageModelAdapter, ModelImage, register_adapter
from generate.errors import ModelCallError
from generate.testing import make_image

NAME = "leaky-test"


def leaked_key() -> str:
    return os.environ.get("GEMINI_API_KEY", "")


class LeakyAdapter(ImageModelAdapter):
    name = NAME
    capabilities = AdapterCapabilities(
        max_reference_images=0,
        aspect_ratios=("1:1", "3:4", "4:3"),
        image_sizes=("1K",),
        network=False,
    )

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._failed_once: set[int] = set()

    def generate(self, request) -> ModelImage:
        if request.index == 1:
            raise RuntimeError(f"proxy answered with headers {{'x-goog-api-key': '{leaked_key()}'}}")
        if request.index == 2:
            with self._lock:
                first = request.index not in self._failed_once
                self._failed_once.add(request.index)
            if first:
                raise ModelCallError("server_error", f"upstream 503 for key {leaked_key()}", retryable=True)
        # Model text that quotes the key too (it lands in the result's records and metadata).
        text = f"drawn for {leaked_key()}"
        return ModelImage(
            data=make_image(256, 256, request.index), mime_type="image/png", model=NAME, text=text
        )


register_adapter(NAME, lambda name, **options: LeakyAdapter())
