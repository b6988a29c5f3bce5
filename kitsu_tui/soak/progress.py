"""A plain-text progress bar for long runs on stderr: redrawn in place on a terminal, one line per step otherwise."""

from __future__ import annotations

import time
from typing import TextIO


def _clock(seconds: float) -> str:
    """H:MM:SS or M:SS."""
    seconds = int(max(0.0, seconds))
    hours, rest = divmod(seconds, 3600)
    minutes, secs = divmod(rest, 60)
    return f"{hours}:{minutes:02d}:{secs:02d}" if hours else f"{minutes}:{secs:02d}"


class ProgressBar:
    """Shows turns done against --max-turns (or time against --duration-minutes), errors, latency and RSS."""

    def __init__(self, stream: TextIO, max_turns: int | None = None, duration_s: float | None = None,
                 width: int = 24, enabled: bool = True) -> None:
        self.stream = stream
        self.max_turns = max_turns
        self.duration_s = duration_s
        self.width = width
        self.enabled = enabled
        self.started = time.monotonic()
        self.in_place = bool(getattr(stream, "isatty", lambda: False)())
        self._drawn = False

    def fraction(self, turns: int, elapsed: float) -> float | None:
        """How far along the run is (0..1), by whichever limit is closer; None when unbounded."""
        parts = []
        if self.max_turns:
            parts.append(turns / self.max_turns)
        if self.duration_s:
            parts.append(elapsed / self.duration_s)
        return min(1.0, max(parts)) if parts else None

    def render(self, turns: int, errors: int, first_audio_ms: float | None, rss_mb: float) -> str:
        """The bar's text for the current numbers."""
        elapsed = time.monotonic() - self.started
        done = self.fraction(turns, elapsed)
        if done is None:
            bar = ""
        else:
            filled = int(round(done * self.width))
            bar = "[" + "#" * filled + "-" * (self.width - filled) + f"] {done * 100:3.0f}% "
        target = f"/{self.max_turns}" if self.max_turns else ""
        clock = _clock(elapsed) + (f"/{_clock(self.duration_s)}" if self.duration_s else "")
        latency = f"{first_audio_ms:.0f} ms" if first_audio_ms is not None else "-"
        return (f"soak {bar}turns {turns}{target}  errors {errors}  first audio {latency}  "
                f"rss {rss_mb:.0f} MB  {clock}")

    def update(self, turns: int, errors: int, first_audio_ms: float | None, rss_mb: float) -> None:
        """Redraw (terminal) or print one line (pipe/file)."""
        if not self.enabled:
            return
        line = self.render(turns, errors, first_audio_ms, rss_mb)
        if self.in_place:
            self.stream.write("\r\x1b[2K" + line)
        else:
            self.stream.write(line + "\n")
        self.stream.flush()
        self._drawn = True

    def finish(self) -> None:
        """End the in-place line so later messages start on a fresh line."""
        if self.enabled and self.in_place and self._drawn:
            self.stream.write("\n")
            self.stream.flush()
        self._drawn = False
