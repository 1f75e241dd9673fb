"""OpenAI GPT Image models through the official ``openai`` SDK (see :mod:`.adapter`)."""
