"""The chat queue between Twitch and the engine: pacing, per-user cooldown, duplicate/spam filters, badge priority."""

from __future__ import annotations

import dataclasses
import re
import time
from collections.abc import Callable
from dataclasses import dataclass

from kitsu_tui.config.settings import TwitchSettings
from kitsu_tui.integrations.chat import ChatLine

_NORMALIZE_RE = re.compile(r"[^\w ]+")
_REPEAT_CHAR_RE = re.compile(r"(.)\1{9,}")
_LINK_RE = re.compile(r"https?://|www\.|\b\w+\.(com|net|org|gg|tv|ly|io)\b", re.IGNORECASE)


@dataclass(frozen=True, slots=True)
class Verdict:
    """Whether the queue took a message, and why not (one word) when it did not."""

    accepted: bool
    reason: str = ""


def normalize(text: str) -> str:
    """Lower-case words only, single spaces: the key for duplicate detection."""
    return " ".join(_NORMALIZE_RE.sub(" ", text.casefold()).split())


def spam_reason(text: str) -> str | None:
    """Why a message looks like spam (no words, char flood, word flood, shouting, link), or None."""
    if not any(ch.isalpha() for ch in text):
        return "no words"
    if _REPEAT_CHAR_RE.search(text):
        return "repeated characters"
    words = normalize(text).split()
    if len(words) >= 5 and max(words.count(w) for w in set(words)) / len(words) > 0.6:
        return "repeated words"
    letters = [ch for ch in text if ch.isalpha()]
    if len(letters) >= 12 and sum(ch.isupper() for ch in letters) / len(letters) > 0.7:
        return "all caps"
    if _LINK_RE.search(text):
        return "link"
    return None


def cap_length(text: str, max_chars: int) -> str:
    """Cut text to max_chars at a word boundary."""
    text = " ".join(text.split())
    if len(text) <= max_chars:
        return text
    cut = text[: max_chars + 1].rsplit(" ", 1)[0]
    return cut if len(cut) >= max_chars // 2 else text[:max_chars]


class ChatQueue:
    """A bounded priority queue of chat messages released at most one per reply interval."""

    def __init__(self, settings: TwitchSettings, clock: Callable[[], float] = time.monotonic) -> None:
        self.settings = settings
        self.clock = clock
        self._items: list[tuple[int, int, ChatLine]] = []  # (rank, arrival seq, message)
        self._seq = 0
        self._last_by_user: dict[str, float] = {}
        self._recent_texts: dict[str, float] = {}
        self._last_release = -1e9
        self.dropped: dict[str, int] = {}

    def __len__(self) -> int:
        return len(self._items)

    def rank(self, message: ChatLine) -> int:
        """0 for the first configured badge, 1 for the next...; everyone else after them."""
        order = self.settings.priority_badges
        ranks = [order.index(b) for b in message.badges if b in order]
        return min(ranks) if ranks else len(order)

    def _refuse(self, reason: str) -> Verdict:
        """Count a refusal by reason and return its verdict."""
        self.dropped[reason] = self.dropped.get(reason, 0) + 1
        return Verdict(False, reason)

    def offer(self, message: ChatLine) -> Verdict:
        """Filter a message and queue it (length-capped) when it passes."""
        now = self.clock()
        cfg = self.settings
        text = cap_length(message.text, cfg.max_chars)
        if not text:
            return self._refuse("empty")
        user = message.user_id or message.login
        last = self._last_by_user.get(user)
        if last is not None and now - last < cfg.user_cooldown_s:
            return self._refuse("cooldown")
        spam = spam_reason(text)
        if spam:
            return self._refuse(f"spam: {spam}")
        key = normalize(text)
        self._recent_texts = {k: t for k, t in self._recent_texts.items() if now - t < cfg.duplicate_window_s}
        if key in self._recent_texts:
            return self._refuse("duplicate")
        rank = self.rank(message)
        if len(self._items) >= cfg.max_queue:
            worst = max(self._items, key=lambda item: (item[0], -item[1]))
            if worst[0] < rank:
                return self._refuse("queue full")
            self._items.remove(worst)
            self.dropped["evicted"] = self.dropped.get("evicted", 0) + 1
        self._seq += 1
        self._items.append((rank, self._seq, dataclasses.replace(message, text=text)))
        self._last_by_user[user] = now
        self._recent_texts[key] = now
        return Verdict(True)

    def wait_s(self) -> float:
        """Seconds until pacing allows the next release (0 = now)."""
        return max(0.0, self._last_release + self.settings.reply_interval_s - self.clock())

    def pop_ready(self) -> ChatLine | None:
        """The best queued message when pacing allows one (stale ones are dropped), else None."""
        now = self.clock()
        if self.wait_s() > 0:
            return None
        fresh = [item for item in self._items if now - item[2].received <= self.settings.max_age_s]
        if len(fresh) != len(self._items):
            self.dropped["stale"] = self.dropped.get("stale", 0) + len(self._items) - len(fresh)
            self._items = fresh
        if not self._items:
            return None
        best = min(self._items, key=lambda item: (item[0], item[1]))
        self._items.remove(best)
        self._last_release = now
        return best[2]

