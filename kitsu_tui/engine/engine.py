"""The headless asyncio engine: owns the backends, the listener, the turn queue, playback and modules."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
import time
from collections import deque
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from kitsu_tui.audio.base import AudioInput, AudioOutput
from kitsu_tui.backends.base import BackendError, Backends, TtsBackend
from kitsu_tui.backends.worker import ModelWorker
from kitsu_tui.config.persona import Persona, load_persona
from kitsu_tui.config.settings import Settings
from kitsu_tui.engine.bus import EventBus
from kitsu_tui.engine.commands import EngineCommands
from kitsu_tui.engine.events import (
    Event,
    ModerationDecided,
    ModuleState,
    ModuleStateChanged,
    Notice,
    PipelineState,
    PipelineStateChanged,
    PlaybackStarted,
    Source,
    SpeechStarted,
    StageError,
    TurnCompleted,
    TurnRejected,
    TurnStarted,
)
from kitsu_tui.engine.hold import PreAirHold
from kitsu_tui.engine.hygiene import RECENT_REPLIES
from kitsu_tui.engine.listener import Listener, Utterance
from kitsu_tui.engine.modules import Module
from kitsu_tui.engine.player import Player
from kitsu_tui.engine.prompt import PromptBuilder
from kitsu_tui.engine.turns import Turn, TurnRunner

if TYPE_CHECKING:
    from kitsu_tui.safety.moderator import Decision as InputDecision

log = logging.getLogger(__name__)

CORE_MODULES = ("vad", "asr", "llm", "tts")
NO_DEFLECT_RULES = frozenset({"length", "empty", "duplicate", "rate", "spam", "script"})
"""Input blocks that are not about content: no deflection line for them."""
DEFLECT_EVERY_S = 30.0
"""At most one deflection line this often."""


class Engine(EngineCommands):
    """Runs the live show headlessly; every consumer reads `bus`, every command goes through methods."""

    def __init__(self, settings: Settings, persona: Persona, backends: Backends, output: AudioOutput,
                 inputs: list[AudioInput] | None = None, moderator: Any = None, memory: Any = None,
                 analyzer: Any = None) -> None:
        self.settings = settings
        self.persona = persona
        self.backends = backends
        self.bus = EventBus()
        self.moderator = moderator
        self.memory = memory
        self.inputs = list(inputs or [])
        self.vad_worker = ModelWorker("vad")
        self.asr_worker = ModelWorker("asr", threads=2)  # partials never delay the final transcript
        self.llm_worker = ModelWorker("llm")
        self.tts_worker = ModelWorker("tts", threads=settings.tts.workers)
        self.io_worker = ModelWorker("io")
        self.tts_factory: Callable[[Persona], TtsBackend] | None = None
        """Builds the TTS for a persona's voice (set by bootstrap) so persona switches change voice."""
        self.player = Player(output, self.emit, analyzer)
        self.hold = PreAirHold(settings.hold, self.emit)
        """The pre-air hold: sentences under review or a broadcast delay wait here for the operator."""
        self.prompt = PromptBuilder(self)
        self.generation = 0
        self.state = PipelineState.LOADING
        self.last_activity = time.monotonic()
        """When something last happened (speech, a finished turn); drives idle talk."""
        self.idle_turns = 0
        """Idle turns spoken since the last real input."""
        self._announced_state: tuple[PipelineState, bool, bool, bool] | None = None
        self.muted = self.paused = self.panicked = False
        self._last_deflect = -DEFLECT_EVERY_S
        self.module_states: dict[str, tuple[ModuleState, str]] = {}
        self.modules: dict[str, Module] = {}
        self.history: list[tuple[str, str]] = []
        self.recent_replies: deque[str] = deque(maxlen=RECENT_REPLIES)
        """What the persona said in its last replies (the repetition guard drops sentences said again)."""
        self.pending: asyncio.Queue[Turn] = asyncio.Queue()
        self.current: TurnRunner | None = None
        self._tentative: Turn | None = None
        self.completing = False
        """True while a finished turn is being stored (memory, recording) before TurnCompleted."""
        self.records: list[dict[str, Any]] = []
        self._speech_gates: dict[str, Callable[[], str | None]] = {}
        self._turn_ids = 0
        self._tasks: list[asyncio.Task[Any]] = []
        self.listen_tasks: list[asyncio.Task[Any]] = []
        self._recording: dict[int, list[np.ndarray]] = {}
        self._loaded = asyncio.Event()
        self._idle = asyncio.Event()
        self._idle.set()

    # --- lifecycle ------------------------------------------------------------------------

    def emit(self, event: Event) -> None:
        """Publish an event to every consumer."""
        self.bus.emit(event)
        if isinstance(event, ModerationDecided) and event.action != "allow":
            log.info("moderation %s %s: rule=%s turn=%s hash=%s (%s)", event.stage, event.action, event.rule,
                     event.turn_id, event.text_hash, event.detail)
        if isinstance(event, PlaybackStarted) and self.current is not None:
            self._set_state(PipelineState.SPEAKING)
        elif isinstance(event, SpeechStarted | TurnCompleted):
            self.last_activity = time.monotonic()
            if isinstance(event, SpeechStarted) or event.record.get("author") != "idle":
                self.idle_turns = 0

    async def _idle_loop(self) -> None:
        """Let the persona talk on its own after a quiet spell (persona [idle]), a few times in a row at most."""
        await self._loaded.wait()
        rng = random.Random()
        while True:
            await asyncio.sleep(1.0)
            idle = self.persona.idle
            quiet = time.monotonic() - self.last_activity
            if (not idle.enabled or quiet < idle.idle_after_s or self.idle_turns >= idle.max_in_a_row
                    or self.current is not None or not self.pending.empty() or self.player.busy
                    or self.paused or self.panicked or self.muted or not self.module_on("tts")):
                continue
            choice = idle.pick(rng)
            if choice is None:
                continue
            kind, text = choice
            self.idle_turns += 1
            self.last_activity = time.monotonic()
            if kind == "say":
                self.submit_text(text, Source.SAY, "idle")
            elif self.module_on("llm"):
                self.submit_text(text, Source.OPERATOR, "idle")

    def spawn(self, coro: Any, name: str) -> asyncio.Task[Any]:
        """Start a long-lived task whose handle the engine keeps (and cancels on stop)."""
        task = asyncio.get_running_loop().create_task(coro, name=name)
        self._tasks.append(task)
        task.add_done_callback(self._task_done)
        return task

    def _task_done(self, task: asyncio.Task[Any]) -> None:
        if task in self._tasks:
            self._tasks.remove(task)
        if not task.cancelled() and task.exception() is not None:
            exc = task.exception()
            log.error("task %s died: %s", task.get_name(), exc, exc_info=exc)
            self.emit(StageError(stage=task.get_name(), message=str(exc)))

    async def start(self, wait_loaded: bool = True) -> None:
        """Start playback, load models (in their threads), then listen to the inputs and run turns."""
        try:
            self.player.start()
            self.set_module_state("speaker", ModuleState.ON, self.player.output.name)
        except Exception as exc:
            self.set_module_state("speaker", ModuleState.ERROR, str(exc))
            self.notice("error", f"audio output unavailable: {exc}")
            raise
        loader = self.spawn(self._load_models(), "kitsu-load")
        self.spawn(self._turn_loop(), "kitsu-turns")
        self.spawn(self._idle_loop(), "kitsu-idle")
        if wait_loaded:
            await loader

    async def _load_models(self) -> None:
        self._set_state(PipelineState.LOADING)
        workers = {"vad": self.vad_worker, "asr": self.asr_worker, "llm": self.llm_worker, "tts": self.tts_worker}
        for name in ("vad", "tts", "llm", "asr"):
            backend = getattr(self.backends, name)
            self.set_module_state(name, ModuleState.LOADING)
            started = time.monotonic()
            try:
                await workers[name].call(backend.load)
                if name == "llm":
                    await self.prompt.refresh_notes("")  # restored summaries from the last session
                    await self.llm_worker.call(backend.warm, await self.prompt.conversation())
                self.set_module_state(name, ModuleState.ON, f"loaded in {time.monotonic() - started:.1f}s")
            except Exception as exc:
                if isinstance(exc, BackendError):
                    log.error("%s failed to load: %s", name, exc)
                else:
                    log.exception("%s failed to load", name)
                self.set_module_state(name, ModuleState.ERROR, str(exc))
                self.notice("error", f"{name}: {exc}")
        self._loaded.set()
        self._set_state(self._resting_state())
        for source in self.inputs:
            self.listen_tasks.append(self.spawn(self._listen(source), f"kitsu-listen-{source.name}"))

    async def wait_inputs_done(self) -> None:
        """Return once every audio input (e.g. WAV files) has ended."""
        await self._loaded.wait()
        await asyncio.gather(*self.listen_tasks, return_exceptions=True)

    async def _listen(self, source: AudioInput) -> None:
        listener = Listener(
            self.backends.vad, self.backends.asr, self.vad_worker, self.asr_worker, self.settings.vad,
            self.settings.asr, self.emit, self._on_utterance, self.persona.asr_hotwords, self._listening,
            on_tentative=self._on_tentative, on_tentative_cancelled=self._on_tentative_cancelled,
        )
        self.set_module_state("mic", ModuleState.ON, source.name)
        try:
            await listener.run(source)
        except Exception as exc:
            log.exception("input %s failed", source.name)
            self.set_module_state("mic", ModuleState.ERROR, str(exc))
            self.notice("error", f"microphone: {exc}")

    async def stop(self) -> None:
        """Stop turns and tasks, then modules (memory last used by them), inputs, playback and worker threads."""
        self.interrupt("shutdown")
        for source in self.inputs:
            with contextlib.suppress(Exception):
                source.close()
        tasks = list(self._tasks)
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        for module in list(self.modules.values()):
            with contextlib.suppress(Exception):
                await module.stop()
        await self.player.close()
        if self.memory is not None:
            with contextlib.suppress(Exception):
                await self.memory.close()
        workers = (self.vad_worker, self.asr_worker, self.llm_worker, self.tts_worker, self.io_worker)
        results = await asyncio.gather(*(worker.close() for worker in workers))
        if not all(results):
            log.warning("a model thread was still busy at shutdown")
        self._set_state(PipelineState.STOPPED)

    async def wait_loaded(self) -> None:
        """Return once every model finished loading (or failed)."""
        await self._loaded.wait()

    @property
    def busy(self) -> bool:
        """A turn is running, being stored, or waiting."""
        return self.current is not None or self.completing or not self.pending.empty()

    def llm_in_use(self) -> bool:
        """A turn is generating or waiting for the LLM (safe to call from the LLM's thread: plain reads)."""
        current = self.current
        return not self.pending.empty() or (current is not None and current.generating)

    async def wait_idle(self) -> None:
        """Return once no turn is running or waiting."""
        while True:
            await self._idle.wait()
            await asyncio.sleep(0)
            if self._idle.is_set() and self.pending.empty():
                return

    # --- state ----------------------------------------------------------------------------

    def set_module_state(self, name: str, state: ModuleState, reason: str = "") -> None:
        """Record and announce a module's state."""
        self.module_states[name] = (state, reason)
        self.emit(ModuleStateChanged(module=name, state=state, reason=reason))

    def module_on(self, name: str) -> bool:
        """True when the module is loaded/connected and enabled."""
        return self.module_states.get(name, (ModuleState.OFF, ""))[0] == ModuleState.ON

    def notice(self, level: str, message: str) -> None:
        """Tell the operator something in one line."""
        getattr(log, "error" if level == "error" else "warning" if level == "warning" else "info")(message)
        self.emit(Notice(level=level, message=message))

    def _listening(self) -> bool:
        return self.module_on("asr") and self.module_on("vad") and not (self.muted or self.paused or self.panicked)

    def _resting_state(self) -> PipelineState:
        if self.panicked:
            return PipelineState.PANIC
        if self.paused:
            return PipelineState.PAUSED
        if self.muted:
            return PipelineState.MUTED
        if self.current is not None:
            return PipelineState.SPEAKING if self.player.busy else PipelineState.THINKING
        return PipelineState.LISTENING if self._loaded.is_set() else PipelineState.LOADING

    def _set_state(self, state: PipelineState) -> None:
        announced = (state, self.muted, self.paused, self.panicked)
        if announced == self._announced_state:
            return
        self._announced_state = announced
        self.state = state
        self.emit(PipelineStateChanged(state=state, muted=self.muted, paused=self.paused, panic=self.panicked))

    def refresh_state(self) -> None:
        """Recompute and announce the pipeline state."""
        self._set_state(self._resting_state())

    # --- turns ----------------------------------------------------------------------------

    def next_turn_id(self) -> int:
        """A fresh turn id."""
        self._turn_ids += 1
        return self._turn_ids

    def _on_tentative(self, utt: Utterance) -> None:
        """An early transcript during the endpointing silence: start the reply now, hold its audio."""
        if (not self.settings.engine.speculative_reply or self._tentative is not None or self.busy
                or self.panicked or self.paused or not self.module_on("llm")):
            return
        turn = Turn(self.next_turn_id(), Source.VOICE, utt.text, arrived=utt.speech_end,
                    speech_start=utt.speech_start, utterance_id=utt.utterance_id,
                    confirmed=asyncio.get_running_loop().create_future())
        self._tentative = turn
        self._enqueue(turn)

    def _on_tentative_cancelled(self, utterance_id: int) -> None:
        turn = self._tentative
        if turn is not None and turn.utterance_id == utterance_id:
            self._tentative = None
            self._discard(turn, "speech went on")

    def _discard(self, turn: Turn, reason: str) -> None:
        """Drop a speculative reply: it is never heard and leaves no record."""
        turn.discarded = True
        if turn.confirmed is not None and not turn.confirmed.done():
            turn.confirmed.set_result(False)
        if self.current is not None and self.current.turn is turn:
            self.interrupt(reason)

    async def _on_utterance(self, utt: Utterance) -> None:
        tentative = self._tentative
        if tentative is not None and tentative.utterance_id == utt.utterance_id:
            self._tentative = None
            if utt.text and utt.text == tentative.text:
                tentative.endpointed_at, tentative.asr_ms = utt.endpointed_at, round(utt.asr_ms, 1)
                if self.admit(tentative):
                    assert tentative.confirmed is not None
                    tentative.confirmed.set_result(True)
                else:
                    self._discard(tentative, "refused")
                return
            self._discard(tentative, "transcript changed")
        if not utt.text:
            return
        if self.current is not None and not self._barge_in_allowed(utt.text):
            log.info("ignored speech while speaking: %r", utt.text)
            return
        turn = Turn(self.next_turn_id(), Source.VOICE, utt.text, arrived=utt.speech_end,
                    speech_start=utt.speech_start, endpointed_at=utt.endpointed_at, asr_ms=round(utt.asr_ms, 1))
        if not self.admit(turn):
            return
        if self.current is not None:
            self.interrupt("barge-in")
        self._enqueue(turn)

    def _barge_in_allowed(self, text: str) -> bool:
        mode = self.settings.engine.barge_in
        if mode == "interrupt":
            return True
        if mode == "ignore":
            return False
        words = [w for w in text.lower().split() if any(c.isalnum() for c in w)]
        if len(words) < self.settings.engine.barge_in_min_words:
            return False
        if self.settings.engine.echo_guard and self.current is not None:
            said = {w.strip(".,!?;:\"'").lower() for w in self.current.turn.reply.split()}
            overlap = sum(1 for w in words if w.strip(".,!?;:\"'") in said) / len(words)
            if overlap >= 0.6:
                return False  # the mic is hearing kitsu's own voice
        return True

    def moderate_input(self, text: str, source: Source, author: str = "") -> InputDecision | None:
        """Moderate a line before it becomes a turn (None when moderation is off); a block is emitted here.

        Pass an allowed decision on to submit_text(decision=...) so the line is never checked twice
        (a second check would count it twice against the rate limit and block it as a duplicate).
        """
        if self.moderator is None:
            return None
        decision: InputDecision = self.moderator.check_input(text, str(source), author,
                                                             family_friendly=self.persona.family_friendly,
                                                             language=self.persona.language)
        if not decision.allowed:
            self._deflect(source, decision.rule)
            self.emit(ModerationDecided(stage="input", action=decision.action, rule=decision.rule,
                                        text=decision.text, detail=decision.detail, author=author,
                                        text_hash=decision.digest, ms=decision.ms))
        return decision

    def admit(self, turn: Turn, decision: InputDecision | None = None) -> bool:
        """Apply input moderation (or reuse `decision` from moderate_input) and module/panic rules.

        Emits TurnRejected when refused.
        """
        reason = ""
        if self.panicked:
            reason = "panic is engaged"
        elif turn.source not in (Source.SAY,) and not self.module_on("llm"):
            state, why = self.module_states.get("llm", (ModuleState.OFF, ""))
            reason = f"llm is {state}" + (f" ({why})" if why and state == ModuleState.ERROR else "")
        elif turn.source != Source.SAY and (self.moderator is not None or decision is not None):
            if decision is None:
                decision = self.moderator.check_input(turn.text, str(turn.source), turn.author,
                                                      family_friendly=self.persona.family_friendly,
                                                      language=self.persona.language)
                turn.text = decision.text  # control characters and escapes never travel further
            turn.moderation.append({"stage": "input", "action": decision.action, "rule": decision.rule,
                                    "text": turn.text, "ms": decision.ms, "hash": decision.digest})
            self.emit(ModerationDecided(turn_id=turn.turn_id, stage="input", action=decision.action,
                                        rule=decision.rule, text=turn.text, detail=decision.detail,
                                        author=turn.author, text_hash=decision.digest, ms=decision.ms))
            if not decision.allowed:
                reason = f"blocked by moderation ({decision.rule})"
                self._deflect(turn.source, decision.rule)
            elif not decision.remember:
                turn.flagged = True  # a role-play framing: answered once, never kept in history or memory
        if reason:
            self.emit(TurnRejected(turn_id=turn.turn_id, source=turn.source, text=turn.text, reason=reason,
                                   author=turn.author))
            record = turn.record()
            record["rejected"] = reason
            self.records.append(record)
            self.emit(TurnCompleted(turn_id=turn.turn_id, record=record))
            return False
        return True

    def _deflect(self, source: Source, rule: str) -> None:
        """Speak the persona's deflect line (never the blocked text) for a chat line blocked for its content."""
        if (source != Source.CHAT or rule in NO_DEFLECT_RULES or not self.settings.moderation.deflect_blocked_chat
                or not self.persona.deflect_line or self.panicked):
            return
        now = time.monotonic()
        if now - self._last_deflect < DEFLECT_EVERY_S or self.busy:
            return  # one deflection at a time, and never a queue of them during a raid
        self._last_deflect = now
        self.submit_text(self.persona.deflect_line, Source.SAY, "deflect")

    def _enqueue(self, turn: Turn) -> None:
        limit = self.settings.engine.max_pending_turns
        while self.pending.qsize() >= limit:
            dropped = self.pending.get_nowait()
            self.emit(TurnRejected(turn_id=dropped.turn_id, source=dropped.source, text=dropped.text,
                                   reason="queue full", author=dropped.author))
        self._idle.clear()
        self.pending.put_nowait(turn)

    async def _turn_loop(self) -> None:
        await self._loaded.wait()
        while True:
            turn = await self.pending.get()
            if turn.discarded:
                if self.pending.empty():
                    self._idle.set()
                continue
            self._idle.clear()
            while self.paused and not self.panicked:  # noqa: ASYNC110 - pause is rare; a poll keeps it simple
                await asyncio.sleep(0.05)
            if self.panicked:
                self._idle.set()
                continue
            turn.generation = self.generation
            runner = TurnRunner(self, turn)
            self.current = runner
            self.emit(TurnStarted(turn_id=turn.turn_id, source=turn.source, text=turn.text, author=turn.author,
                                  arrived=turn.arrived))
            self._set_state(PipelineState.THINKING)
            try:
                await runner.run()
            finally:
                self.current = None  # memory summaries may use the LLM now
                self.completing = True
                try:
                    await self._complete(turn)
                finally:
                    self.completing = False
                if self.pending.empty():
                    self._idle.set()
                self.refresh_state()

    async def _complete(self, turn: Turn) -> None:
        turn.mark("end")
        if turn.discarded:
            self._recording.pop(turn.turn_id, None)
            return
        record = turn.record()
        if turn.flagged:
            # A blocked, held or dumped sentence: the exchange that provoked it never returns to the LLM, and
            # memory keeps only what was actually heard (never the input that set it up).
            record["flagged"] = True
        else:
            self.history[:] = self.next_history(turn, record["spoken"])
        if record["spoken"]:
            self.recent_replies.append(record["spoken"])
        if self.memory is not None:
            try:
                if turn.source != Source.SAY and not turn.flagged:
                    await self.memory.add_turn(turn.turn_id, "user", turn.text, str(turn.source), turn.author)
                if record["spoken"] or not turn.flagged:
                    await self.memory.add_turn(turn.turn_id, "assistant", record["spoken"], str(turn.source))
                if not turn.prepared:  # otherwise the summary runs while the next reply plays
                    await self.memory.maybe_summarize(self.prompt.summarize)
            except Exception as exc:
                log.exception("memory write failed")
                self.emit(StageError(turn_id=turn.turn_id, stage="memory", message=str(exc)))
        if self.module_on("llm") and self.pending.empty() and turn.warmed_for != record["spoken"]:
            self.spawn(self._warm_conversation(f"{turn.text} {record['spoken']}"), "kitsu-llm-warm")
        chunks = self._recording.pop(turn.turn_id, None)
        if chunks and self.settings.audio.record_dir is not None:
            path = Path(self.settings.audio.record_dir) / f"turn-{turn.turn_id:04d}.wav"
            record["recording"] = str(path)
            rate = self.backends.tts.sample_rate
            await self.io_worker.call(_write_wav, path, np.concatenate(chunks), rate)
        self.records.append(record)
        self.emit(TurnCompleted(turn_id=turn.turn_id, record=record))

    def next_history(self, turn: Turn, spoken: str) -> list[tuple[str, str]]:
        """The history once `turn` is over and `spoken` was heard."""
        history = list(self.history)
        if turn.source != Source.SAY:
            history.append(("user", turn.text))  # no "login: text" line: the model would copy the label
        if spoken:
            history.append(("assistant", spoken))
        keep = max(2, self.settings.llm.history_turns * 2)
        if len(history) > keep:
            # Trim in blocks, not one exchange per turn: the prompt prefix (and llama.cpp's KV cache of it)
            # then stays valid for several turns instead of being re-read in full on every turn.
            del history[: len(history) - max(2, keep // 2)]
        return history

    async def prepare_next(self, turn: Turn, spoken: str) -> None:
        """While a reply plays (its LLM and TTS work done): write a due memory summary, then fill the LLM's cache
        with the conversation as it will be once `spoken` has been heard.

        Done after the turn instead, either could hold the LLM for seconds just as the next message arrives.
        """
        if not self.module_on("llm"):
            return
        try:
            if self.memory is not None:
                await self.memory.maybe_summarize(self.prompt.summarize)
            if not self.pending.empty():
                return  # the next turn is already here: it needs the LLM now
            history = list(self.history) if turn.flagged else self.next_history(turn, spoken)
            stored = 0 if turn.flagged else int(turn.source != Source.SAY) + int(bool(spoken))  # rows memory adds
            await self.prompt.refresh_notes(f"{turn.text} {spoken}", exclude_recent=len(history) - stored)
            await self.llm_worker.call(self.backends.llm.warm, await self.prompt.conversation(history))
            turn.warmed_for = spoken
        except Exception:
            log.warning("preparing the next turn failed", exc_info=True)

    async def _warm_conversation(self, topic: str = "") -> None:
        """Recall memory for the topic and pre-fill the LLM's KV cache with the conversation while idle."""
        try:
            await self.prompt.refresh_notes(topic)
            await self.llm_worker.call(self.backends.llm.warm, await self.prompt.conversation())
        except Exception:
            log.warning("LLM warm-up after the turn failed", exc_info=True)

    def recorder_add(self, turn: Turn, audio: np.ndarray, rate: int) -> None:
        """Keep a reply's audio for --record."""
        if self.settings.audio.record_dir is not None:
            self._recording.setdefault(turn.turn_id, []).append(audio)

    async def wait_until_speech_allowed(self, runner: TurnRunner) -> None:
        """Hold speech while a gate (e.g. an OBS 'BRB' scene) or pause is active."""
        announced = False
        while not runner.stale:
            reasons = [r for gate in self._speech_gates.values() if (r := _safe_gate(gate))]
            if not reasons and not self.paused:
                break
            if not announced:
                announced = True
                self.notice("info", f"speech held: {', '.join(reasons) or 'paused'}")
            await asyncio.sleep(0.1)

    def add_speech_gate(self, name: str, gate: Callable[[], str | None]) -> None:
        """Register a gate: while it returns a reason string, kitsu does not start speaking."""
        self._speech_gates[name] = gate

    def remove_speech_gate(self, name: str) -> None:
        """Drop a gate."""
        self._speech_gates.pop(name, None)

    async def build_prompt(self, turn: Turn) -> list[Any]:
        """The LLM messages for a turn (persona, memory, history, input)."""
        return await self.prompt.messages(turn)

    def new_mood_filter(self) -> Any:
        """A fresh streaming mood-tag filter for a reply."""
        from kitsu_tui.engine.mood import MoodFilter

        return MoodFilter(self.persona.mood_names)

    def moderate_output(self, sentence: str, context: str = "") -> Any:
        """The moderation decision for one reply sentence (`context`: the message it answers), None when off."""
        if self.moderator is None:
            return None
        return self.moderator.check_output(sentence, self.persona.family_friendly, self.persona.language, context)

    async def switch_persona(self, name: str) -> None:
        """Load and switch persona; a broken file raises ConfigError and keeps the current one."""
        persona = await self.io_worker.call(load_persona, self.settings.paths.personas_dir, name)
        persona.build_system_prompt(self.settings.paths.prompts_dir)  # validate prompt parts now
        old, new = self.persona.voice, persona.voice
        if (old.backend, old.model, old.speaker) != (new.backend, new.model, new.speaker) and self.tts_factory:
            tts = self.tts_factory(persona)
            await self.tts_worker.call(tts.load)  # a voice that fails to load keeps the old persona
            self.backends.tts = tts
        self.persona = persona
        self.history.clear()
        from kitsu_tui.engine.events import PersonaChanged

        self.emit(PersonaChanged(name=persona.name, display_name=persona.shown_name))
        if self.module_on("llm"):
            await self.llm_worker.call(self.backends.llm.warm, await self.prompt.conversation())


def _safe_gate(gate: Callable[[], str | None]) -> str | None:
    try:
        return gate()
    except Exception:
        log.exception("speech gate failed")
        return None


def _write_wav(path: Path, audio: np.ndarray, rate: int) -> None:
    from kitsu_tui.audio.wav import write_wav

    path.parent.mkdir(parents=True, exist_ok=True)
    write_wav(path, audio, rate)
