"""Test helpers that ship with sketchgen, for this project's tests and for users' own.

:class:`FakeGeminiServer` is a real HTTP server on 127.0.0.1 that speaks the Gemini
``generateContent`` / ``streamGenerateContent`` wire format with scripted behaviour
(:class:`Behavior`), and records every request (:class:`RecordedRequest`). See
:mod:`generate.testing.fake_gemini` for the full contract. :func:`fake_gemini_process` runs one in
a process of its own; ``python -m generate.testing`` runs one in a terminal.
:class:`FakeOpenAIServer` does the same for the OpenAI Images API (``images/generations`` and
``images/edits``, streamed partial images, scripted :class:`OpenAIBehavior`); see
:mod:`generate.testing.fake_openai`.
"""

from generate.testing.fake_behaviors import Behavior, make_image
from generate.testing.fake_gemini import FakeGeminiServer, RecordedRequest
from generate.testing.fake_openai import FakeOpenAIServer, OpenAIBehavior, RecordedOpenAIRequest
from generate.testing.fake_sheets import make_sheet
from generate.testing.process import fake_gemini_process

__all__ = [
    "Behavior",
    "FakeGeminiServer",
    "FakeOpenAIServer",
    "OpenAIBehavior",
    "RecordedOpenAIRequest",
    "RecordedRequest",
    "fake_gemini_process",
    "make_image",
    "make_sheet",
]
