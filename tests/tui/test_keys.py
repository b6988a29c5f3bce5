"""Pilot tests: every key and chat command drives the engine, and the screen shows the engine's reaction."""

from __future__ import annotations

from collections.abc import Callable

from kitsu_tui.backends.fakes import FakeLlm, FakeTts
from kitsu_tui.config.settings import Settings
from kitsu_tui.engine.events import Event, ModuleState, PipelineState, PlaybackFinished, Source
from kitsu_tui.tui.app import KitsuApp
from kitsu_tui.tui.screens.confirm import ConfirmScreen
from kitsu_tui.tui.screens.help import HelpScreen
from kitsu_tui.tui.screens.persona import PersonaScreen
from kitsu_tui.tui.widgets.chat import ChatInput
from kitsu_tui.tui.widgets.status import StatusBar
from kitsu_tui.tui.widgets.toggles import ModuleToggles
from kitsu_tui.tui.widgets.tts_queue import TtsQueue

from .helpers import notifications, started, transcript, until

AppFactory = Callable[..., KitsuApp]
LONG_REPLY = "This is the very first long sentence here. And here comes the second sentence of it."


def slow_tts() -> FakeTts:
    """Each character lasts 60 ms, so a sentence plays for a few seconds of real time."""
    return FakeTts(ms_per_char=60.0)


async def test_typed_line_is_an_operator_turn(app_factory: AppFactory) -> None:
    """Plain text becomes submit_text(text, OPERATOR, 'operator') and the reply shows in the transcript."""
    app = app_factory(llm=FakeLlm(["Hi operator. Nice to see you."]))
    async with app.run_test(size=(100, 30)) as pilot:
        engine = await started(app, pilot)
        await pilot.press(*"hello kitsu", "enter")
        await until(pilot, lambda: engine.records, what="a completed turn")
        record = engine.records[-1]
        assert (record["origin"], record["author"], record["transcript"]) == ("operator", "operator", "hello kitsu")
        await until(pilot, lambda: "kitsu: Nice to see you." in transcript(app), what="the reply in the transcript")
        assert "operator: hello kitsu" in transcript(app)
        assert app.main.query_one(ChatInput).value == ""


async def test_panic_key_empties_queues_mutes_and_clearing_asks(app_factory: AppFactory) -> None:
    """F12 stops speech, drops waiting turns and mutes; pressing it again asks before clearing."""
    app = app_factory(llm=FakeLlm([LONG_REPLY] * 4), tts=slow_tts())
    async with app.run_test(size=(100, 30)) as pilot:
        engine = await started(app, pilot)
        for text in ("one", "two", "three"):
            assert engine.submit_text(text, Source.CHAT, "viewer")
        await until(pilot, lambda: engine.player.busy, what="playback")
        await pilot.press("f12")
        assert engine.panicked and engine.muted
        assert engine.queue.pending.empty()
        await until(pilot, lambda: engine.current is None and not engine.player.busy, what="speech to stop")
        assert engine.state == PipelineState.PANIC
        await until(pilot, lambda: app.main.query_one(StatusBar).state == "panic", what="status bar PANIC")
        assert any(n.startswith("PANIC") for n in notifications(app))
        # a typed turn is refused while panicked, with the reason on screen
        await pilot.press(*"still there?", "enter")
        await until(pilot, lambda: any(line.startswith("refused: still there?") for line in transcript(app)),
                    what="refused line")
        assert any("panic is engaged" in line for line in transcript(app))
        # clearing is deliberate: the second press asks, 'n' keeps panic
        await pilot.press("f12")
        assert isinstance(app.screen, ConfirmScreen)
        await pilot.press("n")
        assert engine.panicked
        await pilot.press("ctrl+b")  # the alternative panic key asks as well
        assert isinstance(app.screen, ConfirmScreen)
        await pilot.press("y")
        assert not engine.panicked
        assert engine.muted, "clearing panic leaves the mic muted"


async def test_mute_key_toggles_the_microphone(app_factory: AppFactory) -> None:
    """F2 mutes, F2 again unmutes; the pipeline state follows."""
    app = app_factory()
    async with app.run_test(size=(100, 30)) as pilot:
        engine = await started(app, pilot)
        await pilot.press("f2")
        assert engine.muted and engine.state == PipelineState.MUTED
        await until(pilot, lambda: app.main.query_one(StatusBar).state == "muted", what="status MUTED")
        await pilot.press("f2")
        assert not engine.muted and engine.state == PipelineState.LISTENING


