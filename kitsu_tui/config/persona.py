"""Persona files (personas/*.toml): the character's identity, voice, LLM parameters, moods and idle talk."""

from __future__ import annotations

import random
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

from kitsu_tui.config.errors import ConfigError
from kitsu_tui.config.toml import find_key_line, load_model

#: Moods every persona understands; a persona may map more in its [moods] table.
BASE_MOODS: tuple[str, ...] = ("neutral", "happy", "sad", "angry", "surprised")

_MOOD_NAME_RE = re.compile(r"^[a-z][a-z_]{0,23}$")
_LANGUAGE_RE = re.compile(r"^[a-z]{2,3}(-[A-Za-z]{2,4})?$")

UnitFloat = Annotated[float, Field(ge=0.0, le=1.0)]

NEUTRAL = 0.5
"""chaos_level and energy at this value leave the [llm] sampling and the system prompt as written."""
HIGH, LOW = 0.7, 0.3
"""energy/chaos_level at or above HIGH (at or below LOW) add style words; energy also moves the sentence budget."""
CHAOS_TEMPERATURE = 0.4
"""Temperature added per unit of chaos_level above neutral (chaos 1.0: +0.2, chaos 0.0: -0.2)."""
CHAOS_TOP_P = 0.1
"""top_p added per unit of chaos_level above neutral (chaos 1.0: +0.05, chaos 0.0: -0.05)."""
ENERGY_TOKENS = 0.4
"""Share of max_tokens taken away per unit of energy above neutral (energy 1.0: x0.8, energy 0.0: x1.2)."""
TEMPERATURE_RANGE = (0.1, 1.3)
"""chaos_level never pushes the temperature outside this range (a value set in [llm] outside it is kept)."""
TOP_P_RANGE = (0.5, 1.0)
"""chaos_level never pushes top_p outside this range (a value set in [llm] outside it is kept)."""


@dataclass(frozen=True)
class Sampling:
    """A persona's effective sampling: its [llm] values shaped by chaos_level and energy (Persona.sampling)."""

    temperature: float
    """Sampling temperature: [llm] temperature, higher with more chaos."""
    top_p: float
    """Nucleus sampling: [llm] top_p, a little higher with more chaos."""
    max_tokens: int
    """Token cap per reply: [llm] max_tokens, lower with more energy (snappier), higher with less."""
    max_sentences: int
    """Sentence budget per reply: [llm] max_sentences, one fewer at high energy, one more at low energy."""


def _nudge(base: float, shift: float, low: float, high: float) -> float:
    """`base` moved by `shift`, kept within [low, high] unless `base` itself lies outside it."""
    if shift == 0.0:
        return base
    return round(min(max(base + shift, min(base, low)), max(base, high)), 3)


class PersonaSection(BaseModel):
    """Base of persona tables: unknown keys are errors."""

    model_config = ConfigDict(extra="forbid")


class VoiceSpec(PersonaSection):
    """Which TTS voice speaks for the persona."""

    backend: Literal["piper", "coqui"] = "piper"
    """TTS backend."""
    model: str = "embedded"
    """Voice file or name; 'embedded' = the shipped Piper voice."""
    speaker: int | None = Field(None, ge=0)
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
    presence_penalty: float = Field(0.0, ge=-2.0, le=2.0)
    """Penalty on any token already in the recent context (OpenAI semantics; llama.cpp and most servers)."""
    frequency_penalty: float = Field(0.0, ge=-2.0, le=2.0)
    """Penalty growing with how often a token already appeared in the recent context."""
    max_sentences: int = Field(3, ge=1, le=50)
    """Reply budget: generation stops once this many sentences are kept for speech (live chat: 1-3)."""
    mood_tag: bool = True
    """Make the model open each reply with one of the persona's [mood] tags where the backend can constrain it."""
    stop: list[str] = Field(default_factory=list)
    """Extra stop strings (speaker labels and role markers are always stop strings)."""


class Example(PersonaSection):
    """One few-shot exchange."""

    user: str = Field(min_length=1)
    """What the viewer says."""
    assistant: str = Field(min_length=1)
    """How the persona answers (with its mood tag, so the model copies the format)."""


class MoodSpec(PersonaSection):
    """How one mood shows on the avatar."""

    expression: str = ""
    """VTube Studio expression file to activate (NAME.exp3.json); empty = none."""
    hotkey: str = ""
    """VTube Studio hotkey name to trigger; empty = none."""
    vmc: dict[str, UnitFloat] = Field(default_factory=dict)
    """VMC blendshape values (e.g. Joy = 1.0) sent while the mood lasts."""

    @field_validator("expression")
    @classmethod
    def _expression_file(cls, value: str) -> str:
        """An expression must name a .exp3.json file."""
        if value and not value.endswith(".exp3.json"):
            raise ValueError("must be a VTube Studio expression file ending in .exp3.json")
        return value


