"""The real Engine with the shipped moderation rules on quick deterministic models, for integration tests."""

from __future__ import annotations

from pathlib import Path

from kitsu_tui.audio.outputs import NullOutput
from kitsu_tui.backends.base import Backends
from kitsu_tui.backends.fakes import FakeAsr, FakeLlm, FakeTts, FakeVad
from kitsu_tui.config.persona import Persona
from kitsu_tui.config.settings import Settings
from kitsu_tui.engine.engine import Engine
from kitsu_tui.safety import Moderator

ROOT = Path(__file__).resolve().parents[2]


def real_engine() -> Engine:
    """An Engine with Moderator(data/moderation); its replies differ turn to turn ("Reply N.") and play in ms."""
    settings = Settings().with_values({"paths.personas_dir": ROOT / "personas", "paths.prompts_dir": ROOT / "prompts"})
    backends = Backends(vad=FakeVad(), asr=FakeAsr(),
                        llm=FakeLlm(reply_fn=lambda messages: f"Reply {len(messages)}.", token_delay_s=0.0),
                        tts=FakeTts(ms_per_char=2.0))
    return Engine(settings, Persona(name="Kitsu", system_prompt="You are Kitsu, a fox VTuber."), backends,
                  NullOutput(16000), moderator=Moderator(ROOT / "data" / "moderation"),
                  analyzer=lambda block, rate: (0.0, (0.0, 0.0, 0.0, 0.0, 0.0)))
