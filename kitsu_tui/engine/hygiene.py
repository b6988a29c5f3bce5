"""Reply hygiene before speech: speaker labels, invented dialogue, unasked logins and repeated sentences are dropped."""

from __future__ import annotations

import re
from collections.abc import Iterable

from kitsu_tui.engine.chunker import ends_sentence

RECENT_REPLIES = 10
"""How many earlier replies the repetition guard compares against."""
NGRAM = 3
"""Word n-gram size for the overlap check."""
MAX_OVERLAP = 0.6
"""A sentence whose word n-grams come from earlier replies at least this much is a rehash, not an answer."""
MIN_OVERLAP_NGRAMS = 4
"""Sentences with fewer n-grams than this are judged by exact repeats only."""

#: Role words that never start a spoken sentence as `word:`.
ROLE_LABELS = frozenset(
    ["user", "assistant", "viewer", "chat", "chatter", "system", "human", "ai", "bot", "streamer", "host", "guest", "narrator", "you", "me", "vtuber", "moderator", "mod", "question", "answer", "reply", "response", "q", "a"]
)
SPEECH_VERBS = "said|says|asked|asks|replied|replies|wrote|writes|answered|answers|responded|responds|told|tells"

_MARKER_RE = re.compile(r"<\|[^|>\s]{1,30}\|?>(?:\s*(?:user|assistant|system)\b)?|</?s>", re.IGNORECASE)
_LABEL_RE = re.compile(r"^\s*[\"'“(*-]*\s*(?P<label>[^\s:\"“]{1,30}(?: [^\s:\"“]{1,20}){0,2})\s*:(?:\s+|$)")
_DIALOGUE_RE = re.compile(rf"\b(?:{SPEECH_VERBS})\b\s*(?::|,?\s*[\"“])", re.IGNORECASE)
_WORD_RE = re.compile(r"[a-z0-9']+")
_EMPTY_QUOTES_RE = re.compile(r"\s*(?:\"\s*\"|“\s*”|(?<!\w)'\s*'(?!\w)|\(\s*\))")
_TOKEN_RE = re.compile(r"(?<![\w@])@?\w{4,}(?!\w)")
FUZZY_LOGIN_MIN = 5
"""Logins at least this long also match handle-like tokens a small edit away ("kaz_play" for kaz_plays)."""
_GREETING_RE = re.compile(
    r"^\W*(?:hi+|hello+|hey+|heya|hiya|yo|howdy|greetings|good (?:morning|afternoon|evening|night))\b",
    re.IGNORECASE,
)


def is_greeting(text: str) -> bool:
    """True when a viewer's line opens with a greeting ("hi kitsu!", "good morning"): a reply may use their name."""
    return bool(_GREETING_RE.match(text))


def words(text: str) -> list[str]:
    """Lower-case words, for comparing sentences."""
    return _WORD_RE.findall(text.lower())


def ngrams(tokens: list[str], n: int = NGRAM) -> set[tuple[str, ...]]:
    """The word n-grams of a token list."""
    return {tuple(tokens[i : i + n]) for i in range(len(tokens) - n + 1)}


def split_sentences(text: str) -> list[str]:
    """A reply cut at sentence ends (for the repetition memory)."""
    return [s for s in re.split(r"(?<=[.!?…])\s+|\n+", text) if s.strip()]


class RecentReplies:
    """What the persona said lately, as exact sentences and word n-grams (the guard's memory)."""

    def __init__(self, replies: Iterable[str] = ()) -> None:
        self.sentences: set[str] = set()
        self.ngrams: set[tuple[str, ...]] = set()
        for reply in replies:
            self.add(reply)

    def add(self, text: str) -> None:
        """Remember every sentence of `text`."""
        for sentence in split_sentences(text):
            tokens = words(sentence)
            if tokens:
                self.sentences.add(" ".join(tokens))
                self.ngrams |= ngrams(tokens)

    def repeats(self, text: str) -> bool:
        """True when `text` is an earlier sentence again, or mostly made of earlier word n-grams."""
        tokens = words(text)
        if not tokens:
            return False
        if " ".join(tokens) in self.sentences:
            return True
        grams = ngrams(tokens)
        return len(grams) >= MIN_OVERLAP_NGRAMS and len(grams & self.ngrams) / len(grams) >= MAX_OVERLAP