async def test_skip_key_drops_the_playing_sentence(app_factory: AppFactory) -> None:
    """F3 cuts the sentence being played; the next sentence of the reply still plays."""
    app = app_factory(llm=FakeLlm([LONG_REPLY]), tts=slow_tts())
    played: list[tuple[int, bool]] = []
    async with app.run_test(size=(100, 30)) as pilot:
        engine = await started(app, pilot)

        def on_event(event: Event) -> None:
            if isinstance(event, PlaybackFinished):
                played.append((event.index, event.interrupted))

        engine.bus.add_listener(on_event)
        await pilot.press("f3")
        assert "nothing is playing" in notifications(app)
        engine.submit_text("talk", Source.CHAT, "viewer")
        # busy is true as soon as a sentence is queued; skip it only once its audio has started
        await until(pilot, lambda: engine.player.current is not None, what="playback to start")
        await pilot.press("f3")
        await until(pilot, lambda: played, what="the first sentence to end")
        assert played[0] == (0, True)
        await until(pilot, lambda: len(played) == 2, limit_s=15, what="the second sentence")
        assert played[1] == (1, False)
        rows = app.main.query_one(TtsQueue).rows
        await until(pilot, lambda: rows[0].status == "skipped", what="skipped row")
        assert any(line.startswith("action: skip") for line in transcript(app))


async def test_pause_key_holds_turns_until_resumed(app_factory: AppFactory) -> None:
    """F4 pauses: a typed turn waits; F4 again resumes and it runs."""
    app = app_factory(llm=FakeLlm(["Back again."]))
    async with app.run_test(size=(100, 30)) as pilot:
        engine = await started(app, pilot)
        await pilot.press("f4")
        assert engine.paused and engine.state == PipelineState.PAUSED
        await pilot.press(*"are you there", "enter")
        await pilot.pause(0.5)
        assert engine.records == [] and engine.current is None
        await pilot.press("f4")
        assert not engine.paused
        await until(pilot, lambda: engine.records, what="the held turn")
        assert engine.records[0]["spoken"] == "Back again."


async def test_llm_toggle_off_refuses_typed_turns(app_factory: AppFactory) -> None:
    """Enter on the llm row switches it off in the engine; typed turns are then refused with a message."""
    app = app_factory()
    async with app.run_test(size=(100, 30)) as pilot:
        engine = await started(app, pilot)
        toggles = app.main.query_one(ModuleToggles)
        toggles.focus()
        toggles.highlighted = toggles.names().index("llm")
        await pilot.press("enter")
        await until(pilot, lambda: engine.module_states["llm"][0] == ModuleState.OFF, what="llm off")
        await until(pilot, lambda: toggles.states["llm"][0] == "off", what="llm row off")
        await pilot.press("f6")
        assert isinstance(app.focused, ChatInput)
        await pilot.press(*"hello", "enter")
        await until(pilot, lambda: any("llm is off" in line for line in transcript(app)), what="refusal")
        assert any("turn refused: llm is off" in n for n in notifications(app))
        toggles.focus()
        await pilot.press("space")
        await until(pilot, lambda: engine.module_states["llm"][0] == ModuleState.ON, what="llm back on")


async def test_unset_module_row_explains_itself(app_factory: AppFactory) -> None:
    """Toggling a module that is not configured says how to enable it and changes nothing."""
    app = app_factory()
    async with app.run_test(size=(100, 30)) as pilot:
        engine = await started(app, pilot)
        toggles = app.main.query_one(ModuleToggles)
        toggles.focus()
        toggles.highlighted = toggles.names().index("obs")
        await pilot.press("enter")
        await until(pilot, lambda: any("obs is not set up" in n for n in notifications(app)), what="explanation")
        assert "obs" not in engine.module_states


class FailingModule:
    """A registered module whose start fails, like an OBS that is not running."""

    name = "obs"

    async def start(self, engine: object) -> None:
        """Fail to connect."""
        raise ConnectionRefusedError("connection refused on 127.0.0.1:4455")

    async def stop(self) -> None:
        """Nothing to stop."""


