"""Build the four model backends the settings (and the active persona's voice) ask for, without loading them."""

from __future__ import annotations

from kitsu_tui.backends.asr_whisper import WhisperAsr
from kitsu_tui.backends.base import Backends, LlmBackend, TtsBackend
from kitsu_tui.backends.llm_llama import LlamaLlm
from kitsu_tui.backends.llm_openai import OpenAiLlm
from kitsu_tui.backends.tts_coqui import CoquiTts
from kitsu_tui.backends.tts_piper import PiperTts
from kitsu_tui.backends.vad_silero import SileroVad
from kitsu_tui.config.persona import Persona
from kitsu_tui.config.settings import Settings, TtsSettings


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


def build_backends(settings: Settings, persona: Persona | None = None) -> Backends:
    """Choose and construct the VAD, ASR, LLM and TTS implementations named by `settings` (nothing is loaded)."""
    vad = SileroVad(model_path=settings.vad.model_path)
    asr = WhisperAsr(
        model=settings.asr.model,
        device=settings.asr.device,
        compute_type=settings.asr.compute_type,
        cpu_threads=settings.asr.cpu_threads,
        beam_size=settings.asr.beam_size,
        language=settings.asr.language,
        no_speech_threshold=settings.asr.no_speech_threshold,
        fast_window=settings.asr.fast_window,
    )
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
        )
    return Backends(vad=vad, asr=asr, llm=llm, tts=build_tts(settings.tts, persona))
