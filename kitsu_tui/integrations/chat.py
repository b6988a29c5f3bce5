"""kitsu's own Twitch chat line (ChatLine), independent of twitchio's types, and the conversion from a twitchio ChatMessage."""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any

MOD_BADGES = frozenset({"broadcaster", "moderator", "lead_moderator"})


@dataclass(frozen=True, slots=True)
class ChatLine:
    """One chat line as kitsu sees it: who, what, which badges, when (monotonic seconds)."""

    text: str
    login: str
    display_name: str = ""
    user_id: str = ""
    message_id: str = ""
    badges: frozenset[str] = frozenset()
    received: float = field(default_factory=time.monotonic)

    @property
    def author(self) -> str:
        """Name used in the turn (display name when known)."""
        return self.display_name or self.login

    @property
    def is_broadcaster(self) -> bool:
        """The channel owner."""
        return "broadcaster" in self.badges

    @property
    def is_mod(self) -> bool:
        """A moderator or the broadcaster: allowed to run commands."""
        return bool(self.badges & MOD_BADGES)


def from_twitchio(message: Any) -> ChatLine:
    """Convert a twitchio.ChatMessage (EventSub channel.chat.message) into kitsu's ChatLine."""
    chatter = message.chatter
    badges = {str(badge.set_id) for badge in (message.badges or [])}
    if getattr(chatter, "broadcaster", False) or str(chatter.id) == str(getattr(message.broadcaster, "id", "")):
        badges.add("broadcaster")
    if getattr(chatter, "moderator", False):
        badges.add("moderator")
    return ChatLine(
        text=str(message.text or ""),
        login=str(chatter.name or ""),
        display_name=str(getattr(chatter, "display_name", "") or ""),
        user_id=str(chatter.id),
        message_id=str(message.id),
        badges=frozenset(badges),
    )
