"""Unit tests of the console's pure parts: text cleaning, chat parsing, event coalescing and the bridge."""

from __future__ import annotations

import asyncio

from rich.console import Console
from textual.message import Message

from kitsu_tui.engine.bus import EventBus
from kitsu_tui.engine.events import LlmToken, MicLevel, MouthUpdated, Notice, SystemStatsSampled
from kitsu_tui.tui.bridge import EngineBridge, EngineEvents, coalesce
from kitsu_tui.tui.screens.help import key_label
from kitsu_tui.tui.text import clean, plain
from kitsu_tui.tui.widgets.chat import parse_chat
from kitsu_tui.tui.widgets.status import meter

HOSTILE = "hi\x1b[2J\x1b[H\x1b]0;owned\x07\x1b]8;;http://x\x1b\\link\x1b]8;;\x1b\\ [bold red]x[/] \x9b31m\x07\x08end"


def test_clean_strips_escape_sequences_and_controls() -> None:
    """Clear-screen, cursor moves, OSC titles/hyperlinks, 8-bit CSI, BEL and BS all go; markup stays literal."""
    text = clean(HOSTILE)
    assert "\x1b" not in text and "\x9b" not in text and "\x07" not in text and "\x08" not in text
    assert text == "hilink [bold red]x[/] end"


def test_plain_text_renders_without_markup_or_escapes() -> None:
    """Rendering the cleaned Text on a real console emits the brackets literally and no ESC at all."""
    console = Console(color_system=None, force_terminal=False, width=80)
    with console.capture() as captured:
        console.print(plain(HOSTILE))
    assert captured.get().strip() == "hilink [bold red]x[/] end"


def test_parse_chat_commands() -> None:
    """Plain text, /say, /persona, /help, // escapes, and readable errors for the rest."""
    assert parse_chat("hello there") .kind == "text"
    assert parse_chat("/say Hi chat!") == parse_chat("/SAY   Hi chat!") and parse_chat("/say Hi chat!").arg == "Hi chat!"
    assert (parse_chat("/persona calm").kind, parse_chat("/persona calm").arg) == ("persona", "calm")
    assert parse_chat("/help").kind == "help"
    assert (parse_chat("//not a command").kind, parse_chat("//not a command").arg) == ("text", "/not a command")
    assert parse_chat("/say").kind == "error" and "/say needs text" in parse_chat("/say").arg
    assert "unknown command /x" in parse_chat("/x y").arg
    assert parse_chat("  \x1b[2J ").kind == "empty"


def test_coalesce_merges_tokens_and_keeps_newest_meters() -> None:
    """Tokens of one turn merge in order; only the last MicLevel/stats survive; mouth frames drop."""
    events = [LlmToken(turn_id=1, text="Hel"), MicLevel(rms=0.1), LlmToken(turn_id=1, text="lo"),
              MouthUpdated(value=0.3), Notice(level="info", message="n"), LlmToken(turn_id=1, text="!"),
              MicLevel(rms=0.4), SystemStatsSampled(cpu_percent=1, rss_mb=2), LlmToken(turn_id=2, text="x")]
    out = coalesce(events)
    assert [type(e).__name__ for e in out] == ["LlmToken", "Notice", "LlmToken", "LlmToken", "MicLevel",
                                               "SystemStatsSampled"]
    assert [e.text for e in out if isinstance(e, LlmToken)] == ["Hello", "!", "x"]
    assert [e.rms for e in out if isinstance(e, MicLevel)] == [0.4]


async def test_bridge_batches_a_token_flood_to_about_30_hz() -> None:
    """1000 tokens emitted over ~0.3 s reach the UI as a handful of batches with the text intact."""
    bus = EventBus()
    posted: list[Message] = []
    bridge = EngineBridge(bus, posted.append, rate_hz=30)
    bridge.start()
    for i in range(1000):
        bus.emit(LlmToken(turn_id=1, text=f"{i % 10}"))
        if i % 100 == 0:
            await asyncio.sleep(0.03)
    await asyncio.sleep(0.1)
    await bridge.stop()
    batches = [m for m in posted if isinstance(m, EngineEvents)]
    assert 2 <= len(batches) <= 20, len(batches)
    text = "".join(e.text for b in batches for e in b.events if isinstance(e, LlmToken))
    assert text == "".join(f"{i % 10}" for i in range(1000))
    assert bridge.events_in == 1000


def test_meter_and_key_labels() -> None:
    """The mic meter fills with level; key names read like a keyboard."""
    assert meter(0.0) == "········" and meter(1.0) == "████████"
    assert key_label("f12,ctrl+b") == "F12 / Ctrl+B"
