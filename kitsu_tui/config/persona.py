"""Persona files (personas/*.toml): the character's identity, voice, LLM parameters and prompt parts."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from kitsu_tui.config.errors import ConfigError, load_model


class PersonaSection(BaseModel):
    """Base of persona tables: unknown keys are errors."""

    model_config = ConfigDict(extra="forbid")


class VoiceSpec(PersonaSection):
    """Which TTS voice speaks for the persona."""

    backend: Literal["piper", "coqui"] = "piper"
    """TTS backend."""
    model: str = "embedded"
    """Voice file or name; 'embedded' = the shipped Piper voice."""
    speaker: int | None = None
    """Speaker id for multi-speaker voices."""
    speed: float = Field(1.0, gt=0.25, le=4.0)
    """Speaking speed multiplier (1.0 = natural)."""


class LlmSpec(PersonaSection):
    """Sampling parameters for this persona."""

    temperature: float = Field(0.7, ge=0.0, le=2.0)
    """Sampling temperature."""
    max_tokens: int = Field(80, ge=8, le=4096)
    """Cap on tokens per reply."""
    top_p: float = Field(0.9, gt=0.0, le=1.0)
    """Nucleus sampling."""
    repeat_penalty: float = Field(1.15, ge=1.0, le=2.0)
    """Penalty against loops (small models love them)."""
    stop: list[str] = Field(default_factory=list)
    """Extra stop strings."""


class Example(PersonaSection):
    """One few-shot exchange."""

    user: str
    assistant: str


class Persona(PersonaSection):
    """A VTuber character as read from personas/NAME.toml."""

    name: str = Field(min_length=1, max_length=40)
    """Short name; also passed to ASR as a hotword."""
    display_name: str = ""
    """Name shown on screen (defaults to name)."""
    language: str = "en"
    """Spoken language code."""
    style: str = "kawaii"
    """Style tag (kawaii, chaotic, calm...), used by prompt parts and idle behaviour."""
    chaos_level: float = Field(0.5, ge=0.0, le=1.0)
    """How unpredictable the persona is (0..1)."""
    energy: float = Field(0.5, ge=0.0, le=1.0)
    """How excited the persona is (0..1)."""
    family_friendly: bool = True
    """Enforce family-friendly output rules."""
    prompt_parts: list[str] = Field(default_factory=list)
    """Files in prompts/ concatenated in order into the system prompt."""
    system_prompt: str = ""
    """Inline system prompt text appended after the prompt parts."""
    hotwords: list[str] = Field(default_factory=list)
    """Extra words the ASR should expect (the persona name is always included)."""
    safe_line: str = "Let's talk about something else!"
    """Spoken instead of a blocked sentence."""
    voice: VoiceSpec = Field(default_factory=VoiceSpec)
    llm: LlmSpec = Field(default_factory=LlmSpec)
    examples: list[Example] = Field(default_factory=list)

    @property
    def shown_name(self) -> str:
        """Name for the screen."""
        return self.display_name or self.name

    def build_system_prompt(self, prompts_dir: Path) -> str:
        """Concatenate prompt parts (in order) and the inline prompt; {name} etc. are filled in."""
        parts: list[str] = []
        for part in self.prompt_parts:
            path = prompts_dir / part
            try:
                parts.append(path.read_text(encoding="utf-8").strip())
            except OSError as exc:
                raise ConfigError(path, [f"{path}: prompt part of persona '{self.name}' unreadable ({exc})"]) from exc
        if self.system_prompt:
            parts.append(self.system_prompt.strip())
        text = "\n\n".join(p for p in parts if p)
        return text.replace("{name}", self.shown_name).replace("{style}", self.style)

    def asr_hotwords(self) -> str:
        """Hotword string for faster-whisper."""
        return " ".join(dict.fromkeys([self.name, self.shown_name, *self.hotwords]))


def load_persona(personas_dir: Path, name: str) -> Persona:
    """Load personas/NAME.toml (or a path), raising ConfigError naming file, line and key."""
    candidate = Path(name)
    path = candidate if candidate.suffix == ".toml" else personas_dir / f"{name}.toml"
    if not path.exists():
        available = sorted(p.stem for p in personas_dir.glob("*.toml")) if personas_dir.is_dir() else []
        raise ConfigError(path, [f"{path}: persona '{name}' not found (available: {', '.join(available) or 'none'})"])
    return load_model(Persona, path)
