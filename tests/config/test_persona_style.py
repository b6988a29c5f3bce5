"""Persona style, chaos_level and energy: they shape the sampling and add a style line to the system prompt."""

from __future__ import annotations

from pathlib import Path

import pytest

from kitsu_tui.config.persona import LlmSpec, Persona, Sampling, load_persona

ROOT = Path(__file__).resolve().parents[2]


def test_neutral_persona_samples_exactly_as_its_llm_table() -> None:
    """chaos_level = energy = 0.5 (the defaults) give the [llm] values unchanged."""
    spec = LlmSpec(temperature=1.7, top_p=0.3, max_tokens=123, max_sentences=7)
    persona = Persona(name="A", llm=spec)
    assert persona.sampling() == Sampling(temperature=1.7, top_p=0.3, max_tokens=123, max_sentences=7)
    assert Persona(name="A").sampling() == Sampling(temperature=0.7, top_p=0.9, max_tokens=80, max_sentences=3)


def test_chaos_raises_temperature_and_top_p_within_bounds() -> None:
    """More chaos: hotter sampling; less: cooler; never past the sane range unless [llm] itself is past it."""
    wild, tame = Persona(name="A", chaos_level=1.0), Persona(name="A", chaos_level=0.0)
    assert wild.sampling().temperature == pytest.approx(0.9) and wild.sampling().top_p == pytest.approx(0.95)
    assert tame.sampling().temperature == pytest.approx(0.5) and tame.sampling().top_p == pytest.approx(0.85)
    hot = Persona(name="A", chaos_level=1.0, llm=LlmSpec(temperature=1.25, top_p=1.0))
    assert hot.sampling().temperature == 1.3 and hot.sampling().top_p == 1.0
    cold = Persona(name="A", chaos_level=0.0, llm=LlmSpec(temperature=0.15))
    assert cold.sampling().temperature == 0.1
    beyond = Persona(name="A", chaos_level=1.0, llm=LlmSpec(temperature=1.8))
    assert beyond.sampling().temperature == 1.8, "a value set past the range is kept, not raised further"


def test_energy_makes_replies_snappier() -> None:
    """High energy: fewer tokens and one sentence fewer; low energy: more of both; always within limits."""
    spec = LlmSpec(max_tokens=60, max_sentences=3)
    high = Persona(name="A", energy=0.9, llm=spec).sampling()
    low = Persona(name="A", energy=0.1, llm=spec).sampling()
    mild = Persona(name="A", energy=0.6, llm=spec).sampling()
    assert (high.max_tokens, high.max_sentences) == (50, 2)
    assert (low.max_tokens, low.max_sentences) == (70, 4)
    assert (mild.max_tokens, mild.max_sentences) == (58, 3)
    floor = Persona(name="A", energy=1.0, llm=LlmSpec(max_tokens=8, max_sentences=1)).sampling()
    assert (floor.max_tokens, floor.max_sentences) == (8, 1)
    ceiling = Persona(name="A", energy=0.0, llm=LlmSpec(max_tokens=4096, max_sentences=50)).sampling()
    assert (ceiling.max_tokens, ceiling.max_sentences) == (4096, 50)


def test_sampling_leaves_the_other_llm_values_to_the_spec() -> None:
    """Sampling is frozen and holds only the four shaped values."""
    sampling = Persona(name="A").sampling()
    with pytest.raises(AttributeError):
        sampling.temperature = 1.0  # type: ignore[misc]


def test_neutral_persona_prompt_has_no_style_line(tmp_path: Path) -> None:
    """A persona that sets none of style/energy/chaos_level gets exactly its own prompt."""
    persona = Persona(name="Kitsu", system_prompt="You are {name}.")
    assert persona.style_line() == ""
    assert persona.build_system_prompt(tmp_path) == "You are Kitsu."


def test_style_line_comes_last_and_names_the_style(tmp_path: Path) -> None:
    """The style line is appended after the prompt, so the prompt's own text stays the stable prefix."""
    persona = Persona(name="Kitsu", system_prompt="You are {name}.", style="chaotic", energy=0.9, chaos_level=0.1)
    assert persona.build_system_prompt(tmp_path) == (
        "You are Kitsu.\n\nYour style: chaotic, excited and snappy, steady and on topic.")
    calm = Persona(name="Yuki", system_prompt="Hi.", energy=0.2, chaos_level=0.9)
    assert calm.build_system_prompt(tmp_path).endswith("Your style: relaxed and unhurried, playfully unpredictable.")
    assert Persona(name="A", style="kawaii").style_line() == "Your style: kawaii."


def test_style_placeholder_is_not_repeated(tmp_path: Path) -> None:
    """A prompt that already uses {style} gets only the energy/chaos words."""
    persona = Persona(name="A", system_prompt="A {style} fox.", style="cozy", energy=0.8)
    assert persona.build_system_prompt(tmp_path) == "A cozy fox.\n\nYour style: excited and snappy."
    assert Persona(name="A", system_prompt="A {style} fox.", style="cozy").build_system_prompt(tmp_path) == "A cozy fox."


@pytest.mark.parametrize("name", ["kitsu", "calm"])
def test_shipped_personas_have_a_style(name: str) -> None:
    """The shipped personas set style, energy and chaos, so both the prompt and the sampling show them."""
    persona = load_persona(ROOT / "personas", name, ROOT / "prompts")
    prompt = persona.build_system_prompt(ROOT / "prompts")
    assert prompt.splitlines()[-1] == persona.style_line() and persona.style in persona.style_line()
    assert persona.sampling() != Sampling(persona.llm.temperature, persona.llm.top_p, persona.llm.max_tokens,
                                          persona.llm.max_sentences)
