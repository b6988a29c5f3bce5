"""Tests for kitsu_tui.audio."""
