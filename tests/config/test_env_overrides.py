"""KITSU_SECTION__KEY environment overrides: applied after the TOML file, validated, errors name the variable."""

from __future__ import annotations

from pathlib import Path

import pytest

from kitsu_tui.config.errors import ConfigError
from kitsu_tui.config.settings import Settings, env_overrides, load_settings


def write(tmp_path: Path, body: str) -> Path:
    """Write a config file and return its path."""
    path = tmp_path / "kitsu.toml"
    path.write_text(body, encoding="utf-8")
    return path


def test_overrides_win_over_the_file_and_are_converted(tmp_path: Path) -> None:
    """Values are converted to each key's type; the environment beats the file; other keys keep the file's."""
    path = write(tmp_path, '[llm]\nmodel_path = "a.gguf"\nn_threads = 4\n[asr]\nbeam_size = 2\n')
    env = {"KITSU_LLM__MODEL_PATH": "/models/b.gguf", "KITSU_LLM__N_GPU_LAYERS": "-1",
           "KITSU_AUDIO__PLAY_AUDIO": "false", "KITSU_VAD__THRESHOLD": "0.4", "KITSU_PERSONA": "calm",
           "KITSU_ENGINE__BARGE_IN": "interrupt"}
    settings = load_settings(path, environ=env)
    assert settings.llm.model_path == "/models/b.gguf" and settings.llm.n_gpu_layers == -1
    assert settings.llm.n_threads == 4 and settings.asr.beam_size == 2
    assert settings.audio.play_audio is False and settings.vad.threshold == 0.4
    assert settings.persona == "calm" and settings.engine.barge_in == "interrupt"


def test_overrides_apply_without_a_config_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """With no kitsu.toml the overrides still apply on top of the defaults."""
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("KITSU_CONFIG_FILE", raising=False)
    monkeypatch.setenv("KITSU_TTS__WORKERS", "3")
    settings = load_settings()
    assert settings.tts.workers == 3 and settings.llm == Settings().llm


def test_lists_optional_values_and_device_indexes(tmp_path: Path) -> None:
    """TOML arrays parse, an empty value unsets an optional key, digits pick a device by index."""
    path = write(tmp_path, '[audio]\nrecord_dir = "out"\n')
    env = {"KITSU_OBS__GATE_SCENES": '["Intro", "BRB"]', "KITSU_AUDIO__RECORD_DIR": "",
           "KITSU_AUDIO__INPUT_DEVICE": "3", "KITSU_AUDIO__OUTPUT_DEVICE": "pulse", "KITSU_TWITCH__BOT_ID": "12345"}
    settings = load_settings(path, environ=env)
    assert settings.obs.gate_scenes == ["Intro", "BRB"]
    assert settings.audio.record_dir is None
    assert settings.audio.input_device == 3 and settings.audio.output_device == "pulse"
    assert settings.twitch.bot_id == "12345"


def test_a_bad_value_names_the_variable(tmp_path: Path) -> None:
    """A value pydantic rejects is one line naming the variable and the key, not the file."""
    path = write(tmp_path, "[llm]\nn_threads = 2\n")
    with pytest.raises(ConfigError) as info:
        load_settings(path, environ={"KITSU_LLM__N_THREADS": "lots"})
    assert info.value.problems == [
        "KITSU_LLM__N_THREADS: key 'llm.n_threads': Input should be a valid integer, "
        "unable to parse string as an integer (got 'lots')"]
    with pytest.raises(ConfigError, match=r"^KITSU_VAD__THRESHOLD: key 'vad.threshold': .*0\.05"):
        load_settings(path, environ={"KITSU_VAD__THRESHOLD": "0"})


def test_unknown_keys_and_broken_arrays_name_the_variable(tmp_path: Path) -> None:
    """A misspelt key or section is an error naming the variable; so is an array that is not TOML."""
    path = write(tmp_path, "")
    with pytest.raises(ConfigError, match=r"^KITSU_LLM__MODLE_PATH: key 'llm.modle_path': unknown key"):
        load_settings(path, environ={"KITSU_LLM__MODLE_PATH": "x.gguf"})
    with pytest.raises(ConfigError, match=r"^KITSU_NOPE__KEY: key 'nope': unknown key"):
        load_settings(path, environ={"KITSU_NOPE__KEY": "1"})
    with pytest.raises(ConfigError, match=r"^KITSU_OBS__GATE_SCENES: not a TOML array"):
        load_settings(path, environ={"KITSU_OBS__GATE_SCENES": "[BRB"})


def test_file_errors_still_name_the_file_line(tmp_path: Path) -> None:
    """A bad file value next to a good override is still reported at its file line."""
    path = write(tmp_path, "[llm]\nn_threads = 0\n")
    with pytest.raises(ConfigError) as info:
        load_settings(path, environ={"KITSU_LLM__N_CTX": "4096"})
    assert [p.split(": ")[0] for p in info.value.problems] == [f"{path}:2"]


def test_only_nested_names_and_persona_are_overrides() -> None:
    """Secrets, KITSU_CONFIG_FILE and KITSU_LOG_ROOT keep their own meaning; other variables are ignored."""
    env = {"KITSU_OBS_PASSWORD": "x", "KITSU_CONFIG_FILE": "a.toml", "KITSU_LOG_ROOT": "/tmp/l",
           "KITSU_TWITCH_CHANNEL": "c", "KITSU_LLM_API_KEY": "k", "HOME": "/root",
           "KITSU_HOLD__CHAT": "2.5", "KITSU_PERSONA": "calm"}
    assert env_overrides(env) == {("hold", "chat"): ("KITSU_HOLD__CHAT", "2.5"),
                                  ("persona",): ("KITSU_PERSONA", "calm")}


def test_with_values_returns_a_validated_copy() -> None:
    """with_values changes dotted keys on a new object and validates them; the original is untouched."""
    settings = Settings()
    changed = settings.with_values({"audio.play_audio": False, "persona": "calm", "hold.chat": 1.5})
    assert (changed.audio.play_audio, changed.persona, changed.hold.chat) == (False, "calm", 1.5)
    assert (settings.audio.play_audio, settings.persona, settings.hold.chat) == (True, "kitsu", 0.0)
    assert changed.paths == settings.paths
    with pytest.raises(ValueError, match="hold.chat"):
        settings.with_values({"hold.chat": -1})
