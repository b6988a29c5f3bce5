"""`kitsu` on fake backends, for tests that drive the real CLI in a subprocess (tmux, a browser): `python tests/fake_kitsu.py run ...`.

Everything is real (engine, moderator, memory, control API, console) except the four models, which are
the deterministic fakes from kitsu_tui.backends.fakes; the speakers are a real-time null sink when
--no-audio is given. KITSU_FAKE_REPLY sets the reply every chat line gets. To keep the models busy (the
exit tests signal a show mid-turn): KITSU_FAKE_TOKEN_S (seconds per LLM token), KITSU_FAKE_TTS_S (seconds
each synthesis blocks its thread) and KITSU_FAKE_WARM_S (seconds each LLM warm-up blocks, never stoppable,
like llama.cpp's prefill); KITSU_FAKE_MARK names a file that gets one line as each synthesis starts.
"""

from __future__ import annotations

import os
import sys
import time

import kitsu_tui.backends.factory as factory
from kitsu_tui.backends.base import Audio, Backends, ChatMessage
from kitsu_tui.backends.fakes import FakeAsr, FakeLlm, FakeTts, FakeVad
from kitsu_tui.config.persona import Persona
from kitsu_tui.config.settings import Settings


class BusyLlm(FakeLlm):
    """FakeLlm whose warm-up blocks its thread for a while and cannot be stopped."""

    def __init__(self, replies: list[str], token_delay_s: float, warm_s: float) -> None:
        super().__init__(replies, token_delay_s=token_delay_s)
        self.warm_s = warm_s

    def warm(self, messages: list[ChatMessage]) -> None:
        """Block like a long prefill, then remember the messages."""
        time.sleep(self.warm_s)
        super().warm(messages)


class MarkedTts(FakeTts):
    """FakeTts that notes each synthesis as it starts in the KITSU_FAKE_MARK file (tests wait for it)."""

    def synthesize(self, text: str, speed: float = 1.0) -> Audio:
        """Note the sentence, then synthesize it."""
        mark = os.environ.get("KITSU_FAKE_MARK")
        if mark:
            with open(mark, "a", encoding="utf-8") as file:
                file.write(text + "\n")
        return super().synthesize(text, speed)


def _seconds(name: str, default: float) -> float:
    return float(os.environ.get(name) or default)


def fake_backends(settings: Settings, persona: Persona | None = None) -> Backends:
    """Fakes in place of the real models (same call shape as factory.build_backends)."""
    reply = os.environ.get("KITSU_FAKE_REPLY", "Hello from the fake fox. Nice to see you.")
    llm = BusyLlm([reply] * 1000, _seconds("KITSU_FAKE_TOKEN_S", 0.005), _seconds("KITSU_FAKE_WARM_S", 0.0))
    return Backends(vad=FakeVad(), asr=FakeAsr(["hello kitsu"]), llm=llm,
                    tts=MarkedTts(ms_per_char=20.0, delay_s=_seconds("KITSU_FAKE_TTS_S", 0.0)))


def main() -> None:
    """Run the real CLI with fake models."""
    factory.build_backends = fake_backends
    from kitsu_tui.cli import main as kitsu_main

    kitsu_main(sys.argv[1:])


if __name__ == "__main__":
    main()
