"""Reply hygiene: prompt roles and names, no self-quotes in notes, the label stripper, the repetition guard, budgets."""

from __future__ import annotations

import asyncio
import re
from pathlib import Path
from typing import TYPE_CHECKING, Any

from kitsu_tui.backends.base import ChatMessage, GenerationParams
from kitsu_tui.backends.fakes import FakeLlm
from kitsu_tui.config.persona import Example, LlmSpec, load_persona
from kitsu_tui.engine.engine import Engine
from kitsu_tui.engine.events import Source
from kitsu_tui.engine.hygiene import RecentReplies, ReplyHygiene, is_greeting
from kitsu_tui.engine.mood import MoodFilter
from kitsu_tui.engine.prompt import note_for_prompt
from kitsu_tui.memory import MemoryStore
from kitsu_tui.memory.module import MemoryModule
from kitsu_tui.memory.summary import StoredTurn, clean_summary, extractive_summary

from .conftest import ROOT, EngineFactory, fake_tts

if TYPE_CHECKING:
    from kitsu_tui.backends.llm_llama import LlamaLlm


async def chat(engine: Engine, text: str, author: str) -> dict[str, Any]:
    assert engine.submit_text(text, Source.CHAT, author)
    await asyncio.wait_for(engine.wait_idle(), 15)
    return engine.records[-1]


def clean_all(hygiene: ReplyHygiene, chunks: list[str]) -> list[str]:
    """Every chunk through the hygiene, in order, keeping what is spoken."""
    return [kept for chunk in chunks if (kept := hygiene.clean(chunk))]


# --- prompt builder -------------------------------------------------------------------------------------------------


async def test_prompt_uses_roles_and_never_a_login_label(make_engine: EngineFactory) -> None:
    """The viewer's line is a plain user message; history holds user/assistant turns without 'login: ' labels."""
    llm = FakeLlm(["Snacks are the best thing ever.", "Blue like the night sky, friend."])
    engine, _ = await make_engine(llm=llm)
    engine.persona = engine.persona.model_copy(update={"examples": [Example(user="Hi!", assistant="[happy] Hiii!")]})
    await chat(engine, "what's your favorite snack?", "fan32")
    await chat(engine, "what's your favorite color?", "pixelpanda88")
    prompt = llm.prompts[-1]
    assert [m.role for m in prompt] == ["system", "user", "assistant", "user", "assistant", "user"]
    assert prompt[-1] == ChatMessage("user", "what's your favorite color?", name="pixelpanda88")
    assert prompt[3] == ChatMessage("user", "what's your favorite snack?")
    assert prompt[4] == ChatMessage("assistant", "Snacks are the best thing ever.")
    assert not any("fan32" in m.content or "pixelpanda88" in m.content for m in prompt)
    assert not any(m.name for m in prompt[:-1])
    assert ("user", "what's your favorite color?") in engine.conversation.history


async def test_the_login_travels_as_the_message_name_and_is_spoken_only_to_greet(make_engine: EngineFactory) -> None:
    """The login is the user message's `name`, never its text; a reply may say it only when the viewer greeted."""
    llm = FakeLlm(["Hiii fan32, welcome to the den!", "Thanks fan32, snacks are life."])
    engine, _ = await make_engine(llm=llm)
    greeted = await chat(engine, "hi kitsu!", "fan32")
    assert llm.prompts[-1][-1] == ChatMessage("user", "hi kitsu!", name="fan32")
    assert greeted["spoken"] == "Hiii fan32, welcome to the den!"
    answered = await chat(engine, "what's your favorite snack?", "fan32")
    assert llm.prompts[-1][-1].content == "what's your favorite snack?"
    assert answered["spoken"] == "Thanks, snacks are life."
    assert ("user", "hi kitsu!") in engine.conversation.history and not any(m.name for m in llm.prompts[-1][:-1])
    await chat(engine, "how are you?", "odd name!")
    assert llm.prompts[-1][-1].name == "odd_name_", "OpenAI accepts only [A-Za-z0-9_-] names"


def test_stop_sequences_cover_role_markers_and_labels(tmp_path: Path) -> None:
    """The kitsu persona's reply stops at role markers and speaker labels, the persona's own included."""
    from kitsu_tui.engine.prompt import STOP_SEQUENCES

    assert {"<|im_start|>", "<|im_end|>", "\nUser:", "\n\n"} <= set(STOP_SEQUENCES)
    persona = load_persona(ROOT / "personas", "kitsu", ROOT / "prompts")
    assert persona.llm.max_sentences <= 3, "a live persona answers in 1-3 sentences"
    assert LlmSpec().max_sentences == 3


