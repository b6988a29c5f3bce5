"""Persona language: it picks Whisper's language unless asr.language forces one, and warns about English-only models."""

from __future__ import annotations

import logging
from typing import Any

import pytest
from pydantic import ValidationError

from kitsu_tui.backends.asr_whisper import WhisperAsr, whisper_language
from kitsu_tui.backends.factory import asr_language, build_backends, language_warnings, voice_language_warning
from kitsu_tui.config.persona import Persona, VoiceSpec
from kitsu_tui.config.settings import AsrSettings, Settings, TtsSettings


def german(**kwargs: Any) -> Persona:
    """A German persona (no voice of its own unless given)."""
    return Persona(name="Hana", language="de", **kwargs)


def test_asr_language_follows_the_persona_unless_forced() -> None:
    """'persona' (the default) uses the persona's language; a code forces one; 'auto' detects."""
    assert AsrSettings().language == "persona"
    assert asr_language(AsrSettings(), german()) == "de"
    assert asr_language(AsrSettings(), Persona(name="A", language="pt-BR")) == "pt"
    assert asr_language(AsrSettings(), None) == "en"
    assert asr_language(AsrSettings(language="en"), german()) == "en"
    assert asr_language(AsrSettings(language="auto"), german()) is None
    assert AsrSettings.model_validate({"language": None}).language == "auto"
    with pytest.raises(ValidationError, match="'persona', 'auto' or a language code"):
        AsrSettings(language="German")


def test_build_backends_hands_whisper_the_persona_language() -> None:
    """The ASR backend is built with the resolved language (nothing is loaded)."""
    asr = build_backends(Settings(), german()).asr
    assert isinstance(asr, WhisperAsr) and asr.language == "de"
    forced = build_backends(Settings().with_values({"asr.language": "fr"}), german()).asr
    assert isinstance(forced, WhisperAsr) and forced.language == "fr"


def test_whisper_language_codes() -> None:
    """Language tags become Whisper's codes."""
    assert [whisper_language(c) for c in ("en", "pt-BR", "EN", "zh_TW", "", None)] == ["en", "pt", "en", "zh", None, None]


class _Model:
    def __init__(self, languages: list[str]) -> None:
        self.supported_languages = languages


def test_whisper_keeps_a_language_the_model_knows(caplog: pytest.LogCaptureFixture) -> None:
    """An English-only model transcribes English; an unknown code on a multilingual model is detected instead."""
    asr = WhisperAsr(language="de")
    asr._model = _Model(["en"])
    with caplog.at_level(logging.WARNING):
        asr._check_language()
    assert asr.language == "en" and "English-only" in caplog.text
    asr._model = _Model(["en", "de", "fr"])
    asr.set_language("fr-CA")
    assert asr.language == "fr"
    asr.set_language("xx")
    assert asr.language is None
    asr.set_language(None)
    assert asr.language is None


def test_english_persona_gets_no_warnings() -> None:
    """The default setup (English persona, embedded models) is quiet."""
    assert language_warnings(Settings(), Persona(name="A")) == []
    assert language_warnings(Settings(), Persona(name="A", language="en-GB")) == []


def test_other_language_on_embedded_models_warns_once_each() -> None:
    """A German persona on the embedded (English) ASR and voice gets one readable line for each."""
    warnings = language_warnings(Settings(), german())
    assert len(warnings) == 2
    assert "ASR model 'embedded' is English-only" in warnings[0] and "\n" not in warnings[0]
    assert "Hana speaks 'de' but has no voice of its own" in warnings[1]
    multilingual = Settings().with_values({"asr.model": "/models/whisper-small"})
    assert len(language_warnings(multilingual, german())) == 1
    assert language_warnings(Settings().with_values({"asr.language": "en"}), german()) == warnings[1:]


def test_a_chosen_voice_silences_the_voice_warning() -> None:
    """A voice in the persona file, or a non-embedded tts.voice, is the streamer's choice: no warning."""
    assert voice_language_warning(TtsSettings(), german()) is not None
    assert voice_language_warning(TtsSettings(), german(voice=VoiceSpec(model="de_DE-thorsten.onnx"))) is None
    assert voice_language_warning(TtsSettings(voice="/v/de.onnx"), german()) is None
    assert voice_language_warning(TtsSettings(), german(voice=VoiceSpec(backend="coqui", model="x"))) is None