class IdleSpec(PersonaSection):
    """What the persona does when nobody talks for a while."""

    enabled: bool = True
    """Talk on its own after a quiet spell."""
    idle_after_s: float = Field(45.0, ge=5.0, le=3600.0)
    """Seconds of silence (no voice, chat or reply) before an idle turn."""
    max_in_a_row: int = Field(3, ge=1, le=100)
    """Idle turns allowed without any input in between, so an empty room is not talked at forever."""
    lines: list[str] = Field(default_factory=list)
    """Lines spoken verbatim (no LLM)."""
    prompts: list[str] = Field(default_factory=list)
    """Instructions given to the LLM to make up something to say."""

    def pick(self, rng: random.Random) -> tuple[Literal["say", "prompt"], str] | None:
        """Choose one idle line ("say") or LLM prompt ("prompt"); None when there is nothing to use."""
        options: list[tuple[Literal["say", "prompt"], str]] = [("say", line) for line in self.lines]
        options += [("prompt", prompt) for prompt in self.prompts]
        return rng.choice(options) if self.enabled and options else None


class Persona(PersonaSection):
    """A VTuber character as read from personas/NAME.toml."""

    name: str = Field(min_length=1, max_length=40)
    """Short name; also passed to ASR as a hotword."""
    display_name: str = ""
    """Name shown on screen (defaults to name)."""
    language: str = "en"
    """Spoken language code (en, de, pt-BR...)."""
    style: str = Field("kawaii", min_length=1, max_length=40)
    """Style tag (kawaii, chaotic, calm...): the {style} placeholder, and the system prompt's style line when set."""
    chaos_level: float = Field(NEUTRAL, ge=0.0, le=1.0)
    """How unpredictable the persona is (0..1): raises temperature and top_p; 0.5 = the [llm] values as written."""
    energy: float = Field(NEUTRAL, ge=0.0, le=1.0)
    """How excited the persona is (0..1): higher = shorter, snappier replies; 0.5 = the [llm] values as written."""
    family_friendly: bool = True
    """Enforce family-friendly output rules."""
    prompt_parts: list[str] = Field(default_factory=list)
    """Files in prompts/ concatenated in order into the system prompt."""
    system_prompt: str = ""
    """Inline system prompt text appended after the prompt parts."""
    hotwords: list[str] = Field(default_factory=list)
    """Extra words the ASR should expect (the persona name is always included)."""
    safe_line: str = Field("Let's talk about something else!", min_length=1)
    """Spoken instead of a blocked sentence."""
    deflect_line: str = "Hmm, let's keep chat comfy! Ask me something else."
    """Spoken instead of answering a chat line that moderation blocked (when [moderation] deflect_blocked_chat)."""
    llm_fallback_line: str = Field("Give me a second, my thoughts got tangled.", min_length=1)
    """Spoken when the LLM fails before a reply's first sentence (the exchange stays out of history)."""
    voice: VoiceSpec = Field(default_factory=VoiceSpec)
    """TTS voice."""
    llm: LlmSpec = Field(default_factory=LlmSpec)
    """Sampling parameters."""
    examples: list[Example] = Field(default_factory=list)
    """Few-shot exchanges put before the conversation."""
    moods: dict[str, MoodSpec] = Field(default_factory=dict)
    """Mood name -> avatar expression/hotkey/VMC values."""
    idle: IdleSpec = Field(default_factory=IdleSpec)
    """Idle behaviour."""

    @field_validator("language")
    @classmethod
    def _language_code(cls, value: str) -> str:
        """Language must look like an ISO code."""
        if not _LANGUAGE_RE.match(value):
            raise ValueError("must be a language code such as 'en' or 'pt-BR'")
        return value

    @field_validator("moods")
    @classmethod
    def _mood_names(cls, value: dict[str, MoodSpec]) -> dict[str, MoodSpec]:
        """Mood names are short lower-case words, since the model writes them as tags."""
        for mood in value:
            if not _MOOD_NAME_RE.match(mood):
                raise ValueError(f"mood name {mood!r} must be a lower-case word (a-z and _)")
        return value

    @property
    def shown_name(self) -> str:
        """Name for the screen."""
        return self.display_name or self.name

    @property
    def mood_names(self) -> tuple[str, ...]:
        """Every mood this persona knows: the base moods plus those in its [moods] table."""
        return tuple(dict.fromkeys([*BASE_MOODS, *self.moods]))

    def mood_spec(self, mood: str) -> MoodSpec | None:
        """Avatar mapping of `mood`, falling back to the neutral mapping; None when neither exists."""
        return self.moods.get(mood) or self.moods.get("neutral")

    def sampling(self) -> Sampling:
        """The effective sampling: the [llm] values, shaped by chaos_level and energy (both 0.5: unchanged).

        More chaos raises temperature and top_p (bounded by TEMPERATURE_RANGE and TOP_P_RANGE). More energy
        means snappier replies: fewer tokens (x0.8 at 1.0, x1.2 at 0.0) and, at HIGH or above, one sentence
        fewer; at LOW or below one sentence more.
        """
        spec = self.llm
        chaos = self.chaos_level - NEUTRAL
        energy = self.energy - NEUTRAL
        max_tokens = spec.max_tokens
        if energy:
            max_tokens = min(4096, max(8, round(spec.max_tokens * (1.0 - ENERGY_TOKENS * energy))))
        max_sentences = spec.max_sentences
        if self.energy >= HIGH:
            max_sentences = max(1, max_sentences - 1)
        elif self.energy <= LOW:
            max_sentences = min(50, max_sentences + 1)
        return Sampling(
            temperature=_nudge(spec.temperature, CHAOS_TEMPERATURE * chaos, *TEMPERATURE_RANGE),
            top_p=_nudge(spec.top_p, CHAOS_TOP_P * chaos, *TOP_P_RANGE),
            max_tokens=max_tokens,
            max_sentences=max_sentences,
        )

    def style_line(self, with_style: bool = True) -> str:
        """One system-prompt line from style (when set in the file), energy and chaos_level; '' when all are neutral."""
        words: list[str] = []
        if with_style and ("style" in self.model_fields_set or self.style != Persona.model_fields["style"].default):
            words.append(self.style)
        if self.energy >= HIGH:
            words.append("excited and snappy")
        elif self.energy <= LOW:
            words.append("relaxed and unhurried")
        if self.chaos_level >= HIGH:
            words.append("playfully unpredictable")
        elif self.chaos_level <= LOW:
            words.append("steady and on topic")
        return f"Your style: {', '.join(words)}." if words else ""

    def build_system_prompt(self, prompts_dir: Path) -> str:
        """Concatenate prompt parts (in order), the inline prompt and the style line; {name}, {style}, {moods} are filled in.

        The style line comes last and depends only on the persona, so the prompt stays one stable prefix.
        """
        parts: list[str] = []
        for part in self.prompt_parts:
            path = prompts_dir / part
            try:
                parts.append(path.read_text(encoding="utf-8").strip())
            except (OSError, UnicodeDecodeError) as exc:
                raise ConfigError(path, [f"{path}: prompt part of persona '{self.name}' unreadable ({exc})"]) from exc
        if self.system_prompt:
            parts.append(self.system_prompt.strip())
        parts.append(self.style_line(with_style=not any("{style}" in p for p in parts)))
        text = "\n\n".join(p for p in parts if p)
        moods = ", ".join(f"[{m}]" for m in self.mood_names)
        return text.replace("{name}", self.shown_name).replace("{style}", self.style).replace("{moods}", moods)

    def few_shot_messages(self) -> list[dict[str, str]]:
        """The few-shot examples as chat messages (user, assistant, user, ...)."""
        messages: list[dict[str, str]] = []
        for example in self.examples:
            messages.append({"role": "user", "content": example.user})
            messages.append({"role": "assistant", "content": example.assistant})
        return messages

    def asr_hotwords(self) -> str:
        """Hotword string for faster-whisper."""
        return " ".join(dict.fromkeys([self.name, self.shown_name, *self.hotwords]))


