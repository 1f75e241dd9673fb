"""A stand-in for the Hugging Face hub on 127.0.0.1, for ``HF_ENDPOINT``: just what
``hf_hub_download`` asks of a hub (HEAD and GET on ``/<repo>/resolve/<revision>/<file>``, with the
``X-Repo-Commit`` / ``ETag`` / ``Content-Length`` headers; ranges for resumed downloads). It records
every request so a test can see that a second run fetched nothing."""

from __future__ import annotations

import hashlib
import re
import subprocess
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

COMMIT = "0123456789abcdef0123456789abcdef01234567"
_RESOLVE = re.compile(r"^/(?P<repo>[^/]+/[^/]+)/resolve/(?P<rev>[^/]+)/(?P<file>.+)$")


class FakeHub:
    def __init__(self, files: dict[tuple[str, str], bytes], *, plain_404: bool = False) -> None:
        self.files = files
        self.plain_404 = plain_404  # answer a missing file without X-Error-Code, as some mirrors do
        self.requests: list[tuple[str, str]] = []
        hub = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args) -> None:  # quiet
                pass

            def _answer(self, body: bool) -> None:
                hub.requests.append((self.command, self.path))
                m = _RESOLVE.match(self.path.split("?")[0])
                data = hub.files.get((m["repo"], m["file"])) if m else None
                if data is None:
                    self.send_response(404)
                    if not hub.plain_404:
                        self.send_header("X-Error-Code", "EntryNotFound")
                    self.send_header("X-Repo-Commit", COMMIT)
                    self.send_header("Content-Length", "0")
                    self.end_headers()
                    return
                start = 0
                ranged = re.match(r"bytes=(\d+)-", self.headers.get("Range", ""))
                if ranged:
                    start = int(ranged[1])
                self.send_response(206 if ranged else 200)
                self.send_header("X-Repo-Commit", COMMIT)
                self.send_header("ETag", f'"{hashlib.sha256(data).hexdigest()}"')
                self.send_header("Content-Length", str(len(data) - start))
                if ranged:
                    self.send_header("Content-Range", f"bytes {start}-{len(data) - 1}/{len(data)}")
                self.send_header("Content-Type", "application/octet-stream")
                self.end_headers()
                if body:
                    self.wfile.write(data[start:])

            def do_HEAD(self) -> None:
                self._answer(body=False)

            def do_GET(self) -> None:
                self._answer(body=True)

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self._server.server_address[1]}"
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    def gets(self) -> list[str]:
        """The file downloads (GET .../resolve/...); huggingface_hub also asks other /api paths."""
        return [path for method, path in self.requests if method == "GET" and "/resolve/" in path]

    def __enter__(self) -> FakeHub:
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._server.shutdown()
        self._server.server_close()


def run_sketchgen(*args: str, cwd, env, timeout: float = 300) -> subprocess.CompletedProcess:
    """The `sketchgen` command in a fresh process (huggingface_hub reads HF_ENDPOINT at import)."""
    return subprocess.run(
        [str(Path(sys.executable).with_name("sketchgen")), *args],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
    )