async def test_failing_module_shows_error_and_console_keeps_running(app_factory: AppFactory) -> None:
    """A module that fails shows error + reason in its row and a notification; turns still work."""
    app = app_factory(llm=FakeLlm(["Still here."]))
    async with app.run_test(size=(100, 30)) as pilot:
        engine = await started(app, pilot)
        engine.register_module(FailingModule())
        app._seed_states(engine)
        toggles = app.main.query_one(ModuleToggles)
        toggles.focus()
        toggles.highlighted = toggles.names().index("obs")
        await pilot.press("enter")
        await until(pilot, lambda: toggles.states.get("obs", ("",))[0] == "error", what="obs error row")
        assert "connection refused" in toggles.states["obs"][1]
        assert any("connection refused" in n for n in notifications(app))
        await pilot.press("f6", *"ok?", "enter")
        await until(pilot, lambda: engine.records, what="a turn after the failure")
        assert engine.records[0]["spoken"] == "Still here."


async def test_persona_key_picks_the_next_persona(app_factory: AppFactory) -> None:
    """F5 lists personas_dir; Enter switches to the highlighted (next) one."""
    app = app_factory()
    async with app.run_test(size=(100, 30)) as pilot:
        engine = await started(app, pilot)
        await pilot.press("f5")
        assert isinstance(app.screen, PersonaScreen)
        assert app.screen.names == ["calm", "kitsu"]
        await pilot.press("enter")
        await until(pilot, lambda: app.persona_file == "calm", what="persona switch")
        assert engine.persona.name == "Yuki"
        await until(pilot, lambda: app.main.query_one(StatusBar).persona == "Yuki", what="status persona")


async def test_persona_command_with_a_bad_name_keeps_the_old_persona(app_factory: AppFactory) -> None:
    """/persona NAME with a missing file shows the ConfigError and keeps the current persona."""
    app = app_factory()
    async with app.run_test(size=(100, 30)) as pilot:
        engine = await started(app, pilot)
        before = engine.persona
        await pilot.press(*"/persona nosuchone", "enter")
        await until(pilot, lambda: any("persona nosuchone not loaded" in n for n in notifications(app)),
                    what="error notification")
        assert engine.persona is before and app.persona_file == "kitsu"


async def test_say_command_speaks_verbatim(app_factory: AppFactory) -> None:
    """/say TEXT goes to engine.say (no LLM)."""
    llm = FakeLlm()
    app = app_factory(llm=llm)
    async with app.run_test(size=(100, 30)) as pilot:
        engine = await started(app, pilot)
        await pilot.press(*"/say Hello chat!", "enter")
        await until(pilot, lambda: engine.records, what="the say turn")
        assert (engine.records[0]["origin"], engine.records[0]["spoken"]) == ("say", "Hello chat!")
        assert llm.prompts == []
        await pilot.press(*"/dance", "enter")
        assert any("unknown command /dance" in n for n in notifications(app))


async def test_help_and_focus_keys(app_factory: AppFactory) -> None:
    """F1 opens the help listing the configured keys; Escape closes it; F6 puts the focus in the chat."""
    app = app_factory()
    async with app.run_test(size=(100, 30)) as pilot:
        await started(app, pilot)
        await pilot.press("f1")
        assert isinstance(app.screen, HelpScreen)
        await pilot.press("escape")
        assert not isinstance(app.screen, HelpScreen)
        app.main.query_one(ModuleToggles).focus()
        await pilot.press("f6")
        assert isinstance(app.focused, ChatInput)


async def test_quit_asks_while_speaking(app_factory: AppFactory) -> None:
    """Ctrl+Q mid-reply asks; 'n' keeps running, 'y' stops the engine and exits."""
    app = app_factory(llm=FakeLlm([LONG_REPLY]), tts=slow_tts())
    async with app.run_test(size=(100, 30)) as pilot:
        engine = await started(app, pilot)
        engine.submit_text("talk", Source.CHAT, "viewer")
        await until(pilot, lambda: engine.player.busy, what="playback")
        await pilot.press("ctrl+q")
        assert isinstance(app.screen, ConfirmScreen)
        await pilot.press("n")
        assert app.is_running and engine.player.busy
        await pilot.press("ctrl+q")
        await pilot.press("y")
        await until(pilot, lambda: not app.is_running, what="exit")
    assert engine.state == PipelineState.STOPPED
    assert app.return_value == 0


async def test_rebound_keys_from_settings(app_factory: AppFactory, settings: Settings) -> None:
    """[keys] in the config rebinds actions: here mute moves to ctrl+t and F2 does nothing."""
    app = app_factory(settings=settings.with_values({"keys.mute": "ctrl+t"}))
    async with app.run_test(size=(100, 30)) as pilot:
        engine = await started(app, pilot)
        await pilot.press("f2")
        assert not engine.muted
        await pilot.press("ctrl+t")
        assert engine.muted
