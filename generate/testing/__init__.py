"""Test helpers that ship with sketchgen, for this project's tests and for users' own.

:class:`FakeGeminiServer` is a real HTTP server on 127.0.0.1 that speaks the Gemini
``generateContent`` / ``streamGenerateContent`` wire format with scripted behaviour
(:class:`Behavior`), and records every request (:class:`RecordedRequest`). See
:mod:`generate.testing.fake_gemini` for the full contract.
"""

from generate.testing.fake_behaviors import Behavior, make_image
from generate.testing.fake_gemini import FakeGeminiServer, RecordedRequest

__all__ = ["Behavior", "FakeGeminiServer", "RecordedRequest", "make_image"]