async def test_notes_never_quote_the_persona(make_engine: EngineFactory, tmp_path: Path) -> None:
    """Recalled memory leaves out kitsu's own lines; a viewer's recalled line loses its login label."""
    store = MemoryStore(tmp_path / "memory.sqlite3")
    llm = FakeLlm(["Purple umbrellas are the best hats for little foxes.", "Rain is cozy and fun."])
    engine, _ = await make_engine(llm=llm)
    engine.register_module(MemoryModule(store))
    await engine.toggle_module("memory", True)
    await chat(engine, "do you like purple umbrellas?", "alice")
    await chat(engine, "is it raining?", "bob")
    await engine.conversation.refresh_notes("purple umbrellas for foxes", exclude_recent=0)
    conversation = await engine.conversation.conversation([])
    notes = [m.content for m in conversation if m.content.startswith("Things you remember")]
    assert notes, "the viewer's line about umbrellas is recalled"
    assert "best hats for little foxes" not in notes[0]
    assert "Earlier in chat: do you like purple umbrellas?" in notes[0]
    assert "alice:" not in notes[0]


def test_note_filter_drops_self_quotes_of_any_shape() -> None:
    own = ["The best way to end a conversation is to say goodbye with a smile."]
    assert note_for_prompt("You: anything at all", own) is None
    assert note_for_prompt("They said the best way to end a conversation is to say goodbye.", own) is None
    assert note_for_prompt("fan32: I like pizza", own) == "Earlier in chat: I like pizza"
    assert note_for_prompt("Talked with bob about pizza, cats.", own) == "Talked with bob about pizza, cats."


def test_summaries_quote_nobody() -> None:
    turns = [StoredTurn(1, 0.0, "user", "Do foxes like strawberries?", "bob"),
             StoredTurn(2, 0.0, "assistant", "Foxes love strawberries and blueberries with cream!")]
    summary = extractive_summary(turns)
    assert summary.startswith("Talked with bob about") and "strawberries" in summary
    assert '"' not in summary and "said" not in summary
    quoting = "Bob asked and you said foxes love strawberries and blueberries with cream."
    assert clean_summary(quoting, turns) is None
    assert clean_summary("Bob asked whether foxes like strawberries.", turns) == "Bob asked whether foxes like strawberries."


# --- label stripper -------------------------------------------------------------------------------------------------


def test_speaker_labels_and_role_markers_are_stripped() -> None:
    hygiene = ReplyHygiene(("Kitsu",), author="fan32", logins=["k1", "v0"])
    assert hygiene.clean("fan32: I love snacks!") == "I love snacks!"
    assert hygiene.clean("User: Kitsu: Foxes are fluffy.") == "Foxes are fluffy."
    assert hygiene.clean("Assistant: Yes, really.") == "Yes, really."
    assert hygiene.clean("k1: Oh wow.") == "Oh wow."
    assert hygiene.clean("<|im_start|>assistant Let's play!") == "Let's play!"
    assert hygiene.clean("Kitsu says: I love naps.") == "I love naps."
    assert hygiene.clean("Fun fact: foxes purr.") == "Fun fact: foxes purr.", "ordinary 'word:' speech stays"
    assert hygiene.clean("We start at 3:30 today.") == "We start at 3:30 today."
    assert hygiene.clean("Kitsu:") == ""


def test_invented_dialogue_is_dropped_with_the_rest_of_its_sentence() -> None:
    hygiene = ReplyHygiene(("Kitsu",), author="tofu_queen")
    chunks = ["You said: \"hi kitsu!\"", "He says, \"hello there,", "how are you?\"", "Puppies are the best!"]
    assert clean_all(hygiene, chunks) == ["Puppies are the best!"]
    assert [reason for reason, _ in hygiene.dropped] == ["invented dialogue", "invented dialogue",
                                                        "rest of a dropped sentence"]
    assert ReplyHygiene().clean("v0 said: the plan is secret.") == ""


def test_logins_are_spoken_only_to_greet_their_owner() -> None:
    asked = ReplyHygiene(("Kitsu",), author="luna_vt", logins=["fan32"])
    assert asked.clean("Luna_vt, you're right!") == "You're right!"
    assert asked.clean("Thanks, fan32!") == "Thanks!"
    greeted = ReplyHygiene(("Kitsu",), author="luna_vt", greeting=True, logins=["fan32"])
    assert greeted.clean("Hi luna_vt, welcome in!") == "Hi luna_vt, welcome in!"
    assert greeted.clean("fan32, say hi too!") == "Say hi too!"
    assert is_greeting("hi kitsu!") and is_greeting("Good morning chat") and is_greeting("hey there!")
    assert not is_greeting("what's your favorite snack?") and not is_greeting("this is fine")


def test_mangled_logins_are_not_spoken_either() -> None:
    """The LLM often misspells a login ("kaz_play" for kaz_plays); handle-like near misses go too, words stay."""
    hygiene = ReplyHygiene(("Kitsu",), author="kaz_plays", logins=["luna_tic", "pixel_fox42", "gamer"])
    assert hygiene.clean("Oh, kaz_play, speedruns are wild!") == "Oh, speedruns are wild!"
    assert hygiene.clean("Thanks \"lua_tic\" for the idea.") == "Thanks for the idea."
    assert hygiene.clean("Kazplays, that's a fun one.") == "That's a fun one."
    assert hygiene.clean("pixel_fox24 and @Pixel_Fox4 know it.") == "And know it."
    assert hygiene.clean("Games are fun, gamers too.") == "Games are fun, gamers too.", "plain words stay"
    assert hygiene.clean("My top_score is 42 and mp3s rule.") == "My top_score is 42 and mp3s rule."
    greeted = ReplyHygiene(("Kitsu",), author="kaz_plays", greeting=True, logins=["luna_tic"])
    assert greeted.clean("Hi kaz_play, welcome!") == "Hi kaz_play, welcome!", "the greeter's own name may be said"
    assert greeted.clean("Hi luna_tik!") == "Hi!"


