"""The event loop never stalls over 50 ms while the real models run a voice turn and a chat turn."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from kitsu_tui.audio.inputs import WavFileInput
from kitsu_tui.audio.outputs import NullOutput
from kitsu_tui.backends.base import Backends
from kitsu_tui.config.persona import load_persona
from kitsu_tui.config.settings import Settings
from kitsu_tui.engine.engine import Engine
from kitsu_tui.engine.events import Source

if TYPE_CHECKING:
    from kitsu_tui.backends.asr_whisper import WhisperAsr
    from kitsu_tui.backends.llm_llama import LlamaLlm
    from kitsu_tui.backends.tts_piper import PiperTts
    from kitsu_tui.backends.vad_silero import SileroVad

pytestmark = pytest.mark.models


class LagProbe:
    """Measures how late a 10 ms timer fires on the loop: the worst lateness is the worst stall."""

    def __init__(self, interval_s: float = 0.01) -> None:
        self.interval_s = interval_s
        self.worst_s = 0.0
        self.samples = 0
        self._task: asyncio.Task[None] | None = None

    async def _run(self) -> None:
        while True:
            before = time.perf_counter()
            await asyncio.sleep(self.interval_s)
            self.worst_s = max(self.worst_s, time.perf_counter() - before - self.interval_s)
            self.samples += 1

    def start(self) -> None:
        self._task = asyncio.get_running_loop().create_task(self._run())

    def stop(self) -> None:
        assert self._task is not None
        self._task.cancel()


async def test_loop_never_stalls_over_50ms(real_vad: SileroVad, real_asr: WhisperAsr, real_llm: LlamaLlm, real_tts: PiperTts,
                                           utterance_wav: Path) -> None:
    settings = Settings()
    persona = load_persona(settings.paths.personas_dir, "kitsu")
    engine = Engine(settings, persona, Backends(real_vad, real_asr, real_llm, real_tts),
                    NullOutput(real_tts.sample_rate), inputs=[])
    await engine.start()
    source = WavFileInput([utterance_wav], realtime=True, lead_in_s=0.2, trailing_silence_s=2.5)
    probe = LagProbe()
    probe.start()
    try:
        listen = asyncio.create_task(engine._listen(source))
        await asyncio.wait_for(listen, 30)
        await asyncio.wait_for(engine.wait_idle(), 60)
        assert engine.submit_text("tell me about your tail", Source.CHAT, "viewer")
        await asyncio.wait_for(engine.wait_idle(), 60)
    finally:
        probe.stop()
        await engine.stop()
    sources = [r["source"] for r in engine.records]
    assert sources == ["voice", "chat"], engine.records
    assert all(r["spoken"] for r in engine.records), engine.records
    print(f"worst loop stall {probe.worst_s * 1000:.1f} ms over {probe.samples} samples")
    assert probe.samples > 100
    assert probe.worst_s < 0.050, f"event loop stalled {probe.worst_s * 1000:.1f} ms"
