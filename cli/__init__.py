"""The `sketchgen` command line (thin: parses, calls the library, prints)."""

from cli.main import build_parser, main

__all__ = ["main", "build_parser"]
