"""Documented EventSub `channel.chat.message` notification payloads (Twitch EventSub reference, version 1)."""

from __future__ import annotations

import copy
from typing import Any

NOTIFICATION: dict[str, Any] = {
    "metadata": {"message_id": "m1", "message_type": "notification", "message_timestamp": "2025-01-01T00:00:00Z",
                 "subscription_type": "channel.chat.message", "subscription_version": "1"},
    "payload": {
        "subscription": {"id": "sub1", "status": "enabled", "type": "channel.chat.message", "version": "1",
                         "condition": {"broadcaster_user_id": "1001", "user_id": "2002"},
                         "transport": {"method": "websocket", "session_id": "s1"},
                         "created_at": "2025-01-01T00:00:00Z", "cost": 0},
        "event": {
            "broadcaster_user_id": "1001", "broadcaster_user_login": "kitsu", "broadcaster_user_name": "Kitsu",
            "chatter_user_id": "3003", "chatter_user_login": "viewer1", "chatter_user_name": "Viewer1",
            "message_id": "abc-123",
            "message": {"text": "hello kitsu!", "fragments": [
                {"type": "text", "text": "hello kitsu!", "cheermote": None, "emote": None, "mention": None}]},
            "color": "#FF0000", "badges": [{"set_id": "subscriber", "id": "12", "info": "16"}],
            "message_type": "text", "cheer": None, "reply": None,
            "channel_points_custom_reward_id": None, "channel_points_animation_id": None,
            "source_broadcaster_user_id": None, "source_broadcaster_user_login": None,
            "source_broadcaster_user_name": None, "source_message_id": None, "source_badges": None,
            "is_source_only": None,
        },
    },
}


def chat_notification(text: str, login: str = "viewer1", user_id: str = "3003",
                      badges: tuple[str, ...] = ("subscriber",), message_id: str = "abc-123") -> dict[str, Any]:
    """The documented notification with another chatter, text and badges."""
    payload = copy.deepcopy(NOTIFICATION)
    event = payload["payload"]["event"]
    event.update({"chatter_user_id": user_id, "chatter_user_login": login, "chatter_user_name": login.title(),
                  "message_id": message_id,
                  "message": {"text": text, "fragments": [
                      {"type": "text", "text": text, "cheermote": None, "emote": None, "mention": None}]},
                  "badges": [{"set_id": b, "id": "1", "info": ""} for b in badges]})
    return payload
