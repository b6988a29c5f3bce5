"""`kitsu` on fake backends, for tests that drive the real CLI in a subprocess (tmux, a browser): `python tests/fake_kitsu.py run ...`.

Everything is real (engine, moderator, memory, control API, console) except the four models, which are
the deterministic fakes from kitsu_tui.backends.fakes; the speakers are a real-time null sink when
--no-audio is given. KITSU_FAKE_REPLY sets the reply every chat line gets.
"""

from __future__ import annotations

import os
import sys

import kitsu_tui.backends.factory as factory
from kitsu_tui.backends.base import Backends
from kitsu_tui.backends.fakes import FakeAsr, FakeLlm, FakeTts, FakeVad
from kitsu_tui.config.persona import Persona
from kitsu_tui.config.settings import Settings


def fake_backends(settings: Settings, persona: Persona | None = None) -> Backends:
    """Fakes in place of the real models (same call shape as factory.build_backends)."""
    reply = os.environ.get("KITSU_FAKE_REPLY", "Hello from the fake fox. Nice to see you.")
    return Backends(vad=FakeVad(), asr=FakeAsr(["hello kitsu"]), llm=FakeLlm([reply] * 1000),
                    tts=FakeTts(ms_per_char=20.0))


def main() -> None:
    """Run the real CLI with fake models."""
    factory.build_backends = fake_backends
    from kitsu_tui.cli import app

    app(sys.argv[1:], prog_name="kitsu")


if __name__ == "__main__":
    main()
