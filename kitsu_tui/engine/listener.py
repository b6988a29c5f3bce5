"""Turns microphone frames into utterances: VAD with pre-roll, endpointing, partial and speculative ASR."""

from __future__ import annotations

import asyncio
import collections
import contextlib
import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, replace

import numpy as np

from kitsu_tui.audio.base import PIPELINE_RATE, AudioInput, Frame
from kitsu_tui.audio.resample import FrameChunker
from kitsu_tui.backends.base import AsrBackend, AsrResult, SentenceModel, TurnModel, VadBackend
from kitsu_tui.backends.worker import ModelWorker
from kitsu_tui.config.settings import AsrSettings, VadSettings
from kitsu_tui.engine.continuation import Continuations
from kitsu_tui.engine.endpoint import VERDICT_CUES, Cue, required_silence_ms, transcript_cue
from kitsu_tui.engine.events import (
    Event,
    MicLevel,
    SpeechEnded,
    SpeechStarted,
    StageError,
    TranscriptFinal,
    TranscriptPartial,
)
from kitsu_tui.engine.pausejoin import join_tail, lost_words, stopped_at_pause

log = logging.getLogger(__name__)

TAIL_LEAD_FRAMES = 5
"""Frames of the pause kept before the tail's first voiced frame (160 ms at 32 ms: the onset is not clipped)."""
TAIL_MIN_SECONDS = 0.4
"""A tail shorter than this (silence included) is too short to hold words the transcript could have missed."""


@dataclass(frozen=True, slots=True)
class Pause:
    """A long pause inside an utterance: the speech frame where talking resumed and the early transcript taken in it."""

    resumed_at: int
    head: asyncio.Task[AsrResult]


@dataclass(frozen=True, slots=True)
class Tail:
    """The speech frames after an utterance's last long pause, and the early transcript taken in that pause."""

    frames: list[np.ndarray]
    head: asyncio.Task[AsrResult]
    voiced_s: float
    """Seconds of voiced speech in the whole utterance (pause and lead-in silence not counted)."""

    @property
    def samples(self) -> int:
        """How long the tail is, in samples (silence before the voice included)."""
        return sum(frame.size for frame in self.frames)


@dataclass(frozen=True, slots=True)
class Utterance:
    """A finished utterance: its transcript and when the person actually stopped talking."""

    utterance_id: int
    text: str
    speech_start: float
    speech_end: float
    endpointed_at: float
    asr_ms: float
    continues: int = 0
    """The utterance this one goes on from (its reply is taken back and the joined transcript answered); 0 = none."""
    endpoint_rule: str = ""
    """Which rule ended the turn: the transcript cue, the turn model's verdict, and the silence it took."""