class ReplyHygiene:
    """Cleans a reply's chunks one by one, in order, just before they are queued for speech.

    - Role markers (`<|im_start|>`) and leading speaker labels (`User:`, `Kitsu:`, `fan32:`, `v0 said:`) go.
    - A chunk that reports made-up speech ("You said: ...", "He says, \"...\"") is dropped, and so is the rest
      of its sentence.
    - Viewers' logins are not spoken, except the author's when they greeted the persona.
    - A sentence already said in the last replies (or earlier in this one), or one made mostly of their word
      n-grams, is dropped, and so is the rest of its sentence.
    """

    def __init__(self, persona_names: Iterable[str] = (), author: str = "", greeting: bool = False,
                 recent: Iterable[str] = (), enabled: bool = True, logins: Iterable[str] = ()) -> None:
        self.names = frozenset(n.lower() for n in persona_names if n)
        self.author = author
        self.greeting = greeting
        unspoken = {login for login in (author, *logins) if login} - ({author} if greeting else set())
        self._logins = (re.compile("|".join(rf"@?{_spoken_form(login)}" for login in sorted(unspoken, key=len, reverse=True)),
                                   re.IGNORECASE) if unspoken else None)
        self._unspoken = frozenset(login.lower() for login in unspoken)
        self._spoken = author.lower() if greeting and author else ""
        self.enabled = enabled
        self.memory = RecentReplies(recent)
        self.dropped: list[tuple[str, str]] = []
        """(reason, chunk) for every chunk dropped, in order."""
        self.sentences = 0
        """Sentences kept so far (a chunk that ends with . ! ? or … closes one)."""
        self._dropping = False
        self._sentence = ""

    def clean(self, chunk: str) -> str:
        """The speakable part of `chunk` ('' when nothing of it should be spoken)."""
        if not self.enabled:
            return chunk
        ends = ends_sentence(chunk)
        text = self._strip_labels(_MARKER_RE.sub(" ", chunk))
        reason = ""
        if self._dropping:
            reason = "rest of a dropped sentence"
        elif _DIALOGUE_RE.search(text):
            reason = "invented dialogue"
        else:
            text = self._without_login(text)
            if not any(c.isalnum() for c in text):
                reason = "label only"
            elif self.memory.repeats(self._sentence + " " + text if self._sentence else text):
                reason = "repeat"
        if reason:
            self.dropped.append((reason, chunk))
            self._dropping = not ends and reason != "label only"
            if ends:
                self._sentence = ""
            return ""
        text = " ".join(text.split())
        if ends:
            self.memory.add(self._sentence + " " + text if self._sentence else text)
            self._sentence = ""
            self.sentences += 1
        else:
            self._sentence = f"{self._sentence} {text}".strip()
        return text

    def end_sentence(self) -> None:
        """The reply ended: a sentence left open (no final punctuation) counts as one."""
        if self._sentence:
            self.memory.add(self._sentence)
            self.sentences += 1
        self._sentence, self._dropping = "", False

    def _is_label(self, label: str) -> bool:
        """A `label:` that names a speaker rather than starting ordinary speech ("Fun fact:")."""
        lowered = label.lower().strip("\"'“”*()[]")
        first = lowered.split(" ")[0]
        if " " in lowered:  # "Kitsu says:" labels the persona's own line; "He said:" starts invented dialogue
            return first in self.names
        return (lowered in ROLE_LABELS or lowered in self.names or lowered == self.author.lower()
                or (self._logins is not None and self._logins.fullmatch(lowered) is not None)
                or bool(re.search(r"[\d_@]", lowered)))

    def _strip_labels(self, text: str) -> str:
        """Remove every leading speaker label ("User: Kitsu: hi" -> "hi")."""
        while True:
            match = _LABEL_RE.match(text)
            if match is None or not self._is_label(match.group("label")):
                return text
            text = text[match.end() :]

    def _without_login(self, text: str) -> str:
        """Take viewers' logins out of `text` (not the author's when they greeted the persona)."""
        if self._logins is None:
            return text
        mangled = sorted({re.escape(token) for token in _TOKEN_RE.findall(text) if self._is_mangled_login(token)},
                         key=len, reverse=True)
        alternatives = "|".join([*mangled, self._logins.pattern])
        pattern = re.compile(rf"(?P<pre>[,\s]*)(?<![\w@])(?:{alternatives})(?![\w])(?P<post>[,:]?)", re.IGNORECASE)
        text = text.strip()
        if not pattern.search(text):
            return text

        def gap(match: re.Match[str]) -> str:  # "Thanks fan32, snacks" / "Oh, fan32, snacks" -> ", snacks"; "Hi, fan32!" -> "Hi!"
            if match.start() == 0:
                return ""
            return ", " if match.group("post") else " "

        at_start = bool(pattern.match(text))
        cleaned = _EMPTY_QUOTES_RE.sub(" ", pattern.sub(gap, text))
        cleaned = re.sub(r"\s+([.!?,;…])", r"\1", " ".join(cleaned.split())).strip()
        cleaned = re.sub(r",\s*([.!?;…])", r"\1", cleaned)
        return cleaned[:1].upper() + cleaned[1:] if at_start else cleaned

    def _is_mangled_login(self, token: str) -> bool:
        """A misspelt unspoken login (see `mangled_login`), unless it is the greeter's own name misspelt."""
        word = token.lstrip("@").lower()
        if self._spoken and within(word, self._spoken, 1):
            return False
        return mangled_login(word, self._unspoken) is not None


def mangled_login(token: str, logins: Iterable[str]) -> str | None:
    """The login `token` misspells: handle-like (`_` or digits) and a small edit away, or the login run together.

    Only logins of FUZZY_LOGIN_MIN+ characters count; an exact login is not a misspelling.
    """
    word = token.lstrip("@").lower()
    if len(word) < 4:
        return None
    handle_like = "_" in word or (any(c.isdigit() for c in word) and any(c.isalpha() for c in word))
    for login in (name.lower() for name in logins):
        if len(login) < FUZZY_LOGIN_MIN or word == login:
            continue
        if handle_like and within(word, login, 1 if len(login) < 8 else 2):
            return login
        if not handle_like and word == login.replace("_", ""):
            return login
    return None


def _spoken_form(login: str) -> str:
    """A regex for `login` as it may be written in a reply: `_` may also be read as a space ("kaz plays")."""
    return re.escape(login).replace("_", "[_ ]")


def within(a: str, b: str, limit: int) -> bool:
    """True when the edit distance between `a` and `b` is at most `limit` (banded Levenshtein)."""
    if abs(len(a) - len(b)) > limit:
        return False
    previous = list(range(len(b) + 1))
    for i, ca in enumerate(a, 1):
        current = [i] + [0] * len(b)
        for j, cb in enumerate(b, 1):
            current[j] = min(previous[j] + 1, current[j - 1] + 1, previous[j - 1] + (ca != cb))
        if min(current) > limit:
            return False
        previous = current
    return previous[-1] <= limit