# --- repetition guard -----------------------------------------------------------------------------------------------


def test_exact_repeats_of_recent_replies_are_dropped() -> None:
    recent = ["The best way to end a conversation is to say goodbye. Bye!", "Snacks are life."]
    hygiene = ReplyHygiene(recent=recent)
    chunks = ["Snacks are life.", "The best way to end a conversation is,", "to say goodbye.", "Foxes nap a lot!"]
    assert clean_all(hygiene, chunks) == ["Foxes nap a lot!"]
    assert hygiene.sentences == 1
    assert [reason for reason, _ in hygiene.dropped] == ["repeat", "repeat", "rest of a dropped sentence"]


def test_heavy_ngram_overlap_and_loops_inside_a_reply_are_dropped() -> None:
    hygiene = ReplyHygiene(recent=["The villain is not happy about the plan to steal the moon."])
    assert hygiene.clean("Oh no, the villain is not happy about the plan to steal the moon!") == ""
    assert hygiene.clean("I love pizza with extra cheese.") == "I love pizza with extra cheese."
    assert hygiene.clean("I love pizza with extra cheese!") == "", "the same sentence twice in one reply"
    assert hygiene.clean("Do you like pizza?") == "Do you like pizza?", "sharing a few words is fine"


def test_recent_replies_memory() -> None:
    memory = RecentReplies(["Hello there. I like cats a lot."])
    assert memory.repeats("hello THERE!")
    assert not memory.repeats("Hello friend.")
    assert memory.repeats("and I like cats a lot")


def test_say_turns_are_not_touched() -> None:
    hygiene = ReplyHygiene(recent=["Chat, are you still there?"], enabled=False)
    assert hygiene.clean("Chat, are you still there?") == "Chat, are you still there?"


async def test_engine_drops_labels_dialogue_and_repeats_before_speech(make_engine: EngineFactory) -> None:
    """Through the real TurnRunner: what reaches TTS is clean, and a repeated line is not said again."""
    llm = FakeLlm(["fan32: Snacks are the best! You said: \"I love snacks.\" Cookies are my favorite.",
                   "Snacks are the best! Pretzels are great too."])
    engine, rec = await make_engine(llm=llm)
    first = await chat(engine, "what's your favorite snack?", "fan32")
    assert first["spoken"] == "Snacks are the best! Cookies are my favorite."
    second = await chat(engine, "any other snack?", "pixelpanda88")
    assert second["spoken"] == "Pretzels are great too."
    assert fake_tts(engine).calls == ["Snacks are the best!", "Cookies are my favorite.", "Pretzels are great too."]
    assert list(engine.conversation.recent_replies) == [first["spoken"], second["spoken"]]


async def test_sentence_budget_stops_the_llm(make_engine: EngineFactory) -> None:
    """The persona's max_sentences ends the reply; the LLM is told to stop and the rest is never spoken."""
    reply = "One is fun. Two is more fun. Three is a lot. Four is too many. Five is silly. Six!"
    llm = FakeLlm([reply], token_delay_s=0.01)
    engine, rec = await make_engine(llm=llm)
    engine.persona = engine.persona.model_copy(update={"llm": LlmSpec(max_sentences=2)})
    record = await chat(engine, "count for me", "fan32")
    assert record["spoken"] == "One is fun. Two is more fun."
    assert "Four" not in record["reply"], "generation ended at the budget, not at the end of the reply"
    assert rec.of("LlmFinished")[-1].tokens < len(reply.split())


# --- the embedded model ---------------------------------------------------------------------------------------------


def test_embedded_model_opens_every_reply_with_a_mood_tag(real_llm: LlamaLlm) -> None:
    """With the constraint, SmolLM2-135M writes a known [mood] tag first; the mood filter reads it as the model's."""
    persona = load_persona(ROOT / "personas", "kitsu", ROOT / "prompts")
    system = persona.build_system_prompt(ROOT / "prompts")
    params = GenerationParams(max_tokens=16, temperature=0.8, mood_tags=persona.mood_names)
    for question in ("what's your favorite snack?", "my cat knocked over my water again", "do aliens exist?"):
        messages = [ChatMessage("system", system), ChatMessage("user", question)]
        raw = "".join(real_llm.stream(messages, params, lambda: False))
        match = re.match(r"\[([a-z]+)\]", raw)
        assert match is not None and match.group(1) in persona.mood_names, raw
        mood_filter = MoodFilter(persona.mood_names)
        mood_filter.feed(raw[: match.end()])
        assert mood_filter.mood_decided and mood_filter.mood == match.group(1)
    unconstrained = GenerationParams(max_tokens=4, temperature=0.0)
    assert "".join(real_llm.stream([ChatMessage("user", "Say hello.")], unconstrained, lambda: False))
