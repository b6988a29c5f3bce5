"""Persona files: the shipped personas load, and broken ones give errors naming file, line and key."""

from __future__ import annotations

import random
from pathlib import Path

import pytest

from kitsu_tui.config.errors import ConfigError
from kitsu_tui.config.persona import BASE_MOODS, load_persona

ROOT = Path(__file__).resolve().parents[2]
PERSONAS = ROOT / "personas"
PROMPTS = ROOT / "prompts"


def write(tmp_path: Path, body: str) -> Path:
    """Write a persona file and return its path."""
    path = tmp_path / "broken.toml"
    path.write_text(body, encoding="utf-8")
    return path


@pytest.mark.parametrize("name", ["kitsu", "calm"])
def test_shipped_personas_load_with_short_prompt(name: str) -> None:
    """Both shipped personas validate, name their prompt parts, and keep the system prompt short."""
    persona = load_persona(PERSONAS, name, PROMPTS)
    prompt = persona.build_system_prompt(PROMPTS)
    assert persona.shown_name in prompt
    assert "[happy]" in prompt and "{name}" not in prompt
    assert len(prompt.split()) < 70, "the default LLM pays for every prompt token"
    assert set(BASE_MOODS) <= set(persona.mood_names)
    assert persona.mood_spec("happy") is not None
    assert persona.examples and persona.examples[0].assistant.startswith("[")
    assert persona.name in persona.asr_hotwords().split()
    assert persona.safe_line


def test_kitsu_is_a_chaotic_english_fox() -> None:
    """kitsu.toml is the kawaii, chaotic, English default with avatar moods and idle talk."""
    persona = load_persona(PERSONAS, "kitsu")
    assert persona.language == "en" and persona.chaos_level >= 0.7 and persona.family_friendly
    assert persona.moods["happy"].expression.endswith(".exp3.json")
    assert persona.moods["happy"].vmc == {"Joy": 1.0}
    picks = {persona.idle.pick(random.Random(seed)) for seed in range(30)}
    assert {kind for kind, _ in filter(None, picks)} == {"say", "prompt"}
    messages = persona.few_shot_messages()
    assert [m["role"] for m in messages[:2]] == ["user", "assistant"]


def test_unknown_key_names_file_line_and_key(tmp_path: Path) -> None:
    """A misspelt key is reported with its file, line and dotted name."""
    path = write(tmp_path, 'name = "A"\n\n[voice]\nbackend = "piper"\nsped = 1.2\n')
    with pytest.raises(ConfigError) as info:
        load_persona(tmp_path, str(path))
    assert f"{path}:5: key 'voice.sped': unknown key" in str(info.value)


def test_wrong_type_and_out_of_range(tmp_path: Path) -> None:
    """Wrong types and out-of-range values each give one line with file:line and key."""
    path = write(tmp_path, 'name = "A"\nchaos_level = 1.5\nfamily_friendly = "maybe"\n')
    with pytest.raises(ConfigError) as info:
        load_persona(tmp_path, str(path))
    problems = info.value.problems
    assert any(p.startswith(f"{path}:2: key 'chaos_level'") and "1.5" in p for p in problems)
    assert any(p.startswith(f"{path}:3: key 'family_friendly'") for p in problems)


def test_mood_table_validation(tmp_path: Path) -> None:
    """Mood mappings are checked: expression file type, VMC values in 0..1, mood names."""
    path = write(tmp_path, 'name = "A"\n[moods.happy]\nexpression = "smile.png"\nvmc = { Joy = 3.0 }\n')
    with pytest.raises(ConfigError) as info:
        load_persona(tmp_path, str(path))
    text = str(info.value)
    assert f"{path}:3: key 'moods.happy.expression'" in text and ".exp3.json" in text
    assert "key 'moods.happy.vmc.Joy'" in text
    bad_name = write(tmp_path, 'name = "A"\n[moods.Happy-Face]\nhotkey = "x"\n')
    with pytest.raises(ConfigError, match="lower-case word"):
        load_persona(tmp_path, str(bad_name))


def test_idle_range_and_language(tmp_path: Path) -> None:
    """Idle timing below its minimum and a malformed language code are rejected with their keys."""
    path = write(tmp_path, 'name = "A"\nlanguage = "English"\n[idle]\nidle_after_s = 1\n')
    with pytest.raises(ConfigError) as info:
        load_persona(tmp_path, str(path))
    text = str(info.value)
    assert f"{path}:2: key 'language'" in text
    assert f"{path}:4: key 'idle.idle_after_s'" in text


def test_missing_prompt_part_and_missing_persona(tmp_path: Path) -> None:
    """A missing prompt part names the prompt_parts line; a missing persona lists the available ones."""
    path = write(tmp_path, 'name = "A"\nprompt_parts = ["nope.md"]\n')
    with pytest.raises(ConfigError, match=rf"{path}:2: key 'prompt_parts': file .*nope.md not found"):
        load_persona(tmp_path, str(path), PROMPTS)
    with pytest.raises(ConfigError, match="available: calm, kitsu"):
        load_persona(PERSONAS, "nobody")


def test_toml_syntax_error_names_line(tmp_path: Path) -> None:
    """A TOML syntax error is one line naming the file and the line."""
    path = write(tmp_path, 'name = "A"\nenergy = \n')
    with pytest.raises(ConfigError, match=r"TOML syntax error.*line 2"):
        load_persona(tmp_path, str(path))
