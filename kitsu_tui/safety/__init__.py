"""kitsu: safety: moderation of chat/voice input before the LLM and of reply sentences before TTS."""

from kitsu_tui.safety.moderator import Decision, Moderator

__all__ = ["Decision", "Moderator"]
