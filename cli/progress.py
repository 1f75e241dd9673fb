"""The live status line of ``sketchgen generate``: elapsed time, calls in flight, retries waiting.

Without it a run at 8 s model latency is 8 s of silence before the first sketch. The line is a
tqdm bar on stderr, shown only when stderr is a terminal (never in a pipe or a log file, and never on
stdout, so ``--json`` output stays clean). It is redrawn at every event, so what it says is always
the current state, and ticks twice a second for the elapsed time. Lines printed while it is shown
go through :meth:`LiveStatus.write` so the bar is cleared and redrawn around them.

The counts come from the run's own events: a sketch is *waiting* from its ``sketch.retry`` until the
announced delay has passed, *in flight* while it is neither finished nor waiting (at most
``max_concurrency`` at once; the rest are *queued*).
"""

from __future__ import annotations

import asyncio
import shutil
import sys
import time
from typing import TextIO

from generate.events import RunCompleted, RunEvent, RunStarted, SketchCompleted, SketchFailed, SketchRetry

__all__ = ["LiveStatus"]


class LiveStatus:
    """``status = LiveStatus(total, cap)``; ``status.on_event(ev)`` for each event; ``status.close()``."""

    def __init__(self, total: int, max_concurrency: int, *, file: TextIO | None = None) -> None:
        self.file = file if file is not None else sys.stderr
        self.total = total
        self.cap = max(1, max_concurrency)
        self.done = 0
        self._finished: set[int] = set()
        self._retry_until: dict[int, float] = {}
        self._bar = None
        self.enabled = bool(getattr(self.file, "isatty", lambda: False)())

    # -- state -------------------------------------------------------------------------------------
    def counts(self, now: float | None = None) -> tuple[int, int, int]:
        """(in flight, queued, retries waiting) right now."""
        now = time.monotonic() if now is None else now
        waiting = sum(1 for i, until in self._retry_until.items() if until > now and i not in self._finished)
        active = max(0, self.total - len(self._finished) - waiting)
        in_flight = min(active, self.cap)
        return in_flight, active - in_flight, waiting

    def describe(self) -> str:
        in_flight, queued, waiting = self.counts()
        parts = [f"{in_flight} call{'s' if in_flight != 1 else ''} in flight"]
        if queued:
            parts.append(f"{queued} queued")
        if waiting:
            parts.append(f"{waiting} retr{'ies' if waiting != 1 else 'y'} waiting")
        return ", ".join(parts)

    # -- events ------------------------------------------------------------------------------------
    def on_event(self, event: RunEvent) -> None:
        if isinstance(event, RunStarted):
            self.total = event.num_images
            self._open()
        elif isinstance(event, SketchRetry):
            self._retry_until[event.index] = time.monotonic() + max(0.0, event.delay_s)
        elif isinstance(event, (SketchCompleted, SketchFailed)):
            self._finished.add(event.index)
            self._retry_until.pop(event.index, None)
            self.done = len(self._finished)
        elif isinstance(event, RunCompleted):
            self.close()
            return
        self.refresh()

    def write(self, text: str, file: TextIO) -> None:
        """Print a line without tearing the status line."""
        if self._bar is None:
            print(text, file=file, flush=True)
            return
        from tqdm import tqdm

        tqdm.write(text, file=file)

    def refresh(self) -> None:
        if self._bar is None:
            return
        self._bar.n = self.done
        self._bar.set_description_str(
            f"  sketching {self.done}/{self.total} done, {self.describe()}", refresh=False
        )
        self._bar.refresh()

    async def tick(self, every_s: float = 0.5) -> None:
        """Redraw until cancelled, so the elapsed time moves between events."""
        while True:
            await asyncio.sleep(every_s)
            self.refresh()

    def _open(self) -> None:
        if not self.enabled or self._bar is not None:
            return
        from tqdm import tqdm

        size = shutil.get_terminal_size((100, 24))
        self._bar = tqdm(
            desc=f"  sketching {self.done}/{self.total} done, {self.describe()}",
            total=self.total,
            file=self.file,
            bar_format="{desc}, {elapsed}",
            # A terminal that reports no size (0x0, e.g. a bare pty) would make tqdm draw nothing.
            ncols=size.columns,
            nrows=size.lines,
            leave=False,
        )

    def close(self) -> None:
        if self._bar is not None:
            self._bar.close()
            self._bar = None
