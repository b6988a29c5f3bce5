"""The pre-air hold: reply sentences waiting for review or for a broadcast delay, approved or dumped by the operator."""

from __future__ import annotations

import asyncio
import hashlib
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from kitsu_tui.config.settings import HoldSettings
from kitsu_tui.engine.events import Event, HoldResolved, SentenceHeld

#: Outcomes that put the sentence on air.
AIRED = frozenset({"approved", "released"})


def text_hash(text: str) -> str:
    """A short stable hash of a sentence for logs (the same as the moderation decision's digest)."""
    return hashlib.sha256(text.encode("utf-8", "replace")).hexdigest()[:12]


@dataclass
class HeldSentence:
    """One sentence in the hold and what will become of it."""

    hold_id: int
    turn_id: int
    index: int
    text: str
    reason: str
    review: bool
    created: float
    release_at: float | None
    outcome: asyncio.Future[str] = field(repr=False, default_factory=lambda: asyncio.get_running_loop().create_future())


class PreAirHold:
    """Holds sentences per source delay and for review; the operator approves or dumps them (oldest first)."""

    def __init__(self, settings: HoldSettings, emit: Callable[[Event], None]) -> None:
        self.settings = settings
        self._emit = emit
        self._items: dict[int, HeldSentence] = {}
        self._ids = 0

    def delay_for(self, origin: str) -> float:
        """The broadcast delay in seconds for a turn's origin (voice, chat, twitch, operator/idle)."""
        if origin == "say":
            return 0.0  # the operator's own verbatim line
        if origin in ("voice", "chat", "twitch", "operator"):
            return float(getattr(self.settings, origin))
        return self.settings.operator if origin == "idle" else self.settings.chat

    @property
    def items(self) -> list[HeldSentence]:
        """The sentences waiting now, oldest first."""
        return sorted(self._items.values(), key=lambda item: item.hold_id)

    def needed(self, origin: str, review_reason: str | None) -> bool:
        """True when a sentence must wait at all (False: it airs with no added work)."""
        return review_reason is not None or self.delay_for(origin) > 0

    async def wait(self, turn_id: int, index: int, text: str, origin: str, review_reason: str | None) -> bool:
        """Wait until the sentence may air (True) or is dumped (False)."""
        delay = self.delay_for(origin)
        review = review_reason is not None
        if not review and delay <= 0:
            return True
        self._ids += 1
        now = time.monotonic()
        item = HeldSentence(self._ids, turn_id, index, text, review_reason or f"broadcast delay ({origin})", review,
                            now, None if review else now + delay)
        self._items[item.hold_id] = item
        self._emit(SentenceHeld(turn_id=turn_id, hold_id=item.hold_id, index=index, text=text, reason=item.reason,
                                review=review, release_in_s=None if review else delay))
        timeout = self.settings.review_timeout_s if review else delay
        try:
            outcome = await asyncio.wait_for(asyncio.shield(item.outcome), timeout=timeout)
        except TimeoutError:
            outcome = "expired" if review else "released"
            self._resolve(item, outcome, "timer")
        except asyncio.CancelledError:
            self._resolve(item, "dumped", "interrupt")
            raise
        return outcome in AIRED

    def _resolve(self, item: HeldSentence, action: str, by: str) -> None:
        """Settle an item once and announce it."""
        if self._items.pop(item.hold_id, None) is None:
            return
        if not item.outcome.done():
            item.outcome.set_result(action)
        self._emit(HoldResolved(turn_id=item.turn_id, hold_id=item.hold_id, index=item.index, action=action, by=by,
                                text_hash=text_hash(item.text)))

    def _pick(self, hold_id: int | None) -> HeldSentence | None:
        """The item with this id, or the oldest."""
        if hold_id is not None:
            return self._items.get(hold_id)
        items = self.items
        return items[0] if items else None

    def approve(self, hold_id: int | None = None) -> bool:
        """Put one held sentence (default: the oldest) on air now; False when nothing was held."""
        item = self._pick(hold_id)
        if item is None:
            return False
        self._resolve(item, "approved", "operator")
        return True

    def dump(self, hold_id: int | None = None, by: str = "operator") -> bool:
        """Drop one held sentence (default: the oldest): never spoken, never stored."""
        item = self._pick(hold_id)
        if item is None:
            return False
        self._resolve(item, "dumped", by)
        return True

    def dump_all(self, by: str = "operator", turn_id: int | None = None) -> int:
        """Drop every held sentence (or every one of a turn); returns how many."""
        items = [item for item in self.items if turn_id is None or item.turn_id == turn_id]
        for item in items:
            self._resolve(item, "dumped", by)
        return len(items)
