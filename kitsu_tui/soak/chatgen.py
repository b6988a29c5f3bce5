"""A seeded generator of varied, realistic Twitch-style viewer messages for soak runs."""

from __future__ import annotations

import random
from collections.abc import Iterator

from kitsu_tui.soak.plan import ChatItem

_NAMES = (
    "pixelfox", "MossyMoth", "ramen_enjoyer", "kaz_plays", "luna_tic", "Tofu_Knight", "bytebandit", "sleepy_otter",
    "CaptainCrumbs", "neon_koi", "grandma_gamer", "wobbly_wizard", "deltaV", "snackattack99", "ChiiBii", "frogposter",
    "mintleaf", "Ruu", "o_o_o", "HarborSeal", "quietcomet", "lava_lamp", "Gigglesnort", "mapleSyrup",
)
_GREETINGS = (
    "hi kitsu!", "hello hello", "good evening kitsu", "yo", "just got here, what did I miss?", "hiii from Brazil",
    "first time here, hi!", "back from dinner", "heya fox", "morning from Australia lol",
)
_TOPICS = (
    "your ears", "the boss fight", "retro games", "ramen", "the new outfit", "your tail", "speedruns", "cats",
    "the weather", "pizza toppings", "horror games", "lofi music", "space", "mushrooms", "Mario Kart",
)
_QUESTIONS = (
    "what's your favorite {topic}?", "do you like {topic}?", "how do you feel about {topic}?",
    "can you tell us a story about {topic}?", "hot take on {topic}?", "what would you rate {topic} out of 10?",
    "is {topic} overrated?", "tell me one fun fact about {topic}", "what do foxes think of {topic}?",
    "have you ever tried {topic}?",
)
_REACTIONS = (
    "LOL", "that was so good", "W stream", "this chat is wild", "kitsu you're so funny", "no way",
    "gg", "I'm crying", "true true", "based", "poggers", "love this vibe",
)
_LONG = (
    "ok so today at work my boss asked me to fix the printer again and I told him I'm a programmer not a wizard, "
    "anyway what should I cook tonight?",
    "I've been watching since your first stream and honestly the growth is amazing, what's your goal for this year?",
    "my cat just knocked my drink over while I was typing this, any advice on how to train a chaotic cat?",
    "quick question because I'm studying for exams: do you have any tips for staying focused for long sessions?",
)
_EMOTES = ("", "", "", " :)", " <3", " PogChamp", " LUL", " KEKW", " 🦊", " !!", " ???")


class SyntheticChat:
    """An endless, reproducible stream of chat messages: greetings, questions, reactions, rambles, typos."""

    def __init__(self, seed: int = 7, max_delay_s: float = 0.5) -> None:
        self.random = random.Random(seed)
        self.max_delay_s = max_delay_s

    def __iter__(self) -> Iterator[ChatItem]:
        return self

    def __next__(self) -> ChatItem:
        """The next message with a small random pause before it."""
        rnd = self.random
        roll = rnd.random()
        if roll < 0.15:
            text = rnd.choice(_GREETINGS)
        elif roll < 0.70:
            text = rnd.choice(_QUESTIONS).format(topic=rnd.choice(_TOPICS))
        elif roll < 0.88:
            text = rnd.choice(_REACTIONS)
        else:
            text = rnd.choice(_LONG)
        if rnd.random() < 0.2:
            text = text.capitalize()
        if rnd.random() < 0.08:
            text = text.upper()
        if rnd.random() < 0.1 and len(text) > 8:
            cut = rnd.randrange(1, len(text) - 2)  # a typo: two letters swapped
            text = text[:cut] + text[cut + 1] + text[cut] + text[cut + 2 :]
        text += rnd.choice(_EMOTES)
        delay = round(rnd.uniform(0.0, self.max_delay_s), 2)
        return ChatItem(user=rnd.choice(_NAMES), text=text, delay=delay)
