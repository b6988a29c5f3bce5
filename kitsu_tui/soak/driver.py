"""Feeds one chat or voice item into a running engine and waits for its consequences, collecting records."""

from __future__ import annotations

import asyncio
import contextlib
import re
import time
from typing import Any

from kitsu_tui.engine.engine import Engine
from kitsu_tui.engine.events import Event, Source, StageError, SystemStatsSampled, TurnCompleted
from kitsu_tui.headless import VoiceSettler
from kitsu_tui.soak.mic import ScriptedMic
from kitsu_tui.soak.plan import ChatItem, Item, VoiceItem
from kitsu_tui.soak.summary import SoakTally


def normalize_transcript(text: str) -> str:
    """Lower case words only, for comparing what was heard on replay."""
    return " ".join(re.findall(r"[a-z0-9']+", text.lower()))


class TurnDriver:
    """Sends items one at a time (chat via submit_text, voice via the scripted mic) and waits until settled."""

    def __init__(self, engine: Engine, tally: SoakTally, mic: ScriptedMic | None = None,
                 turn_timeout_s: float = 120.0) -> None:
        self.engine = engine
        self.tally = tally
        self.mic = mic
        self.turn_timeout_s = turn_timeout_s
        self.settler = VoiceSettler(engine) if mic is not None else None
        self.last_first_audio_ms: float | None = None
        self.latest_rss_mb = 0.0
        self.t0 = time.monotonic()
        """When feeding started: records get `at_s` (seconds since then) and RSS samples are timed from it."""
        engine.bus.add_listener(self._on_event)

    def _on_event(self, event: Event) -> None:
        """Collect completed turns (copied), stage errors and RSS samples."""
        if isinstance(event, TurnCompleted):
            record = dict(event.record)
            record["at_s"] = round(time.monotonic() - self.t0, 2)
            self.tally.records.append(record)
            first = (record.get("latency_ms") or {}).get("first_audio")
            if first is not None:
                self.last_first_audio_ms = float(first)
        elif isinstance(event, StageError):
            self.tally.stage_errors.append((event.turn_id, event.stage, event.message))
        elif isinstance(event, SystemStatsSampled):
            self.latest_rss_mb = event.rss_mb
            self.tally.sample_rss(time.monotonic() - self.t0, event.rss_mb)
            self.tally.rss_peak_mb = max(self.tally.rss_peak_mb, event.rss_mb)

    async def feed(self, item: Item) -> list[dict[str, Any]]:
        """Feed one item, wait for the reply to finish playing, and return the records it produced."""
        before = len(self.tally.records)
        if isinstance(item, ChatItem):
            if item.delay > 0:
                await asyncio.sleep(item.delay)
            before = len(self.tally.records)
            self.engine.submit_text(item.text, Source.CHAT, item.user)
            await self._bounded(self._answered())
        else:
            await self._feed_voice(item)
        self.tally.attempted += 1
        produced = self.tally.records[before:]
        for record in produced:
            record["input"] = item.describe()
        if isinstance(item, VoiceItem):
            self._check_voice(item, produced)
        return produced

    async def _answered(self) -> None:
        """Engine idle with no turn waiting for a failing LLM (those are answered once it is back)."""
        await self.engine.wait_idle()
        while self.engine.queue.waiting:
            await asyncio.sleep(0.1)
            await self.engine.wait_idle()

    async def _feed_voice(self, item: VoiceItem) -> None:
        """Speak the clip into the mic in real time, then wait for VAD, ASR and the reply to settle."""
        if self.mic is None or self.settler is None:
            raise RuntimeError("voice items need the scripted microphone")
        if item.delay > 0:
            await asyncio.sleep(item.delay)
        await self._bounded(self.mic.speak(item.audio))
        await self._bounded(self._settle())

    async def _settle(self) -> None:
        """VoiceSettler, then engine idle: the settler sees current=None while the engine still finishes the
        turn (memory summary) before TurnCompleted, which would file the record under the next item."""
        assert self.settler is not None
        await self.settler.wait()
        await self.engine.wait_idle()

    def _check_voice(self, item: VoiceItem, produced: list[dict[str, Any]]) -> None:
        """Count an utterance that made no turn, and (on replay) one heard differently than when recorded."""
        voice = [r for r in produced if r.get("source") == "voice"]
        if not voice:
            self.tally.extra_errors["voice:no_turn"] += 1
        if item.expect is None:
            return
        heard = " ".join(str(r.get("transcript", "")) for r in voice)
        if normalize_transcript(heard) != normalize_transcript(item.expect):
            self.tally.extra_errors["replay:transcript_mismatch"] += 1
            self.tally.replay_mismatches.append({"file": item.label, "expected": item.expect, "heard": heard})

    async def _bounded(self, awaitable: Any) -> None:
        """Await with the per-turn timeout; on timeout count it, interrupt the turn and drop the queue."""
        try:
            await asyncio.wait_for(awaitable, self.turn_timeout_s)
        except TimeoutError:
            self.tally.extra_errors["timeout"] += 1
            self.engine.clear_queue()
            self.engine.interrupt("soak turn timeout")
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self.engine.wait_idle(), 10.0)

    def heard(self, produced: list[dict[str, Any]]) -> str:
        """The transcript of the voice turns an item produced (for recording a session)."""
        return " ".join(str(r.get("transcript", "")) for r in produced if r.get("source") == "voice")