def _check_prompt_parts(persona: Persona, path: Path, prompts_dir: Path) -> None:
    """Raise ConfigError naming the persona file and line when a prompt part is missing."""
    problems = []
    text = path.read_text(encoding="utf-8")
    line = find_key_line(text, ("prompt_parts",))
    where = f"{path}:{line}" if line else f"{path}"
    for part in persona.prompt_parts:
        if not (prompts_dir / part).is_file():
            problems.append(f"{where}: key 'prompt_parts': file {prompts_dir / part} not found")
    if problems:
        raise ConfigError(path, problems)


def load_persona(personas_dir: Path, name: str, prompts_dir: Path | None = None) -> Persona:
    """Load personas/NAME.toml (or a path), raising ConfigError naming file, line and key.

    With `prompts_dir`, missing prompt parts are reported now rather than at the first turn.
    """
    candidate = Path(name)
    path = candidate if candidate.suffix == ".toml" else personas_dir / f"{name}.toml"
    if not path.exists():
        available = sorted(p.stem for p in personas_dir.glob("*.toml")) if personas_dir.is_dir() else []
        raise ConfigError(path, [f"{path}: persona '{name}' not found (available: {', '.join(available) or 'none'})"])
    persona = load_model(Persona, path)
    if prompts_dir is not None:
        _check_prompt_parts(persona, path, prompts_dir)
    return persona
