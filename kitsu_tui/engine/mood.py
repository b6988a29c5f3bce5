"""Streaming mood-tag filter: takes the mood and actions out of LLM output so they are never spoken."""

from __future__ import annotations

import re
from collections.abc import Iterable

from kitsu_tui.config.persona import BASE_MOODS

#: Longest tag content held back while waiting for its closing bracket (latency bound).
HOLD_LIMIT = 20

#: Words a model writes instead of the canonical mood names.
MOOD_ALIASES: dict[str, str] = {
    "joy": "happy", "joyful": "happy", "glad": "happy", "cheerful": "happy", "excited": "happy",
    "smile": "happy", "smiling": "happy", "laugh": "happy", "playful": "happy", "smug": "happy",
    "upset": "sad", "cry": "sad", "crying": "sad", "sorrow": "sad", "lonely": "sad",
    "mad": "angry", "annoyed": "angry", "grumpy": "angry", "furious": "angry", "angery": "angry",
    "shocked": "surprised", "surprise": "surprised", "amazed": "surprised", "wow": "surprised",
    "calm": "neutral", "normal": "neutral", "thinking": "neutral", "curious": "neutral",
}

#: First words of parenthesised text that is a stage direction, not speech: "(giggles)".
STAGE_WORDS = frozenset(
    ["laughs", "laugh", "laughing", "giggles", "giggle", "giggling", "smiles", "smile", "smiling", "sighs", "sigh", "winks", "wink", "gasps", "gasp", "blushes", "blush", "nods", "nod", "grins", "grin", "pouts", "pout", "waves", "wave", "claps", "clap", "cries", "sobs", "chuckles", "chuckle", "snickers", "whispers", "shrugs", "yawns", "yips", "yip", "wags", "jumps", "bounces", "hugs", "squeals", "tilts", "hums", "purrs", "growls", "screams", "coughs", "sniffs"]
)

_OPENERS = {"[": "]", "*": "*", "(": ")"}
_CLOSING_PUNCT = ".,!?;:)"
_SENTENCE_END = ".!?…"
_WORD_RE = re.compile(r"[a-z']+")

_LEXICON: dict[str, frozenset[str]] = {
    "happy": frozenset(
        ["love", "yay", "great", "awesome", "fun", "happy", "glad", "haha", "hehe", "ehehe", "yummy", "cute", "thanks", "thank", "welcome", "nice", "cool", "best", "wonderful", "amazing", "excited", "hooray", "woohoo", "perfect", "delicious", "sweet", "fantastic"]
    ),
    "sad": frozenset(
        ["sad", "sorry", "miss", "cry", "crying", "tears", "lonely", "unfortunately", "sigh", "poor", "hurts", "hurt", "nooo", "sniff", "depressing", "heartbroken", "alas"]
    ),
    "angry": frozenset(
        ["angry", "hate", "annoying", "stupid", "mad", "grr", "grrr", "ugh", "furious", "rude", "dare", "unfair", "worst", "hmph"]
    ),
    "surprised": frozenset(["wow", "whoa", "woah", "omg", "really", "seriously", "unbelievable", "huh", "what", "whaaat", "no", "way"]),
}


#: Stage directions that give away the mood ("*giggles*" is happy).
_ACTION_HINTS: dict[str, str] = {
    "happy": "laughs laugh giggles giggle smiles smile grins grin winks wink claps bounces squeals",
    "sad": "sighs sigh sobs cries sniff sniffs",
    "angry": "growls pouts pout hmph",
    "surprised": "gasps gasp",
}
_ACTION_MOODS: dict[str, str] = {word: mood for mood, words in _ACTION_HINTS.items() for word in words.split()}


def infer_mood(text: str, actions: Iterable[str] = ()) -> str:
    """Guess a mood from words, punctuation and stage directions when the model gave no tag; default "neutral"."""
    lowered = text.lower()
    scores = dict.fromkeys(_LEXICON, 0.0)
    for action in actions:
        hinted = _ACTION_MOODS.get(action.split("_", 1)[0])
        if hinted:
            scores[hinted] += 1.5
    for raw in _WORD_RE.findall(lowered):
        word = raw.strip("'")
        squeezed = re.sub(r"(.)\1{2,}", r"\1", word)
        for mood, words in _LEXICON.items():
            if word in words or squeezed in words:
                scores[mood] += 1.0
    scores["surprised"] += 2.0 * (lowered.count("?!") + lowered.count("!?"))
    scores["happy"] += min(lowered.count("!"), 3) * 0.4
    best = max(scores, key=lambda mood: scores[mood])
    return best if scores[best] >= 1.0 else "neutral"


