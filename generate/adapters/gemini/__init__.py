"""Google's Nano Banana image models through google-genai: adapter, wire format, error mapping, catalog."""
