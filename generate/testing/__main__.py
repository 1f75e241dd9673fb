"""``python -m generate.testing``: the fake Gemini server, for trying sketchgen without a key."""

import sys

from generate.testing.process import main

sys.exit(main())