class Listener:
    """Consumes frames from an AudioInput and calls on_utterance for each endpointed transcript."""

    def __init__(
        self,
        vad: VadBackend,
        asr: AsrBackend,
        vad_worker: ModelWorker,
        asr_worker: ModelWorker,
        vad_settings: VadSettings,
        asr_settings: AsrSettings,
        emit: Callable[[Event], None],
        on_utterance: Callable[[Utterance], Awaitable[None]],
        hotwords: Callable[[], str],
        enabled: Callable[[], bool],
        on_tentative: Callable[[Utterance], asyncio.Future[float] | None] | None = None,
        on_tentative_cancelled: Callable[[int], None] | None = None,
        turn_model: TurnModel | None = None,
        on_continuation: Callable[[int], bool] | None = None,
        hold_floor: Callable[[int, bool], None] | None = None,
        join_window_ms: int = 0,
        sentence_model: SentenceModel | None = None,
        on_partial: Callable[[str], None] | None = None,
    ) -> None:
        self.vad, self.asr = vad, asr
        self.vad_worker, self.asr_worker = vad_worker, asr_worker
        self.vad_settings, self.asr_settings = vad_settings, asr_settings
        self._emit, self._on_utterance = emit, on_utterance
        self._hotwords, self._enabled = hotwords, enabled
        self._on_tentative, self._on_tentative_cancelled = on_tentative, on_tentative_cancelled
        self._tentative_uid = 0
        frame_ms = vad.frame_samples * 1000 / PIPELINE_RATE
        pre_roll_frames = max(1, int(self.vad_settings.pre_roll_ms / frame_ms))
        self._pre_roll: collections.deque[np.ndarray] = collections.deque(maxlen=pre_roll_frames)
        self._speech: list[np.ndarray] = []
        self._in_speech = False
        self._announced = False
        self._speech_start = 0.0
        self._last_speech = 0.0
        self._voiced_s = 0.0
        self._silence_s = 0.0
        self._utterance_id = 0
        self._partial_task: asyncio.Task[None] | None = None
        self._last_partial_at = 0.0
        self._speculative: tuple[int, asyncio.Task[AsrResult]] | None = None
        self._last_speculation: asyncio.Task[AsrResult] | None = None
        self._pause: Pause | None = None
        """The last long pause inside this utterance: where speech resumed, and the transcript taken in the pause."""
        self._tasks: set[asyncio.Task[None]] = set()
        self._level_at = 0.0
        self.turn_model = turn_model
        self._turn_check: asyncio.Task[float] | None = None
        self.sentence_model = sentence_model
        self._sentence_check: asyncio.Future[float] | None = None
        self._sentence_source = "sentence"
        """Who gave the sentence verdict: the reply's own prompt ("reply") or the sentence model ("sentence")."""
        self._join = Continuations(join_window_ms, on_continuation, hold_floor)
        self._on_partial = on_partial
        """Told each partial transcript that arrives while the person is still talking (not once silence began)."""

    async def run(self, source: AudioInput) -> None:
        """Process frames until the source ends."""
        chunker = FrameChunker(self.vad.frame_samples)  # re-cuts any capture block size into the VAD's frames
        async for frame in source.frames():
            blocks = chunker.push_frame(frame, PIPELINE_RATE)
            try:
                for block in blocks:
                    await self.process(block)
            except Exception as exc:
                log.exception("listener failed on a frame")
                self._emit(StageError(stage="vad", message=f"VAD failed: {exc}"))
                await asyncio.sleep(0.1)

    async def process(self, frame: Frame) -> None:
        """Run VAD on one frame and advance the endpointing state machine."""
        samples = frame.samples
        if not self._enabled():
            if self._in_speech:
                self._reset()
            return
        now = frame.captured_at
        if now - self._level_at >= 0.05:
            self._level_at = now
            rms = float(np.sqrt(np.mean(np.square(samples)))) if samples.size else 0.0
            self._emit(MicLevel(rms=min(1.0, rms * 4)))
        prob = await self.vad_worker.call(self.vad.speech_prob, samples)
        is_speech = prob >= self.vad_settings.threshold
        frame_s = samples.size / PIPELINE_RATE
        if not self._in_speech:
            if is_speech:
                self._in_speech = True
                self._speech = list(self._pre_roll)
                self._speech_start = now - frame_s
                self._last_speech = now
                self._voiced_s = frame_s
                self._silence_s = 0.0
                self._utterance_id += 1
                self._join.speech_began(now - frame_s)
            self._pre_roll.append(samples)
            if self._in_speech:
                self._speech.append(samples)
            return
        self._speech.append(samples)
        still_speech = prob >= max(0.05, self.vad_settings.threshold - 0.15)  # hysteresis
        if still_speech:
            self._note_pause()
            self._last_speech = now
            self._voiced_s += frame_s
            self._silence_s = 0.0
            self._speculative = None  # speech resumed: any early transcript is stale
            self._turn_check = self._sentence_check = None
            self._cancel_tentative()
            if not self._announced and self._voiced_s * 1000 >= self.vad_settings.min_speech_ms:
                self._announced = True
                self._join.confirm()
                self._emit(SpeechStarted(speech_start=self._speech_start, ts=now))
            self._maybe_partial(now)
            return
        self._silence_s += frame_s
        if (
            self.vad_settings.speculative_asr
            and self._announced
            and self._speculative is None
            and self._silence_s * 1000 >= min(self.vad_settings.speculative_after_ms, self.vad_settings.end_silence_ms / 2)
            and (self._last_speculation is None or self._last_speculation.done())  # never pile up ASR runs
        ):
            task = asyncio.create_task(self._transcribe(final=True))
            task.add_done_callback(self._speculation_done)
            self._speculative = (len(self._speech), task)
            self._last_speculation = task
        self._maybe_check_turn()
        if self._silence_s * 1000 >= self._end_silence_ms():
            await self._endpoint(now)

    def _note_pause(self) -> None:
        """Speech resumed: a silence of tail_check_ms or more, with an early transcript taken in it, is remembered
        so the final transcript can be checked for stopping there (the frame just appended starts the tail)."""
        limit = self.asr_settings.tail_check_ms
        if limit and self._silence_s * 1000 >= limit and self._speculative is not None:
            self._pause = Pause(max(0, len(self._speech) - 1 - TAIL_LEAD_FRAMES), self._speculative[1])

    def _end_silence_ms(self) -> float:
        """The silence that ends this utterance, from the early transcript's ending and the turn model's verdict.

        Whisper ends a finished sentence with . ! or ?; "Hello Kitsu," "so I was thinking..." or "a question
        about" is a pause for breath, and cutting there makes kitsu answer half a question (engine/endpoint.py).
        """
        return required_silence_ms(self.vad_settings, self._cue(), self._complete_prob(), self._sentence_prob())

    def _cue(self) -> Cue | None:
        """The early transcript's cue; UNSURE while it is still being transcribed, None without one."""
        spec = self._speculative
        if spec is None or spec[1].cancelled():
            return None
        if not spec[1].done():
            return Cue.UNSURE  # a slow ASR must not let the base silence cut a sentence it has not read yet
        return None if spec[1].exception() is not None else transcript_cue(spec[1].result().text)

    def _complete_prob(self) -> float | None:
        return _settled(self._turn_check)

    def _sentence_prob(self) -> float | None:
        return _settled(self._sentence_check)

    def _maybe_check_sentence(self, text: str) -> None:
        """Ask the sentence model whether an early transcript (unsure or finished-looking) is a whole sentence (VAD's thread)."""
        if self.sentence_model is not None and transcript_cue(text) in VERDICT_CUES:
            self._sentence_source = "sentence"
            self._sentence_check = asyncio.ensure_future(self.vad_worker.call(self.sentence_model.end_prob, text))
            self._sentence_check.add_done_callback(_quiet_failure)

    def _use_reply_verdict(self, verdict: asyncio.Future[float], text: str) -> None:
        """Take the speculative reply's P(the message ends here) as the sentence verdict: no second model run beside
        the reply's prefill. Should the reply not tell (cancelled), the sentence model is asked after all."""
        self._sentence_source = "reply"
        self._sentence_check = verdict

        def fall_back(done: asyncio.Future[float]) -> None:
            if done.cancelled() and self._sentence_check is done and self._in_speech:
                self._maybe_check_sentence(text)

        verdict.add_done_callback(fall_back)

    def _maybe_check_turn(self) -> None:
        """Ask the turn model once per silence, after turn_check_ms of it (on the VAD's thread)."""
        if (self.turn_model is None or self._turn_check is not None or not self._announced
                or self._silence_s * 1000 < self.vad_settings.turn_check_ms):
            return
        audio = self._audio()
        self._turn_check = asyncio.ensure_future(self.vad_worker.call(self.turn_model.complete_prob, audio))
        self._turn_check.add_done_callback(_quiet_failure)

    def _rule(self) -> str:
        """Which rule ended the turn, for the turn record (the bench reports it)."""
        cue, prob, sentence = self._cue(), self._complete_prob(), self._sentence_prob()
        spec = self._speculative
        pending = spec is not None and not spec[1].done()
        parts = [f"transcript {'pending' if pending else cue.value if cue else 'none'}"]
        if self.turn_model is not None:
            parts.append("model pending" if prob is None else f"model {prob:.2f}")
        if self._sentence_check is not None:
            source = self._sentence_source
            parts.append(f"{source} pending" if sentence is None else f"{source} {sentence:.2f}")
        return ", ".join(parts) + f", {required_silence_ms(self.vad_settings, cue, prob, sentence):.0f} ms"

    def _speculation_done(self, task: asyncio.Task[AsrResult]) -> None:
        """An early transcript arrived: if the silence still holds, let the engine start replying (held)."""
        if task.cancelled() or task.exception() is not None:
            return  # a discarded guess may fail quietly; the endpoint runs its own ASR
        valid = self._in_speech and self._speculative is not None and self._speculative[1] is task
        text = task.result().text.strip()
        if not valid or not text:
            return
        verdict = None
        if self._on_tentative is not None:
            self._tentative_uid = self._utterance_id
            verdict = self._on_tentative(Utterance(self._utterance_id, text, self._speech_start, self._last_speech,
                                                   0.0, 0.0))
        if verdict is None:
            self._maybe_check_sentence(text)
        else:
            self._use_reply_verdict(verdict, text)

    def _cancel_tentative(self) -> None:
        if self._tentative_uid and self._on_tentative_cancelled is not None:
            self._on_tentative_cancelled(self._tentative_uid)
        self._tentative_uid = 0

    def _maybe_partial(self, now: float) -> None:
        due = now - self._last_partial_at >= self.asr_settings.partial_interval_ms / 1000
        if not due or self._voiced_s < 0.6 or (self._partial_task and not self._partial_task.done()):
            return
        self._last_partial_at = now
        uid = self._utterance_id

        async def partial() -> None:
            result = await self._transcribe(final=False)
            if result.text and uid == self._utterance_id and self._in_speech:
                self._emit(TranscriptPartial(text=result.text))
                if self._on_partial is not None and self._silence_s == 0.0:
                    self._on_partial(result.text)

        self._partial_task = asyncio.create_task(partial())

    def _audio(self) -> np.ndarray:
        """This utterance's audio so far, after the utterance it continues (when it joins one)."""
        own = np.concatenate(self._speech) if self._speech else np.zeros(0, np.float32)
        return self._join.joined(own)

    async def _transcribe(self, final: bool) -> AsrResult:
        if final:
            return await self._final_transcript(self._audio(), self._tail())
        return await self.asr_worker.call(self.asr.transcribe, self._audio(), self._hotwords(), True)

    def _tail(self) -> Tail | None:
        """The audio after this utterance's last long pause, and the transcript taken in that pause (None: no pause)."""
        pause = self._pause
        if pause is None or pause.resumed_at >= len(self._speech):
            return None
        return Tail(self._speech[pause.resumed_at:], pause.head, self._voiced_s)  # joined only when transcribed

    async def _final_transcript(self, audio: np.ndarray, tail: Tail | None) -> AsrResult:
        """The utterance's transcript; when it stopped where a pause inside began, the words after it are added
        from a transcription of the tail alone (engine/pausejoin.py)."""
        hotwords = self._hotwords()
        result = await self.asr_worker.call(self.asr.transcribe, audio, hotwords, False)
        if tail is None or tail.samples < TAIL_MIN_SECONDS * PIPELINE_RATE:
            return result
        await asyncio.wait({tail.head})  # a discarded early transcript may have failed or been cancelled
        head = "" if tail.head.cancelled() or tail.head.exception() is not None else tail.head.result().text
        if not (stopped_at_pause(result.text, head) or lost_words(result.text, tail.voiced_s)):
            return result
        try:
            rest = await self.asr_worker.call(self.asr.transcribe, np.concatenate(tail.frames), hotwords, False)
        except Exception:
            log.warning("the tail after a pause could not be transcribed: the whole transcript stands", exc_info=True)
            return result
        joined = join_tail(result.text, rest.text)
        if joined is None:
            return result
        log.info("the transcript stopped at a pause: added the %d words after it", len(rest.text.split()))
        return replace(result, text=joined)

    async def _endpoint(self, now: float) -> None:
        announced, speech_start, speech_end = self._announced, self._speech_start, self._last_speech
        speculative, uid = self._speculative, self._utterance_id
        rule = self._rule() if announced else ""
        self._tentative_uid = 0
        audio, tail = self._audio(), self._tail()
        continues = self._join.ended(uid, audio, now, bool(announced and audio.size))
        self._reset()
        if not announced:
            return  # too short: noise
        self._emit(SpeechEnded(speech_end=speech_end, duration_s=speech_end - speech_start, ts=now))
        task = asyncio.create_task(self._finish(
            Utterance(uid, "", speech_start, speech_end, now, 0.0, continues, rule), speculative, audio, tail))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _finish(self, pending: Utterance, speculative: tuple[int, asyncio.Task[AsrResult]] | None,
                      audio: np.ndarray, tail: Tail | None) -> None:
        started = time.monotonic()
        try:
            if speculative is not None:
                result = await speculative[1]
            else:
                result = await self._final_transcript(audio, tail)
        except Exception as exc:
            log.exception("ASR failed")
            self._emit(StageError(stage="asr", message=f"speech recognition failed: {exc}", turn_id=0))
            return
        asr_ms = (time.monotonic() - started) * 1000
        text = result.text.strip()
        self._emit(TranscriptFinal(text=text, asr_ms=asr_ms))
        await self._on_utterance(replace(pending, text=text, asr_ms=asr_ms))

    def _reset(self) -> None:
        self._cancel_tentative()
        self._join.release()
        self._in_speech = False
        self._announced = False
        self._speech = []
        self._pre_roll.clear()
        self._voiced_s = self._silence_s = 0.0
        self._speculative = self._pause = None
        self._turn_check = self._sentence_check = None
        with contextlib.suppress(Exception):
            self.vad.reset()


def _settled(check: asyncio.Future[float] | None) -> float | None:
    """A model check's answer once it is in; None while pending, or when it failed or was dropped."""
    if check is None or not check.done() or check.cancelled() or check.exception() is not None:
        return None
    return check.result()


def _quiet_failure(task: asyncio.Future[float]) -> None:
    """A failed turn-model check only means the transcript decides alone; it is logged once per failure."""
    if not task.cancelled() and (exc := task.exception()) is not None:
        log.warning("turn model failed: %s", exc)
