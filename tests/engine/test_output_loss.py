"""The audio output vanishing mid-show: turns finish unheard, the speaker is in error once, the device comes back."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

import numpy as np
import pytest

from kitsu_tui.audio.outputs import NullOutput
from kitsu_tui.backends.fakes import FakeLlm, FakeTts
from kitsu_tui.engine import player as player_module
from kitsu_tui.engine.engine import Engine
from kitsu_tui.engine.events import ModuleState, Source
from kitsu_tui.engine.player import LOST_REASON, SPEAKER, Player
from kitsu_tui.memory import MemoryStore
from kitsu_tui.memory.module import MemoryModule

from .conftest import EngineFactory, Recorder, wait_for_event

FIRST = "The first sentence is heard by everyone."
SECOND = "The second sentence starts but the headset is unplugged."
THIRD = "The third sentence is never heard at all."
AFTER = "Now the speakers work again for everybody."


def null_output(engine: Engine) -> NullOutput:
    """The engine's output, a NullOutput in these tests."""
    output = engine.player.output
    assert isinstance(output, NullOutput)
    return output


def speaker_changes(rec: Recorder) -> list[ModuleState]:
    """Every state the speaker module was given, in order."""
    return [e.state for e in rec.of("ModuleStateChanged") if e.module == SPEAKER]


def notices(rec: Recorder, words: str) -> list[str]:
    """Notices whose message contains `words`."""
    return [e.message for e in rec.of("Notice") if words in e.message]


async def wait_until_playing(rec: Recorder, turn_id: int, index: int, limit_s: float = 10) -> None:
    """Wait until sentence `index` of the turn has started playing."""
    async def poll() -> None:
        while not any(e.turn_id == turn_id and e.index == index for e in rec.of("PlaybackStarted")):  # noqa: ASYNC110
            await asyncio.sleep(0.01)
    await asyncio.wait_for(poll(), limit_s)


async def test_output_lost_mid_reply_then_restored(make_engine: EngineFactory, tmp_path: Path) -> None:
    """Lost mid-reply: the turn ends promptly, memory keeps only the heard words, one error notice; restored: heard."""
    store = MemoryStore(tmp_path / "memory.sqlite3")
    llm = FakeLlm([f"{FIRST} {SECOND} {THIRD}", "This reply is shown as text only.", AFTER])
    engine, rec = await make_engine(llm=llm, tts=FakeTts(ms_per_char=25))
    engine.player.report_to(engine.show.set_module_state, engine.show.notice)
    engine.register_module(MemoryModule(store))
    await engine.toggle_module("memory", True)
    output = null_output(engine)

    assert engine.submit_text("tell me a story", Source.CHAT, "alice")
    await wait_until_playing(rec, 1, 1)
    await asyncio.sleep(0.3)
    output.lose()
    lost_at = time.monotonic()
    await asyncio.wait_for(engine.wait_idle(), 3)
    assert time.monotonic() - lost_at < 1.0, "the turn does not wait for audio that can never play"
    spoken = engine.records[-1]["spoken"]
    assert spoken.startswith(FIRST) and SECOND not in spoken and "third" not in spoken.lower()
    assert engine.module_states[SPEAKER][0] == ModuleState.ERROR
    assert "lost" in engine.module_states[SPEAKER][1]
    assert [e.reason for e in rec.of("SentenceStateChanged") if e.turn_id == 1 and e.index == 2][-1] == LOST_REASON
    assert ("assistant", spoken) in await store.recent(5), "memory keeps what was heard, not the reply"

    assert engine.submit_text("are you still there", Source.CHAT, "bob")
    await asyncio.wait_for(engine.wait_idle(), 3)
    assert engine.records[-1]["spoken"] == "", "nothing is heard while the device is gone"
    assert engine.records[-1]["reply"] == "This reply is shown as text only."
    assert [role for role, _ in await store.recent(5)][-1] == "user", "the unheard reply is not stored as spoken"
    assert len(notices(rec, "speakers lost")) == 1

    output.restore()
    await asyncio.wait_for(_speaker_on(engine), 2)
    assert engine.module_states[SPEAKER][1] == output.name
    assert engine.submit_text("how about now", Source.CHAT, "carol")
    await asyncio.wait_for(engine.wait_idle(), 10)
    assert engine.records[-1]["spoken"] == AFTER
    heard = [e for e in rec.of("PlaybackFinished") if e.turn_id == 3]
    assert heard and not heard[-1].interrupted
    assert speaker_changes(rec)[-2:] == [ModuleState.ERROR, ModuleState.ON]
    assert len(notices(rec, "speakers lost")) == 1 and len(notices(rec, "speakers back")) == 1


async def _speaker_on(engine: Engine) -> None:
    while engine.module_states[SPEAKER][0] != ModuleState.ON:  # noqa: ASYNC110 - polling the engine's state
        await asyncio.sleep(0.01)


async def test_loss_before_a_turn_reaches_the_bus_without_the_show_wired_in(make_engine: EngineFactory) -> None:
    """Without the show wired in, the loss still reaches the bus as a speaker error and one notice."""
    engine, rec = await make_engine(llm=FakeLlm(["Nobody hears this line."]))
    null_output(engine).lose()
    await wait_for_event(rec, "Notice", 2)
    assert engine.submit_text("hello there", Source.CHAT, "dave")
    await asyncio.wait_for(engine.wait_idle(), 3)
    assert engine.records[-1]["spoken"] == ""
    assert [e.state for e in rec.of("ModuleStateChanged") if e.module == SPEAKER][-1] == ModuleState.ERROR
    assert len(notices(rec, "speakers lost")) == 1


class SilentStall(NullOutput):
    """A sink that stops playing without saying so (its error stays None); counts reopen tries."""

    def __init__(self) -> None:
        super().__init__(16000)
        self.reopens: list[float] = []

    @property
    def error(self) -> str | None:
        """Never reports anything: only the player's stall watch can notice."""
        return None

    def reopen(self) -> None:
        """Count the try, then behave like a NullOutput (still gone until restore())."""
        self.reopens.append(time.monotonic())
        super().reopen()


async def test_stalled_playback_is_noticed_and_retried_with_backoff(monkeypatch: pytest.MonkeyPatch) -> None:
    """Audio queued but not advancing for a second is a loss; reopen tries double up to the cap; restore ends it."""
    monkeypatch.setattr(player_module, "RETRY_FIRST_S", 0.25)
    monkeypatch.setattr(player_module, "RETRY_MAX_S", 1.0)
    output, rec = SilentStall(), Recorder()
    player = Player(output, rec)
    player.start()
    try:
        output.lose()
        segment = player.enqueue(7, 0, "a sentence nobody hears", np.full(8000, 0.1, dtype=np.float32), 16000)
        started = time.monotonic()
        assert await asyncio.wait_for(segment.done, 3) == ""
        assert 0.9 <= time.monotonic() - started <= 1.6
        assert player.lost is not None and "stalled" in player.lost
        await asyncio.sleep(2.9)
        gaps = np.diff(output.reopens)
        assert len(gaps) == 3 and np.allclose(gaps, [0.5, 1.0, 1.0], atol=0.15), gaps
        output.restore()
        await asyncio.sleep(1.2)
        assert player.lost is None and len(output.reopens) == 5
        again = player.enqueue(8, 0, "heard again", np.full(1600, 0.1, dtype=np.float32), 16000)
        assert await asyncio.wait_for(again.done, 2) == "heard again"
        assert [e.state for e in rec.of("ModuleStateChanged")] == [ModuleState.ERROR, ModuleState.ON]
    finally:
        await player.close()
