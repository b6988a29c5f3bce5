"""Build the four model backends the settings (and the active persona's voice) ask for, without loading them."""

from __future__ import annotations

import threading
from collections.abc import Callable

from kitsu_tui.backends.asr_whisper import WhisperAsr, whisper_language
from kitsu_tui.backends.base import BackendError, Backends, LlmBackend, TtsBackend
from kitsu_tui.backends.gguf_fast import default_cache_dir
from kitsu_tui.backends.llm_llama import LlamaLlm
from kitsu_tui.backends.llm_openai import OpenAiLlm
from kitsu_tui.backends.tts_coqui import CoquiTts
from kitsu_tui.backends.tts_piper import PiperTts
from kitsu_tui.backends.turn_smart import SmartTurn
from kitsu_tui.backends.turn_text import TextTurn
from kitsu_tui.backends.vad_silero import SileroVad
from kitsu_tui.config.persona import Persona
from kitsu_tui.config.settings import AsrSettings, Settings, TtsSettings

EMBEDDED_VOICE_LANGUAGE = "en"
"""Language of the embedded Piper voice (en_US-joe-medium)."""


def build_tts(settings: TtsSettings, persona: Persona | None = None) -> TtsBackend:
    """The TTS backend: settings.tts, with the persona's voice (backend, model, speaker) on top.

    The persona's speed is not baked in: the engine passes persona.voice.speed to every synthesize() call.
    """
    backend: str = settings.backend
    voice = settings.voice
    speaker = settings.speaker
    if persona is not None:
        spec = persona.voice
        backend = spec.backend
        if spec.model != "embedded" or spec.backend != settings.backend:
            voice = spec.model
        if spec.speaker is not None:
            speaker = spec.speaker
    if backend == "coqui":
        return CoquiTts(voice=voice, speaker=speaker, use_cuda=settings.use_cuda)
    return PiperTts(
        voice=voice,
        speaker=speaker,
        length_scale=settings.length_scale,
        intra_threads=settings.threads,
        use_cuda=settings.use_cuda,
    )


def build_fallback_tts(settings: TtsSettings, voice: str) -> TtsBackend:
    """A fallback Piper voice of tts.fallback_voices: the voice's default speaker, tts.length_scale, not loaded."""
    return PiperTts(voice=voice, length_scale=settings.length_scale, intra_threads=settings.threads,
                    use_cuda=settings.use_cuda)


class FallbackVoices:
    """The tts.fallback_voices, each built and loaded the first time it is needed, then kept.

    ready() blocks (a voice loads in about a second): call it on the TTS worker, never the event loop.
    `build` is the seam that makes a voice's backend (tests hand in doubles).
    """

    def __init__(self, build: Callable[[TtsSettings, str], TtsBackend] = build_fallback_tts) -> None:
        self.build = build
        self._lock = threading.Lock()
        self._ready: dict[str, TtsBackend] = {}
        self._broken: dict[str, str] = {}
        """Voices that failed to load, with why: they are not loaded again on every failed sentence."""

    def ready(self, settings: TtsSettings, voice: str) -> TtsBackend:
        """The loaded backend of `voice` (built and loaded now on first use); BackendError if it cannot load."""
        with self._lock:  # two workers needing the same voice at once load it once
            if voice in self._broken:
                raise BackendError(self._broken[voice])
            backend = self._ready.get(voice)
            if backend is None:
                try:
                    backend = self.build(settings, voice)
                    backend.load()
                except Exception as exc:
                    self._broken[voice] = f"fallback voice {voice} cannot load: {exc}"[:300]
                    raise BackendError(self._broken[voice]) from exc
                self._ready[voice] = backend
            return backend

    def loaded(self) -> list[str]:
        """The fallback voices loaded so far, in load order."""
        return list(self._ready)


def asr_language(settings: AsrSettings, persona: Persona | None = None) -> str | None:
    """Whisper's language: asr.language when it names one, the persona's for 'persona', None (detect) for 'auto'."""
    if settings.language == "auto":
        return None
    if settings.language == "persona":
        return whisper_language(persona.language if persona is not None else "en")
    return whisper_language(settings.language)


def _primary(language: str) -> str:
    return language.split("-")[0].lower()


def language_warnings(settings: Settings, persona: Persona) -> list[str]:
    """One readable line per model that will not speak or hear the persona's language (the model is kept)."""
    language = _primary(persona.language)
    if language == EMBEDDED_VOICE_LANGUAGE:
        return []
    warnings = []
    heard = asr_language(settings.asr, persona)
    model = settings.asr.model
    if heard == language and (model == "embedded" or model.endswith(".en")):
        warnings.append(f"persona {persona.shown_name} speaks '{persona.language}' but the ASR model "
                        f"'{model}' is English-only: set asr.model to a multilingual Whisper model")
    warning = voice_language_warning(settings.tts, persona)
    if warning:
        warnings.append(warning)
    return warnings


def voice_language_warning(settings: TtsSettings, persona: Persona) -> str | None:
    """A line when the persona speaks another language but has no voice of its own, so the English one reads it."""
    spec = persona.voice  # as in build_tts: the persona's voice, else settings.tts.voice on the same backend
    embedded = spec.backend == "piper" and spec.model == "embedded" and (
        settings.backend != "piper" or settings.voice == "embedded")
    if not embedded or _primary(persona.language) == EMBEDDED_VOICE_LANGUAGE:
        return None
    return (f"persona {persona.shown_name} speaks '{persona.language}' but has no voice of its own: the embedded "
            f"English voice reads it; set [voice] model in its persona file to a '{persona.language}' Piper voice")


def build_backends(settings: Settings, persona: Persona | None = None) -> Backends:
    """Choose and construct the VAD, ASR, LLM and TTS implementations named by `settings` (nothing is loaded)."""
    vad = SileroVad(model_path=settings.vad.model_path)
    asr = WhisperAsr(
        model=settings.asr.model,
        device=settings.asr.device,
        compute_type=settings.asr.compute_type,
        cpu_threads=settings.asr.cpu_threads,
        beam_size=settings.asr.beam_size,
        language=asr_language(settings.asr, persona),
        no_speech_threshold=settings.asr.no_speech_threshold,
        fast_window=settings.asr.fast_window,
    )
    q8_dir = (settings.llm.cache_dir or default_cache_dir()) if settings.llm.embedded_q8 else None
    llm: LlmBackend
    if settings.llm.backend == "openai":
        llm = OpenAiLlm(
            base_url=settings.llm.base_url,
            model=settings.llm.model,
            api_key_env=settings.llm.api_key_env,
            timeout_s=settings.llm.timeout_s,
            retries=settings.llm.retries,
        )
    else:
        llm = LlamaLlm(
            model_path=settings.llm.model_path,
            n_ctx=settings.llm.n_ctx,
            n_threads=settings.llm.n_threads,
            n_gpu_layers=settings.llm.n_gpu_layers,
            q8_dir=q8_dir,
        )
    turn = SmartTurn(settings.vad.turn_model_path) if settings.vad.endpointing == "smart-turn" else None
    sentence = TextTurn(settings.vad.sentence_model_path, q8_dir=q8_dir) if settings.vad.endpointing == "sentence" else None
    return Backends(vad=vad, asr=asr, llm=llm, tts=build_tts(settings.tts, persona), turn=turn, sentence=sentence)
