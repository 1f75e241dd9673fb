"""The ``.env`` file the CLI and the service read: ``./.env`` in the current working folder.

``python-dotenv``'s bare ``load_dotenv()`` looks for the file upwards from the *calling module's*
folder (the installed package), not from where the user runs ``sketchgen``, so a ``.env`` next to
the user's work was never read. Here the path is explicit: only ``.env`` in the working folder (no
search of parent folders, so a file higher up never leaks in). Its values never override variables
already set in the environment. The library itself (``import generate``) reads no file.
"""

from __future__ import annotations

from pathlib import Path

from dotenv import load_dotenv

__all__ = ["ENV_FILE_NAME", "load_env_file"]

ENV_FILE_NAME = ".env"


def load_env_file(folder: str | Path | None = None) -> Path | None:
    """Load ``<folder or cwd>/.env`` without overriding the environment; the path read, or None."""
    path = Path(folder or Path.cwd()) / ENV_FILE_NAME
    if not path.is_file():
        return None
    load_dotenv(path, override=False)
    return path