class MoodFilter:
    """Feed LLM pieces in; get back only speakable text, with `mood`, `actions` and `mood_decided` set.

    The reply may open with `[mood]` or `[mood|action,action]`. Stage directions anywhere
    (`*giggles*`, `[laughs]`, `(sighs)`) are removed and kept as actions. Text is held back only
    while a tag might still be forming, at most HOLD_LIMIT characters.
    """

    def __init__(self, moods: Iterable[str] | None = None) -> None:
        self.known_moods: frozenset[str] = frozenset(moods or BASE_MOODS) | frozenset(BASE_MOODS)
        self.reset()

    def reset(self) -> None:
        """Forget everything: ready for a new reply."""
        self.mood: str = "neutral"
        """The reply's mood (valid once mood_decided is True)."""
        self.mood_decided: bool = False
        """True once the mood is known: from the leading tag, or guessed from the first sentence."""
        self._actions: list[str] = []
        self._pending = ""
        self._space_owed = ""
        self._just_stripped = False
        self._spoken: list[str] = []

    @property
    def actions(self) -> tuple[str, ...]:
        """Actions from the tag and stage directions, in order, without duplicates."""
        return tuple(dict.fromkeys(self._actions))

    @property
    def text(self) -> str:
        """Everything returned as speakable so far."""
        return "".join(self._spoken)

    def feed(self, piece: str) -> str:
        """Add a piece of model output; return the text that is safe to speak now."""
        out: list[str] = []
        buffer = self._pending + piece
        self._pending = ""
        i = 0
        while i < len(buffer):
            char = buffer[i]
            if char in _OPENERS:
                end = self._find_closer(buffer, i)
                if end is None:  # might still be forming: hold it back
                    self._pending = buffer[i:]
                    break
                if end > 0:
                    self._handle_tag(char, buffer[i + 1 : end], out)
                    i = end + 1
                    continue
                if char == "(":  # too long or broken: an ordinary parenthesis
                    self._emit(char, out)
            elif char.isspace():
                if out or self._spoken:
                    self._space_owed = self._space_owed or char
            elif char not in "]*":
                self._emit(char, out)
            i += 1
        return self._finish_piece(out)

    def finish(self) -> str:
        """Flush held-back text at the end of the reply and settle the mood."""
        out: list[str] = []
        held, self._pending = self._pending, ""
        if held.startswith("("):  # an unclosed parenthesis is ordinary text
            for char in held:
                if char.isspace():
                    self._owe(char)
                else:
                    self._emit(char, out)
        # An unclosed [ or * at the very end is a tag cut off by the token limit: never spoken.
        self._space_owed = ""
        text = self._finish_piece(out)
        if not self.mood_decided:
            self._decide(infer_mood(self.text, self._actions))
        return text

    def _find_closer(self, buffer: str, start: int) -> int | None:
        """Index of the closer of the opener at `start`; None = still forming; -1 = not a tag."""
        closer = _OPENERS[buffer[start]]
        limit = min(len(buffer), start + 2 + HOLD_LIMIT)
        for j in range(start + 1, limit):
            if buffer[j] == closer:
                return j
            if buffer[j] == "\n":
                return -1
        return None if len(buffer) < start + 2 + HOLD_LIMIT else -1

    def _handle_tag(self, opener: str, content: str, out: list[str]) -> None:
        """Interpret one complete bracketed/starred span: mood, actions, or plain text in parentheses."""
        words = content.strip().lower()
        if opener == "(":
            first = words.split(" ", 1)[0] if words else ""
            if first not in STAGE_WORDS and self._canonical(first) is None:
                self._emit("(", out)
                for char in content:
                    if char.isspace():
                        self._owe(char)
                    else:
                        self._emit(char, out)
                self._emit(")", out)
                return
        head, _, tail = words.partition("|")
        mood = self._canonical(head.strip())
        if mood is not None:
            if not self.mood_decided:
                self._decide(mood)
        elif head.strip():
            self._actions.append(re.sub(r"\s+", "_", head.strip()))
        for action in re.split(r"[,\s]+", tail):
            if action:
                self._actions.append(action)
        self._just_stripped = True

    def _canonical(self, word: str) -> str | None:
        """The known mood a tag word names, if any."""
        if word in self.known_moods:
            return word
        alias = MOOD_ALIASES.get(word)
        return alias if alias in self.known_moods else None

    def _owe(self, char: str) -> None:
        """Remember that whitespace comes before the next visible character."""
        self._space_owed = self._space_owed or char

    def _emit(self, char: str, out: list[str]) -> None:
        """Append a visible character, with at most one whitespace before it and none before punctuation after a tag."""
        after_tag_punct = self._just_stripped and char in _CLOSING_PUNCT
        if self._space_owed and (out or self._spoken) and not after_tag_punct:
            out.append(self._space_owed)
        self._space_owed = ""
        self._just_stripped = False
        out.append(char)

    def _decide(self, mood: str) -> None:
        """Fix the reply's mood."""
        self.mood = mood
        self.mood_decided = True

    def _finish_piece(self, out: list[str]) -> str:
        """Record emitted text and, without a tag, guess the mood once a first sentence is complete."""
        text = "".join(out)
        if text:
            self._spoken.append(text)
            if not self.mood_decided and any(end in text for end in _SENTENCE_END):
                self._decide(infer_mood(self.text, self._actions))
        return text


def parse_reply(text: str, moods: Iterable[str] | None = None) -> tuple[str, str, tuple[str, ...]]:
    """Split a whole reply into (speakable text, mood, actions)."""
    mood_filter = MoodFilter(moods)
    spoken = mood_filter.feed(text) + mood_filter.finish()
    return spoken, mood_filter.mood, mood_filter.actions
