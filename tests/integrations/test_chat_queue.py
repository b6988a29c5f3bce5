"""Chat queue units: pacing, per-user cooldown, duplicates, spam, length cap, badge priority, bound."""

from __future__ import annotations

from kitsu_tui.config.settings import TwitchSettings
from kitsu_tui.integrations.chat import ChatLine
from kitsu_tui.integrations.chat_queue import ChatQueue, cap_length, spam_reason


class Clock:
    """A hand-driven monotonic clock."""

    def __init__(self) -> None:
        self.t = 1000.0

    def __call__(self) -> float:
        return self.t


def msg(clock: Clock, text: str, login: str = "viewer", badges: tuple[str, ...] = ()) -> ChatLine:
    """A chat message received now."""
    return ChatLine(text=text, login=login, user_id=f"id-{login}", badges=frozenset(badges), received=clock.t)


def make(**overrides: object) -> tuple[ChatQueue, Clock]:
    """A queue on a fake clock."""
    clock = Clock()
    settings = TwitchSettings(**{"reply_interval_s": 5.0, "user_cooldown_s": 20.0, "duplicate_window_s": 60.0,
                                 "max_queue": 3, "max_chars": 40, **overrides})
    return ChatQueue(settings, clock), clock


def test_pacing_one_reply_per_interval() -> None:
    """Two queued messages come out at least reply_interval_s apart."""
    queue, clock = make()
    assert queue.offer(msg(clock, "first question", "a")).accepted
    assert queue.offer(msg(clock, "second question", "b")).accepted
    assert queue.pop_ready() is not None
    assert queue.pop_ready() is None
    assert queue.wait_s() == 5.0
    clock.t += 4.9
    assert queue.pop_ready() is None
    clock.t += 0.1
    second = queue.pop_ready()
    assert second is not None and second.text == "second question"


def test_user_cooldown_and_duplicates() -> None:
    """A chatter's next line within the cooldown and the same text from anyone are refused."""
    queue, clock = make()
    assert queue.offer(msg(clock, "hi kitsu how are you", "a")).accepted
    assert queue.offer(msg(clock, "another one", "a")).reason == "cooldown"
    assert queue.offer(msg(clock, "Hi, kitsu... how are you?", "b")).reason == "duplicate"
    clock.t += 21
    assert queue.offer(msg(clock, "another one", "a")).accepted
    clock.t += 61
    assert queue.offer(msg(clock, "hi kitsu how are you", "c")).accepted


def test_spam_and_length_cap() -> None:
    """Floods, shouting, links and emote-only lines are spam; long lines are cut at a word boundary."""
    assert spam_reason("!!!! ??? <3") == "no words"
    assert spam_reason("hiiiiiiiiiiiiiii") == "repeated characters"
    assert spam_reason("lol lol lol lol lol") == "repeated words"
    assert spam_reason("WHY ARE YOU LIKE THIS") == "all caps"
    assert spam_reason("free followers at www.example.com") == "link"
    assert spam_reason("what is your favourite food?") is None
    queue, clock = make()
    assert queue.offer(msg(clock, "LOOK AT THIS AMAZING THING", "a")).reason == "spam: all caps"
    assert queue.offer(msg(clock, "word " * 30, "b")).reason == "spam: repeated words"
    long = "tell me a story about a fox who lives in the forest near the river"
    assert queue.offer(msg(clock, long, "c")).accepted
    out = queue.pop_ready()
    assert out is not None and out.text == cap_length(long, 40) and len(out.text) <= 40
    assert out.text == "tell me a story about a fox who lives in"


def test_badge_priority_and_bound() -> None:
    """Mods and subs go first; a full queue evicts its oldest lowest-priority line or refuses a lower one."""
    queue, clock = make(reply_interval_s=0.0)
    assert queue.offer(msg(clock, "plain one", "a")).accepted
    assert queue.offer(msg(clock, "sub question", "b", ("subscriber",))).accepted
    assert queue.offer(msg(clock, "plain two", "c")).accepted
    assert queue.offer(msg(clock, "mod question", "d", ("moderator",))).accepted  # evicts "plain one"
    assert len(queue) == 3 and queue.dropped["evicted"] == 1
    assert queue.offer(msg(clock, "vip question", "e", ("vip",))).accepted  # evicts "plain two"
    queue2, clock2 = make(reply_interval_s=0.0, max_queue=1)
    assert queue2.offer(msg(clock2, "mod line", "m", ("moderator",))).accepted
    assert queue2.offer(msg(clock2, "plain line", "p")).reason == "queue full"
    order = [queue.pop_ready() for _ in range(3)]
    assert [m.text for m in order if m] == ["mod question", "vip question", "sub question"]
    assert queue.pop_ready() is None


def test_stale_messages_are_dropped() -> None:
    """A line older than max_age_s is never answered."""
    queue, clock = make(max_age_s=30.0)
    assert queue.offer(msg(clock, "old news", "a")).accepted
    clock.t += 31
    assert queue.pop_ready() is None
    assert queue.dropped["stale"] == 1
